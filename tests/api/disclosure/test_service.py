"""Service-layer guarantees that need two sessions or odd analytics values (no server needed)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from sqlalchemy import select

from api.disclosure.assemble import figures_of
from api.disclosure.models import DisclosureEvent, DisclosureRecord
from api.disclosure.service import act, store_draft
from api.disclosure.workflow import Action, Actor, WorkflowRefusal
from registry.db import make_engine, make_sessionmaker, migrate
from tests.api.disclosure.factories import figures

WANG, LI, ZHAO = (Actor(1, "wang", "bureau_staff"), Actor(2, "li", "bureau_staff"), Actor(3, "zhao", "bureau_staff"))


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_two_reviewers_at_once_only_one_wins(sessions):
    with sessions() as s:
        rid = store_draft(session=s, figures=figures()).record_id
        act(session=s, record_id=rid, action=Action.submit, actor=WANG, min_coverage=0.9)
    first, second = sessions(), sessions()
    # Reviewer 2 has read the record while it is submitted (kept referenced, as a request would).
    seen = second.get(DisclosureRecord, rid)
    assert seen.state == "submitted"
    act(session=first, record_id=rid, action=Action.return_, actor=LI, text="check the gas meter", min_coverage=0.9)
    with pytest.raises(WorkflowRefusal) as err:
        act(session=second, record_id=rid, action=Action.approve, actor=ZHAO, min_coverage=0.9)
    assert (err.value.status, err.value.code) == (409, "stale_record")
    with sessions() as s:
        assert s.get(DisclosureRecord, rid).state == "returned"
        actions = s.scalars(select(DisclosureEvent.action).where(DisclosureEvent.record_id == rid)
                            .order_by(DisclosureEvent.id)).all()
    assert actions == ["generate", "submit", "return"]  # the losing approval left no trace
    first.close()
    second.close()


def test_regenerating_supersedes_open_versions_in_one_transaction(sessions):
    with sessions() as s:
        v1 = store_draft(session=s, figures=figures("510402A007", energy_tce=10.0))
        act(session=s, record_id=v1.record_id, action=Action.submit, actor=WANG, min_coverage=0.9)
        v2 = store_draft(session=s, figures=figures("510402A007", energy_tce=11.0))
        rows = s.scalars(select(DisclosureRecord).where(DisclosureRecord.building_code == "510402A007")
                         .order_by(DisclosureRecord.version)).all()
        assert [(r.version, r.state) for r in rows] == [(1, "superseded"), (2, "draft")]
        assert v2.version == 2
        with pytest.raises(WorkflowRefusal) as err:  # the superseded submission cannot be approved any more
            act(session=s, record_id=v1.record_id, action=Action.approve, actor=LI, min_coverage=0.9)
        assert err.value.code == "invalid_state"


def _row(**kw) -> pd.Series:
    base = dict(name="x", district="d", building_type="office", ownership="other", floor_area_m2=100.0,
                occupants=0, basis="equivalent_gbt2589", table_version="t", electricity_kwh=0.0,
                electricity_tce=0.0, energy_tce=0.0, eui_kgce_per_m2=0.0, eui_electricity_kwh_per_m2=0.0,
                energy_kgce_per_person=math.nan, guide_value=math.nan, constraint_value=math.nan,
                quota_status="no_quota", quota_source=math.nan, rank_in_type=math.nan, buildings_in_type=0,
                electrification_share=math.nan, renewable_substitution_rate=math.nan, pv_generation_kwh=0.0,
                ev_energy_kwh=0.0, carbon_tco2=0.0, grid_factor_kgco2_per_kwh=0.5366, grid_factor_source="CN 2022",
                audit_triggered=False, audit_triggered_by="none", previous_energy_tce=math.nan,
                yoy_energy_tce=math.nan, readings=0, expected_readings=0, coverage=math.nan)
    base.update(kw)
    return pd.Series(base)


def test_figures_of_a_building_without_data_stores_none_not_nan():
    f = figures_of(year=2025, building_code="510402A001", row=_row(), fuels=None,
                   monthly_kwh={s: (0.0,) * 12 for s in ("lighting_sockets", "hvac", "power", "special")})
    assert f.electrification_share is None and f.energy_kgce_per_person is None
    assert f.rank_in_type is None and f.buildings_in_type is None and f.quota_source is None
    assert f.pv is None and f.ev is None and f.yoy_energy_tce is None
    assert f.coverage == 0.0 and f.quota_status == "no_quota"
    assert [c.carrier for c in f.carriers] == ["electricity"]
