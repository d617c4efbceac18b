"""Reads for the service layer: daily rollups (InfluxQL) and the registry, assembled into the
per-building balance frame that :func:`analytics.indicators.compute_indicators` takes.

The balance is computed once, by the rollup job (:mod:`analytics.balance`); this module reads it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics import balance_store
from analytics.balance import BALANCE_FIELDS, balance_frame
from analytics.rollup import BALANCE_MEASUREMENT, read_balance_points
from contract.localtime import TZ_NAME, local_midnight
from registry import repo
from registry.models import Building, ChargingPile, Meter, PvSystem
from storage.influx import InfluxHTTP
from storage.utc import epoch_ms

#: Expected interval readings per device and day (15-minute collection, MOHURD 2008). [1/d]
READINGS_PER_DAY = 96


#: Up to this many buildings are selected by tag in the query; more read the whole city.
MAX_CODES_IN_QUERY = 50


def split_window(start: dt.datetime, end: dt.datetime, tz: str = TZ_NAME
                 ) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """Cover ``[start, end)`` with whole local months from the ``_1mo`` rollups and the days at
    either edge from ``_1d``: (resolution, start, end) parts. A window that is not on local-day
    boundaries is an error (the rollups cannot split a day)."""
    z = ZoneInfo(tz)
    ls, le = start.astimezone(z), end.astimezone(z)
    for t in (ls, le):
        if (t.hour, t.minute, t.second, t.microsecond) != (0, 0, 0, 0):
            raise ValueError(f"window bound {t.isoformat()} is not a local midnight in {tz}")
    d0, d1 = ls.date(), le.date()
    m0 = d0 if d0.day == 1 else (d0.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    m1 = d1.replace(day=1)
    if m0 >= m1:
        return [("1d", start, end)] if d1 > d0 else []
    parts = [("1mo", local_midnight(m0, tz), local_midnight(m1, tz))]
    if d0 < m0:
        parts.insert(0, ("1d", start, local_midnight(m0, tz)))
    if m1 < d1:
        parts.append(("1d", local_midnight(m1, tz), end))
    return parts


def read_balance(*, influx: InfluxHTTP, start: dt.datetime, end: dt.datetime, tz: str = TZ_NAME,
                 use_months: bool = True, codes: list[str] | None = None,
                 fields: tuple[str, ...] = BALANCE_FIELDS, session: Session | None = None) -> pd.DataFrame:
    """Per-building energy balance (:mod:`analytics.balance`, written by the rollup job) over
    ``[start, end)`` (UTC instants on local-day boundaries): whole months from ``building_1mo``,
    edge days from ``building_1d`` (:func:`split_window`). Columns: ``fields`` (default every
    balance field; fewer read faster, see :func:`analytics.rollup.read_balance_points`);
    buildings without any balance point are absent (the service adds them from the registry with
    zero readings). ``codes`` (at most :data:`MAX_CODES_IN_QUERY`) restricts the read to those
    buildings, so one building's page does not read the whole city.

    ``influx``'s retention policy is where the rollups are read (unqualified names resolve there).
    With ``session``, the whole months come from the SQL table the same month step writes
    (:mod:`analytics.balance_store`; a whole year is one row per building), and each month the
    table does not hold from ``building_1mo``.
    """
    if codes is not None and len(codes) > MAX_CODES_IN_QUERY:
        raise ValueError(f"{len(codes)} codes; select at most {MAX_CODES_IN_QUERY} by tag, else read all")
    if codes is not None and not codes:
        return balance_frame({})[list(fields)]
    parts = split_window(start, end, tz) if use_months else [("1d", start, end)]
    z = ZoneInfo(tz)

    def influx_part(res: str, p_start: dt.datetime, p_end: dt.datetime) -> pd.DataFrame:
        return read_balance_points(influx, f"{BALANCE_MEASUREMENT}_{res}", epoch_ms(p_start), epoch_ms(p_end),
                                   codes, fields)

    def read(part: tuple[str, dt.datetime, dt.datetime]) -> list[pd.DataFrame]:
        res, p_start, p_end = part
        if res != "1mo" or session is None:
            return [influx_part(res, p_start, p_end)]
        months = balance_store.month_starts(p_start.astimezone(z).date(), p_end.astimezone(z).date())
        stored = balance_store.stored_months(session, months)
        out = [balance_store.read_months(session, stored, codes=codes, fields=fields)] if stored else []
        # Months not in the table (rolled up before it existed, or not yet): from building_1mo, so
        # a window is never silently shorter than asked.
        for m0, m1 in _runs([m for m in months if m not in stored]):
            nxt = (m1 + dt.timedelta(days=32)).replace(day=1)
            out.append(influx_part("1mo", local_midnight(m0, tz), local_midnight(nxt, tz)))
        return out

    if len(parts) == 1:
        frames = read(parts[0])
    else:
        # Concurrent: InfluxDB runs each query on one core, and the HTTP client is thread-safe. The
        # SQL session is not, so at most one part (the months) uses it.
        with ThreadPoolExecutor(3) as pool:
            frames = [f for fs in pool.map(read, parts) for f in fs]
    if not frames:
        return balance_frame({})[list(fields)]
    total = pd.concat(frames).groupby(level=0).sum()
    total.index.name = "building_code"
    return total.reindex(columns=list(fields)).fillna(0.0)


def _runs(months: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive months as (first month, last month) runs."""
    runs: list[tuple[dt.date, dt.date]] = []
    for m in months:
        if runs and (runs[-1][1] + dt.timedelta(days=32)).replace(day=1) == m:
            runs[-1] = (runs[-1][0], m)
        else:
            runs.append((m, m))
    return runs


def registry_frame(*, session: Session, district: str | None = None, building_type: str | None = None,
                   codes: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, list[dt.date]]]:
    """Building attributes (index ``building_code``) and, per building, the installation dates of
    the devices whose interval readings the rollups count (meters, PV inverters and grid meters,
    EV piles). Plain column selects, no ORM objects: 10,000 buildings load in well under a second."""
    conds = []
    if district is not None:
        conds.append(Building.district == district)
    if building_type is not None:
        conds.append(Building.building_type == repo._type_value(building_type))
    if codes is not None:
        conds.append(Building.building_code.in_(list(codes)))
    cols = ["building_code", "name", "building_type", "district", "ownership", "climate_zone", "floor_area_m2",
            "occupants", "year_built"]
    # Core, not ORM execution: the ORM's row loading was a third of the read at 100,000 buildings
    # and 330,000 devices (cProfile), for plain column rows it adds nothing.
    conn = session.connection()
    rows = conn.execute(select(*(getattr(Building, c) for c in cols)).where(*conds)
                        .order_by(Building.building_code)).all()
    # Plain tuples: pandas probes each SQLAlchemy Row for attributes, and every miss raises inside
    # SQLAlchemy (2.1 of 4.2 s per call at 30,000 buildings, cProfile).
    attrs = pd.DataFrame([tuple(r) for r in rows], columns=cols).set_index("building_code")
    devices: dict[str, list[dt.date]] = {c: [] for c in attrs.index}
    # .all(): one fetchall, where iterating the result fetches row by row.
    for code, installed in conn.execute(_of_buildings(select(Meter.building_code, Meter.installed_on), conds)).all():
        devices[code].append(installed)
    for code, installed in conn.execute(_of_buildings(select(ChargingPile.building_code, ChargingPile.installed_on),
                                                      conds)).all():
        devices[code].append(installed)
    kwp: dict[str, float] = defaultdict(float)
    grid_seen: set[str] = set()
    for code, installed, cap, grid in conn.execute(_of_buildings(
            select(PvSystem.building_code, PvSystem.installed_on, PvSystem.capacity_kwp, PvSystem.has_grid_meter),
            conds).order_by(PvSystem.id)).all():
        devices[code].append(installed)
        kwp[code] += cap
        if grid and code not in grid_seen:
            grid_seen.add(code)
            devices[code].append(installed)  # the simulator's grid meter shares the PV system's id
    attrs["has_pv"] = attrs.index.isin(list(kwp))
    attrs["pv_capacity_kwp"] = pd.Series(kwp, dtype=float).reindex(attrs.index).fillna(0.0)
    n_piles = pd.Series(dict(conn.execute(
        _of_buildings(select(ChargingPile.building_code, func.count()), conds)
        .group_by(ChargingPile.building_code)).all()), dtype=float)
    attrs["ev_piles"] = n_piles.reindex(attrs.index).fillna(0).astype(int)
    return attrs, devices


def _of_buildings(query, conds: list):
    """Devices of the buildings ``conds`` select; every device when there are none (the join
    would only cost time: a device's building is a foreign key)."""
    return query.join(Building).where(*conds) if conds else query


def expected_readings(devices: dict[str, list[dt.date]], start: dt.datetime, end: dt.datetime,
                      *, tz: str = TZ_NAME) -> pd.Series:
    """Interval readings a complete record would hold in ``[start, end)``: for every device the
    local days after its installation day, times :data:`READINGS_PER_DAY`. Partial days (a window
    ending now) count by the hours elapsed."""
    from zoneinfo import ZoneInfo

    z = ZoneInfo(tz)
    per_date: dict[dt.date, float] = {}  # a fleet has few installation dates and many devices

    def readings(d: dt.date) -> float:
        if d not in per_date:
            # Readings start after local midnight of the installation day (simulator and ingest agree).
            s = max(start, dt.datetime.combine(d, dt.time(), z))
            per_date[d] = (end - s).total_seconds() / 86400.0 * READINGS_PER_DAY if end > s else 0.0
        return per_date[d]

    out = {}
    for code, dates in devices.items():
        total = 0.0
        for d in dates:  # summed in device order, as before: the floor sees the same float
            total += readings(d)
        out[code] = float(np.floor(total))
    return pd.Series(out, dtype=float)
