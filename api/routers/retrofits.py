"""Energy-saving retrofits of a building and the verification of their savings (IPMVP Option C).

Read by every role that may see the building (facility managers: their assigned buildings);
recorded by administrators. Savings: docs/baselines.md, analytics/savings.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from analytics.savings import savings_for_retrofit
from api.deps import AdminUser, BuildingCodeDep, SessionDep
from api.errors import not_found
from contract.localtime import TZ_NAME
from contract.vocabulary import Carrier
from registry import repo
from registry.retrofits import add_retrofit, get_retrofit, list_retrofits
from registry.weather import station_for

router = APIRouter(prefix="/buildings/{building_code}/retrofits", tags=["retrofits"])

RetrofitId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class RetrofitIn(BaseModel):
    completed_on: dt.date = Field(description="local day the works were completed; savings count from the next day")
    measures: str = Field(min_length=1, max_length=500, examples=["HVAC: variable-speed chillers, BMS schedules"])
    carrier: Carrier = Carrier.electricity
    expected_saving_share: float = Field(gt=0, lt=1, description="promised saving as a share of the baseline use")


class RetrofitOut(RetrofitIn):
    id: int
    building_code: str


class PeriodOut(BaseModel):
    start: str
    end: str
    days: int
    predicted: float
    measured: float
    avoided: float
    uncertainty: float = Field(description="standard uncertainty (68 %) of the avoided energy, carrier base unit")
    avoided_share: float


class SavingsOut(BaseModel):
    retrofit: RetrofitOut
    status: str = Field(description="ok, retrofit_in_future, no_baseline, no_reporting_data")
    detail: str
    guideline14: str
    expected_saving_share: float | None
    months: list[PeriodOut]
    to_date: PeriodOut | None
    baseline: dict


def _out(r) -> RetrofitOut:
    return RetrofitOut(id=r.id, building_code=r.building_code, completed_on=r.completed_on, measures=r.measures,
                       carrier=r.carrier, expected_saving_share=r.expected_saving_share)


def _existing(session, code: str) -> None:
    if repo.get_building(session=session, building_code=code) is None:
        raise not_found("building", code, "building_code")


@router.get("", response_model=list[RetrofitOut])
def list_building_retrofits(session: SessionDep, building_code: BuildingCodeDep) -> list[RetrofitOut]:
    _existing(session, building_code)
    return [_out(r) for r in list_retrofits(session=session, building_code=building_code)]


@router.post("", response_model=RetrofitOut, status_code=201)
def record_retrofit(session: SessionDep, _: AdminUser, building_code: BuildingCodeDep, body: RetrofitIn) -> RetrofitOut:
    _existing(session, building_code)
    r = add_retrofit(session=session, building_code=building_code, completed_on=body.completed_on,
                     measures=body.measures, carrier=body.carrier.value,
                     expected_saving_share=body.expected_saving_share)
    session.commit()
    return _out(r)


@router.get("/{retrofit_id}/savings", response_model=SavingsOut)
def retrofit_savings(request: Request, session: SessionDep, building_code: BuildingCodeDep, retrofit_id: RetrofitId,
                     as_of: Annotated[dt.date | None, Query(description="last local day counted (default: yesterday)")]
                     = None) -> SavingsOut:
    r = get_retrofit(session=session, building_code=building_code, retrofit_id=retrofit_id)
    if r is None:
        raise not_found("retrofit", retrofit_id, "retrofit_id")
    today = (as_of + dt.timedelta(days=1)) if as_of else dt.datetime.now(ZoneInfo(TZ_NAME)).date()
    rep = savings_for_retrofit(influx=request.app.state.influx, rollups=request.app.state.influx_rollups,
                               session=session, building_code=building_code, carrier=r.carrier,
                               retrofit_on=r.completed_on, today=today,
                               station=station_for(session=session, building_code=building_code),
                               expected_saving_share=r.expected_saving_share)
    d = rep.as_dict()
    return SavingsOut(retrofit=_out(r), status=d["status"], detail=d["detail"], guideline14=d["guideline14"],
                      expected_saving_share=d["expected_saving_share"], months=d["months"], to_date=d["to_date"],
                      baseline=d["baseline"])
