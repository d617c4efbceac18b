"""Indicators per building, district and city; the audit list; plan-target progress."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from analytics import service, snapshot
from analytics.balance_store import MAX_CODES_IN_SQL
from analytics.service import AuditRow
from api import indicators as ind
from api import params
from api.deps import BuildingCodeDep, CityWideUser, ScopeDep, SessionDep
from api.errors import APIError, not_found
from api.listing import CSV_RESPONSES, FilterDep, Page, PageDep, page_json, respond
from contract import localtime
from contract.localtime import TZ_NAME

router = APIRouter(tags=["indicators"])

Year = Annotated[params.Year | None, Query(description="calendar year (local time); default this year")]
BaselineYear = Annotated[params.Year | None, Query(description="year the per-m2 and per-person targets compare with")]
Basis = Annotated[Literal["equivalent_gbt2589", "equal_value"],
                  Query(description="electricity to tce: calorific equivalent (GB/T 2589) or equal-value")]
Region = Annotated[str | None, Query(pattern=r"^CN-[0-9]{2}$", description="province for equal_value, e.g. CN-51")]


def _year(year: int | None, now: dt.datetime | None = None) -> int:
    """The year asked, else this local year: the snapshot, the windows and the query's own
    description are local; the UTC year lags it from 00:00 to 08:00 on 1 January."""
    return year if year is not None else localtime.today(now).year


def _frames_error(e: ValueError) -> APIError:
    msg = str(e)
    field = "region" if "region" in msg else "basis" if "basis" in msg else "year"
    return APIError(422, "invalid_value", msg, field)


class DistrictRow(BaseModel):
    """A district's indicators, recomputed from the sums of the buildings that reported (columns:
    docs/analytics.md), with how many buildings and how much floor area that is."""

    model_config = ConfigDict(extra="allow")
    district: str
    buildings: int
    buildings_reporting: int
    floor_area_reporting_m2: float | None


class TargetRow(BaseModel):
    indicator: str
    year: int
    target: float
    comparison: str
    scope: str
    actual: float | None
    met: bool | None
    verdict: str
    gap: float | None
    coverage: float | None
    source: str


def _frames(request: Request, session, year: int, basis: str, region: str | None) -> ind.CityFrames:
    try:
        return ind.city_frames(request.app.state.indicator_cache, influx=request.app.state.influx_rollups,
                               session=session, year=year, basis=basis, region=region,
                               rollup=request.app.state.rollup_stamp.get())
    except ValueError as e:
        raise _frames_error(e) from None


def _frames_own_session(request: Request, year: int, basis: str, region: str | None) -> ind.CityFrames:
    with request.app.state.sessions() as session:
        return _frames(request, session, year, basis, region)


def _annual(request: Request, session, year: int, basis: str, region: str | None) -> pd.DataFrame:
    return _frames(request, session, year, basis, region).annual_df


@router.get("/buildings/{building_code}/indicators", response_model=service.BuildingIndicators)
async def building_indicators(request: Request, building_code: BuildingCodeDep, year: Year = None,
                              basis: Basis = "equivalent_gbt2589", region: Region = None):
    """Every indicator of one building for a year, with its audit windows and quota comparison."""
    # The hot path stays on the event loop; only building the city frames goes to a thread.
    year = _year(year)
    frames = request.app.state.indicator_cache.peek(ind.city_key(year=year, basis=basis, region=region,
                                                                 rollup=request.app.state.rollup_stamp.get()))
    if frames is None and region is None:
        body = _snapshot_building_on_loop(request, year, basis, building_code)
        if body is _UNREAD:
            body = await run_in_threadpool(_snapshot_building, request, year, basis, building_code)
        if body is not None:
            return Response(body, media_type="application/json")
    if frames is None:
        frames = await run_in_threadpool(_frames_own_session, request, year, basis, region)
    if building_code not in frames.annual_df.index:
        raise not_found("building", building_code, "building_code")
    body = frames.cached_body(("building", building_code))
    if body is None:  # first request for this building: render off the event loop
        body = await run_in_threadpool(frames.building_json, building_code)
    return Response(body, media_type="application/json")


def _snapshot_building(request: Request, year: int, basis: str, building_code: str,
                       engine: Engine | None = None) -> bytes | None:
    # A Core connection, not an ORM session: one primary-key read needs no unit of work.
    with (engine or request.app.state.engine).connect() as conn:
        return ind.snapshot_building_json(conn, year=year, basis=basis, building_code=building_code,
                                          stamp_ms=request.app.state.rollup_stamp.get())


_UNREAD = object()


def _snapshot_building_on_loop(request: Request, year: int, basis: str, building_code: str) -> bytes | None | object:
    """:func:`_snapshot_building` on the event loop where the registry is SQLite: a primary-key read
    in its write-ahead log costs tens of microseconds, less than the hop to a worker thread (1.6 x
    the requests per second at 50 clients, docs/benchmarks/api.md). ``_UNREAD`` when it may not
    run here (another database) or met a lock (its engine does not wait): read in a thread then."""
    engine = request.app.state.loop_reads
    if engine is None:
        return _UNREAD
    try:
        return _snapshot_building(request, year, basis, building_code, engine)
    except OperationalError:
        return _UNREAD


@router.get("/districts/indicators", response_model=Page[DistrictRow], responses=CSV_RESPONSES)
@router.get("/districts/indicators/export.csv", response_model=Page[DistrictRow], responses=CSV_RESPONSES,
            name="export_district_indicators")
def district_indicators(request: Request, session: SessionDep, _: CityWideUser, filt: FilterDep, page: PageDep,
                        year: Year = None, basis: Basis = "equivalent_gbt2589", region: Region = None):
    """Indicators per district; the filters select which buildings are summed."""
    year = _year(year)
    df = _filtered(_annual(request, session, year, basis, region), filt)
    if df.empty:
        return respond([], DistrictRow, page, "district-indicators")
    out = service.district_indicators(influx=request.app.state.influx_rollups, session=session, year=year, basis=basis,
                                      region=region, frame=df)
    rows = [DistrictRow(district=d, **service.clean({**r, "buildings": int(r["buildings"]),
                                                 "buildings_reporting": int(r["buildings_reporting"])}))
            for d, r in out.to_dict(orient="index").items()]
    return respond(rows, DistrictRow, page, "district-indicators")


def _filtered(df: pd.DataFrame, filt) -> pd.DataFrame:
    if filt.district is not None:
        df = df[df["district"] == filt.district]
    if filt.building_type is not None:
        df = df[df["building_type"] == filt.building_type.value]
    if filt.ownership is not None:
        df = df[df["ownership"] == filt.ownership.value]
    return df


@router.get("/city/indicators", response_model=service.CityIndicators)
def city_indicators(request: Request, session: SessionDep, _: CityWideUser, year: Year = None,
                    basis: Basis = "equivalent_gbt2589", region: Region = None,
                    baseline_year: BaselineYear = None):
    """City totals with plan-target progress (``baseline_year`` for the per-m2 and per-person targets)."""
    year = _year(year)
    df = _annual(request, session, year, basis, region)
    if df.empty:
        raise APIError(404, "not_found", "no buildings are registered", None)
    try:
        return service.city_indicators(influx=request.app.state.influx_rollups, session=session, year=year, basis=basis,
                                       region=region, baseline_year=baseline_year, frame=df)
    except ValueError as e:
        raise _frames_error(e) from None


@router.get("/targets", response_model=Page[TargetRow], responses=CSV_RESPONSES)
@router.get("/targets/export.csv", response_model=Page[TargetRow], responses=CSV_RESPONSES, name="export_targets")
def target_progress(request: Request, session: SessionDep, user: CityWideUser, page: PageDep,
                    year: Year = None, baseline_year: BaselineYear = None):
    """Progress of the city against every plan target, for a year."""
    city = city_indicators(request, session, user, year=year, basis="equivalent_gbt2589", region=None,
                           baseline_year=baseline_year)
    rows = [TargetRow(**service.clean(r)) for r in city.plan_progress]
    return respond(rows, TargetRow, page, "plan-targets")


@router.get("/audit", response_model=Page[AuditRow], responses=CSV_RESPONSES)
@router.get("/audit/export.csv", response_model=Page[AuditRow], responses=CSV_RESPONSES, name="export_audit")
async def audit_list(request: Request, scope: ScopeDep, filt: FilterDep, page: PageDep,
               year: Year = None, basis: Basis = "equivalent_gbt2589", region: Region = None,
               window: Annotated[Literal[service.WINDOWS] | None, Query()] = None,
               all_buildings: Annotated[bool, Query(description="include buildings below both thresholds")] = False):
    """Buildings meeting either audit test (1000 tce or 5 million kWh) in any window, largest
    energy excess first; facility managers see their own buildings only."""
    year = _year(year)
    frames = request.app.state.indicator_cache.peek(ind.city_key(year=year, basis=basis, region=region,
                                                                 rollup=request.app.state.rollup_stamp.get()))
    media = "text/csv; charset=utf-8" if page.format == "csv" else "application/json"
    headers = {"Content-Disposition": f'attachment; filename="audit-{year}.csv"'} if page.format == "csv" else None
    if frames is None and region is None and (scope is None or len(scope) <= MAX_CODES_IN_SQL):
        args = (request, scope, filt, page, year, basis, window, all_buildings)
        body = _snapshot_audit_on_loop(*args)
        if body is _UNREAD:
            body = await run_in_threadpool(_snapshot_audit, *args)
        if body is not None:
            return Response(body, media_type=media, headers=headers)
    if frames is None:
        frames = await run_in_threadpool(_frames_own_session, request, year, basis, region)
    key = ("audit", scope, filt.district, filt.building_type, filt.ownership, window, all_buildings, page.limit,
           page.offset, page.format)
    body = frames.cached_body(key)
    if body is None:
        body = await run_in_threadpool(frames.body, key, lambda: _audit_body(
            frames.audit_df, scope, filt, page, year, window, all_buildings))
    return Response(body, media_type=media, headers=headers)


def _audit_body(df: pd.DataFrame, scope, filt, page, year: int, window: str | None, all_buildings: bool) -> bytes:
    if not all_buildings:
        df = df[df["triggered"].astype(bool)]
    if window is not None:
        df = df[df["window"] == window]
    if scope is not None:
        df = df[df.index.isin(list(scope))]
    df = service.sort_audit_list(_filtered(df, filt))
    rows = [AuditRow(**service.clean(r)) for r in df.reset_index().to_dict(orient="records")]
    out = respond(rows, AuditRow, page, f"audit-{year}")
    return out.body if isinstance(out, Response) else out.model_dump_json().encode()


#: Deepest page read on the event loop: skipping rows in an index range costs about 0.1 us each.
MAX_OFFSET_ON_LOOP = 10_000


def _snapshot_audit(request: Request, scope, filt, page, year: int, basis: str, window: str | None,
                    all_buildings: bool, engine: Engine | None = None, on_loop: bool = False) -> bytes | None | object:
    """:func:`_audit_body` from the rollup job's snapshot, filtered, sorted and paged in SQL; None
    when there is no usable snapshot (tests/api/test_snapshot.py compares the two bodies).
    ``on_loop``: ``_UNREAD`` for what could take long (a CSV of the whole list, a deep page, a
    total not yet counted for this snapshot), which the caller then reads in a worker thread."""
    csv = page.format == "csv"
    if on_loop and (csv or page.offset > MAX_OFFSET_ON_LOOP):
        return _UNREAD
    query = snapshot.AuditQuery(
        year=year, basis=basis, triggered_only=not all_buildings, window=window, district=filt.district,
        building_type=None if filt.building_type is None else filt.building_type.value,
        ownership=None if filt.ownership is None else filt.ownership.value,
        codes=None if scope is None else tuple(sorted(scope)))
    totals = request.app.state.audit_totals
    with (engine or request.app.state.engine).connect() as conn:  # Core: reads only, no unit of work
        stamp = snapshot.read_stamp(conn, year=year, basis=basis)
        if stamp is None or not snapshot.usable(*stamp, today=ind._today(TZ_NAME),
                                                stamp_ms=request.app.state.rollup_stamp.get()):
            return None
        if csv:  # the whole filtered list, as respond() writes it
            rows = snapshot.read_audit(conn, query, limit=None, offset=0)
            return respond([AuditRow.model_validate_json(r) for r in rows], AuditRow, page, f"audit-{year}").body
        total = totals.get(stamp, query)
        if total is None:
            if on_loop:
                return _UNREAD
            total = totals.put(stamp, query, snapshot.count_audit(conn, query))
        rows = snapshot.read_audit(conn, query, limit=page.limit, offset=page.offset)
    return page_json(rows, total=total, params=page)


def _snapshot_audit_on_loop(*args) -> bytes | None | object:
    """:func:`_snapshot_audit` on the event loop where the registry is SQLite (as for one building,
    :func:`_snapshot_building_on_loop`); ``_UNREAD`` when it must go to a worker thread."""
    engine = args[0].app.state.loop_reads
    if engine is None:
        return _UNREAD
    try:
        return _snapshot_audit(*args, engine=engine, on_loop=True)
    except OperationalError:
        return _UNREAD
