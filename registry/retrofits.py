"""Retrofit records (keyword-only, the caller commits, as registry/repo.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from contract.vocabulary import Carrier
from registry.models import Retrofit


def add_retrofit(*, session: Session, building_code: str, completed_on: dt.date, measures: str,
                 expected_saving_share: float, carrier: str = Carrier.electricity.value) -> Retrofit:
    if not 0 < expected_saving_share < 1:
        raise ValueError(f"expected_saving_share {expected_saving_share} is not a share in (0, 1)")
    Carrier(carrier)  # ValueError names an unknown carrier
    row = Retrofit(building_code=building_code, completed_on=completed_on, measures=measures, carrier=carrier,
                   expected_saving_share=expected_saving_share)
    session.add(row)
    session.flush()
    return row


def list_retrofits(*, session: Session, building_code: str) -> list[Retrofit]:
    return list(session.scalars(select(Retrofit).where(Retrofit.building_code == building_code)
                                .order_by(Retrofit.completed_on, Retrofit.id)))


def get_retrofit(*, session: Session, building_code: str, retrofit_id: int) -> Retrofit | None:
    return session.scalars(select(Retrofit).where(Retrofit.id == retrofit_id,
                                                  Retrofit.building_code == building_code)).first()
