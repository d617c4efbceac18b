"""The city's indicator and audit frames, computed once by the rollup job and stored in SQL rows,
so one building's page reads that building's rows instead of building the whole city's frames.

Why: without the API's in-process frame cache, each request for one building's indicators built
every building's frames (p95 about 1 s at 1,000 buildings, growing with the city,
docs/benchmarks/api.md). The frames change only when the rollups do, so the rollup job computes
them at the end of each run (:func:`refresh`, the same :func:`city_frames` the API's cache uses)
and stores them here; the API serves a building by primary key and the audit list by an indexed
query (api/indicators.py, api/routers/indicators.py).

One definition: the rows hold what ``analytics.service.annual_frame`` and ``audit_frame``
computed, serialized as JSON; nothing is recomputed in SQL. A building's row is its page's finished
body (``analytics.service.building_result``), so serving it is one primary-key read. The audit table also carries, as
columns, the values the audit list filters and sorts on (``triggered``, ``window``,
``energy_excess_tce``, ``district``, ``building_type``, ``ownership``), the row's place in the
frame (``position``, a building's page lists its windows in that order) and in the whole audit
list as ``analytics.service.sort_audit_list`` orders it (``list_order``: that sort is stable, so
any filtered list is in this order too, and a page is an index range instead of a sort).

Freshness: a snapshot holds the local day it was computed on (``as_of_day``) and the rollup
stamp the run is about to write (:func:`analytics.rollup.write_completion`); the API uses it
only on that day and only if no later rollup has completed since, else it builds the frames
itself as before. A (year, basis) snapshot is replaced in one transaction: a reader sees the old
one or the new one, never half.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Session

from analytics import service
from analytics.balance_store import executemany_rows, metadata
from analytics.reader import registry_frame
from analytics.tables import DEFAULT_BASIS
from contract.localtime import TZ_NAME
from storage.influx import InfluxHTTP

log = logging.getLogger(__name__)

#: One row per building: its finished ``/buildings/{code}/indicators`` body
#: (:func:`analytics.service.building_result` of its annual and audit rows), as of ``as_of_day`` (local).
snapshot_building = Table(
    "indicator_snapshot_building", metadata,
    Column("year", Integer, primary_key=True), Column("basis", String(32), primary_key=True),
    Column("building_code", String(32), primary_key=True),
    Column("as_of_day", Date, nullable=False), Column("rollup_ms", BigInteger, nullable=False),
    Column("body_json", Text, nullable=False))
#: One row per building and audit window: its ``audit_frame`` row as the list serves it (finished
#: ``AuditRow`` JSON), and the columns the list filters and sorts on.
snapshot_audit = Table(
    "indicator_snapshot_audit", metadata,
    Column("year", Integer, primary_key=True), Column("basis", String(32), primary_key=True),
    Column("building_code", String(32), primary_key=True), Column("window", String(32), primary_key=True),
    Column("position", Integer, nullable=False), Column("triggered", Boolean, nullable=False),
    Column("energy_excess_tce", Float, nullable=True), Column("district", String(100), nullable=False),
    Column("building_type", String(20), nullable=False), Column("ownership", String(40), nullable=False),
    Column("list_order", Integer, nullable=False), Column("row_json", Text, nullable=False),
    # The audit list's queries read a page in index order and stop: triggered rows, or all rows.
    Index("ix_indicator_snapshot_audit_list", "year", "basis", "triggered", "list_order"),
    Index("ix_indicator_snapshot_audit_all", "year", "basis", "list_order"))


def city_frames(*, influx: InfluxHTTP, session: Session, year: int, basis: str,
                region: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``analytics.service.annual_frame`` and ``audit_frame`` of every building, the registry read
    once for both and the audit taking the annual frame's year windows (seconds each at province
    scale, docs/benchmarks/analytics.md)."""
    registry = registry_frame(session=session)
    windows: service.WindowFrames = {}
    annual_df = service.annual_frame(influx=influx, session=session, year=year, basis=basis, region=region,
                                     registry=registry, window_frames=windows)
    audit_df = service.audit_frame(influx=influx, session=session, year=year, basis=basis, region=region,
                                   registry=registry, window_frames=windows)
    return annual_df, audit_df


def write(engine: Engine, annual_df: pd.DataFrame, audit_df: pd.DataFrame, *, year: int, basis: str,
          as_of_day: dt.date, rollup_ms: int) -> tuple[int, int]:
    """Replace the (year, basis) snapshot with these frames; returns (buildings, audit rows)."""
    day = Date().bind_processor(engine.dialect)
    day_value = day(as_of_day) if day else as_of_day
    flat = audit_df.reset_index()  # index: the row's position in the frame
    list_order = pd.Series(range(len(flat)), index=service.sort_audit_list(flat).index).sort_index().tolist()
    records = [service.clean(r) for r in flat.to_dict(orient="records")]
    by_building: dict[str, list[dict]] = {}
    for r in records:  # frame order: a building's page lists its windows in it
        by_building.setdefault(str(r["building_code"]), []).append(r)
    # The finished body, so that a request is one primary-key read and no JSON work (about 50 us
    # per building here, once per rollup, instead of about 1 ms per request).
    buildings = [(year, basis, str(code), day_value, rollup_ms,
                  service.building_result(r, by_building.get(str(code), []), building_code=str(code),
                                          year=year).model_dump_json())
                 for code, r in zip(annual_df.index, annual_df.to_dict(orient="records"), strict=True)]
    # The audit list's own test of a triggered row (api/routers/indicators.py _audit_body).
    triggered = audit_df["triggered"].astype(bool).tolist()
    audits = []
    for i, (r, trig, order) in enumerate(zip(records, triggered, list_order, strict=True)):
        excess = r["energy_excess_tce"]
        audits.append((year, basis, str(r["building_code"]), r["window"], i, bool(trig),
                       None if excess is None else float(excess),
                       r["district"], r["building_type"], r["ownership"], order,
                       service.AuditRow(**r).model_dump_json()))
    with engine.begin() as c:  # one transaction: a reader sees the old snapshot or the new one
        for table in (snapshot_building, snapshot_audit):
            c.execute(delete(table).where(table.c.year == year, table.c.basis == basis))
        executemany_rows(c, snapshot_building, buildings)
        executemany_rows(c, snapshot_audit, audits)
    return len(buildings), len(audits)


@dataclass(frozen=True)
class RefreshStats:
    year: int
    buildings: int
    audit_rows: int
    frames_s: float
    write_s: float


def refresh(engine: Engine, influx: InfluxHTTP, *, rollup_ms: int, basis: str = DEFAULT_BASIS,
            tz: str = TZ_NAME, now: dt.datetime | None = None, year: int | None = None) -> RefreshStats:
    """Compute the city frames for ``year`` (default: the current local year) with the API's
    defaults (``basis``, no region) and store them as the snapshot of ``rollup_ms``."""
    today = (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(tz)).date()
    year = today.year if year is None else year
    t0 = time.perf_counter()
    with Session(engine) as session:
        annual_df, audit_df = city_frames(influx=influx, session=session, year=year, basis=basis, region=None)
    t1 = time.perf_counter()
    log.info("indicator snapshot %d: frames of %d buildings in %.1f s; writing", year, len(annual_df), t1 - t0)
    n_b, n_a = write(engine, annual_df, audit_df, year=year, basis=basis, as_of_day=today, rollup_ms=rollup_ms)
    t2 = time.perf_counter()
    log.info("indicator snapshot %d: %d buildings and %d audit rows written in %.1f s", year, n_b, n_a, t2 - t1)
    return RefreshStats(year, n_b, n_a, t1 - t0, t2 - t1)


# --------------------------------------------------------------------------- readers (the API's)
def usable(as_of_day: dt.date, rollup_ms: int, *, today: dt.date, stamp_ms: int | None) -> bool:
    """A snapshot serves requests on the day it was computed, until a later rollup completes
    (``stamp_ms``: :func:`analytics.rollup.read_completion`) without writing a newer one."""
    return as_of_day == today and (stamp_ms is None or rollup_ms >= stamp_ms)


# Built once: constructing the statement per request cost a sixth of a request (docs/benchmarks/api.md).
_BUILDING_READ = (select(snapshot_building.c.as_of_day, snapshot_building.c.rollup_ms, snapshot_building.c.body_json)
                  .where(snapshot_building.c.year == bindparam("year"), snapshot_building.c.basis == bindparam("basis"),
                         snapshot_building.c.building_code == bindparam("building_code")))


def read_building(conn: Session | Connection, *, year: int, basis: str,
                  building_code: str) -> tuple[dt.date, int, bytes] | None:
    """(as_of_day, rollup_ms, the finished body) of one building, or None."""
    hit = conn.execute(_BUILDING_READ, {"year": year, "basis": basis, "building_code": building_code}).first()
    return None if hit is None else (hit.as_of_day, hit.rollup_ms, hit.body_json.encode())


_STAMP_READ = (select(snapshot_building.c.as_of_day, snapshot_building.c.rollup_ms)
               .where(snapshot_building.c.year == bindparam("year"), snapshot_building.c.basis == bindparam("basis"))
               .limit(1))


def read_stamp(conn: Session | Connection, *, year: int, basis: str) -> tuple[dt.date, int] | None:
    """(as_of_day, rollup_ms) of the (year, basis) snapshot, or None (no snapshot, or no buildings)."""
    hit = conn.execute(_STAMP_READ, {"year": year, "basis": basis}).first()
    return None if hit is None else (hit.as_of_day, hit.rollup_ms)


#: The audit list's filters on equal values, by parameter name (each is also the column's name).
_AUDIT_FILTERS = ("window", "district", "building_type", "ownership")


@functools.lru_cache(maxsize=128)
def _audit_reads(triggered_only: bool, filters: tuple[str, ...], with_codes: bool, limited: bool):
    """(count, page) statements of one shape of audit-list query, built once: a statement built
    per request cost the audit list more than its SQL did (docs/benchmarks/api.md)."""
    a = snapshot_audit.c
    where = [a.year == bindparam("year"), a.basis == bindparam("basis")]
    if triggered_only:
        where.append(a.triggered == True)  # noqa: E712 - "= 1" uses the index, "IS 1" does not
    where += [a[name] == bindparam(name) for name in filters]
    if with_codes:
        where.append(a.building_code.in_(bindparam("codes", expanding=True)))
    cond = and_(*where)
    page = select(a.row_json).where(cond).order_by(a.list_order).offset(bindparam("offset"))
    return (select(func.count()).select_from(snapshot_audit).where(cond),
            page.limit(bindparam("limit")) if limited else page)


@dataclass(frozen=True)
class AuditQuery:
    """One audit-list query of the snapshot: its filters (None: any), in SQL."""

    year: int
    basis: str
    triggered_only: bool
    window: str | None = None
    district: str | None = None
    building_type: str | None = None
    ownership: str | None = None
    codes: tuple[str, ...] | None = None  # a facility manager's buildings, sorted

    def _statements(self, limited: bool):
        present = tuple(name for name in _AUDIT_FILTERS if getattr(self, name) is not None)
        params = {"year": self.year, "basis": self.basis, **{name: getattr(self, name) for name in present}}
        if self.codes is not None:
            params["codes"] = list(self.codes)
        return _audit_reads(self.triggered_only, present, self.codes is not None, limited), params


def count_audit(conn: Session | Connection, query: AuditQuery) -> int:
    """How many rows ``query`` matches: the list's ``total``. It walks every matching index entry
    (8.5 ms for the 112,000 triggered rows of 100,000 buildings), so the API keeps it per snapshot."""
    (count, _), params = query._statements(limited=False)
    return conn.execute(count, params).scalar_one()


def read_audit(conn: Session | Connection, query: AuditQuery, *, limit: int | None, offset: int) -> list[str]:
    """The rows ``query`` matches as finished ``AuditRow`` JSON, in ``list_order``
    (:func:`analytics.service.sort_audit_list`'s order), from ``offset``: an index range."""
    (_, page), params = query._statements(limited=limit is not None)
    params["offset"] = offset
    if limit is not None:
        params["limit"] = limit
    return list(conn.execute(page, params).scalars())
