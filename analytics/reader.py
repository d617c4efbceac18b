"""Reads for the service layer: daily rollups (InfluxQL) and the registry, assembled into the
per-building balance frame that :func:`analytics.indicators.compute_indicators` takes.

Electricity accounting (docs/analytics.md): the ``main`` meter measures the building's load
downstream of its PV (as the simulator and a sub-item metering system see it) and EV piles are
separate loads. Grid import is the ``pv_meter``'s ``from_grid_kwh`` where a grid-point meter
exists; otherwise load + EV - PV (a PV system without grid meter counts as fully self-consumed,
up to the load).
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

from analytics.energy import FUEL_COLUMNS
from analytics.periods import DEFAULT_TZ, local_midnight
from ingest.influx import InfluxHTTP
from registry import repo
from registry.models import Building, ChargingPile, Meter, PvSystem

#: Expected interval readings per device and day (15-minute collection, MOHURD 2008). [1/d]
READINGS_PER_DAY = 96


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def _sum_query(measurement: str, fields: dict[str, str], start: dt.datetime, end: dt.datetime,
               group_by: str, resolution: str = "1d") -> str:
    sums = ", ".join(f'sum("{f}") AS "{alias}"' for alias, f in fields.items())
    # Literal identifiers and integer times only: nothing user-supplied reaches the statement.
    return (f'SELECT {sums} FROM "{measurement}_{resolution}" '  # noqa: S608
            f"WHERE time >= {_ms(start)}ms AND time < {_ms(end)}ms GROUP BY {group_by}")


def split_window(start: dt.datetime, end: dt.datetime, tz: str = DEFAULT_TZ
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


def _rows(influx: InfluxHTTP, q: str) -> list[dict]:
    out = []
    for s in influx.query(q):
        for row in s["values"]:
            rec = dict(zip(s["columns"], row, strict=True))
            rec.update({k: v for k, v in s["tags"].items()})
            out.append(rec)
    return out


def read_balance(*, influx: InfluxHTTP, start: dt.datetime, end: dt.datetime, tz: str = DEFAULT_TZ,
                 use_months: bool = True) -> pd.DataFrame:
    """Per-building sums of the monthly and daily rollups over ``[start, end)`` (UTC instants on
    local-day boundaries; :func:`split_window`). Columns as in :mod:`analytics.indicators`;
    buildings without any rollup point are absent (the service adds them from the registry with
    zero readings).

    ``influx``'s retention policy is where the rollups are read (unqualified names resolve there).
    """
    meter = {"kwh": "consumption_kwh", "m3": "consumption_m3", "kg": "consumption_kg", "n": "readings"}
    pv = {"gen": "generation_kwh", "to": "to_grid_kwh", "from": "from_grid_kwh", "n": "readings"}
    ev = {"e": "consumption_kwh", "n": "readings"}
    ses = {"e": "energy_kwh", "pv": "pv_energy_kwh", "n": "readings"}
    parts = split_window(start, end, tz) if use_months else [("1d", start, end)]
    queries = []
    for res, s, e in parts:
        queries += [_sum_query("meter", meter, s, e, "building_code, carrier, sub_item", res),
                    _sum_query("pv", pv, s, e, "building_code, device_kind", res),
                    _sum_query("ev_pile", ev, s, e, "building_code", res),
                    _sum_query("ev_session", ses, s, e, "building_code", res)]
    # Concurrent: InfluxDB runs each query on one core, and the HTTP client is thread-safe.
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda q: _rows(influx, q), queries))
    meter_rows, pv_rows, ev_rows, ses_rows = ([r for k in range(i, len(results), 4) for r in results[k]]
                                              for i in range(4))
    acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in meter_rows:
        b, carrier, sub = acc[r["building_code"]], r.get("carrier") or "", r.get("sub_item") or ""
        value = next((r[k] for k in ("kwh", "m3", "kg") if r.get(k) is not None), 0.0)
        b["readings"] += r.get("n") or 0
        if carrier == "electricity":
            b["main_meter_kwh" if sub in ("main", "") else f"{sub}_kwh"] += value
        elif carrier == "water":
            b["water_m3"] += value
        elif carrier in FUEL_COLUMNS:
            b[FUEL_COLUMNS[carrier]] += value
    for r in pv_rows:
        b, kind = acc[r["building_code"]], r.get("device_kind")
        b["readings"] += r.get("n") or 0
        b[f"_{kind}_gen"] += r.get("gen") or 0.0
        if kind == "pv_meter":
            b["_grid_meter"] = 1.0
            b["pv_to_grid_kwh"] += r.get("to") or 0.0
            b["_from_grid"] += r.get("from") or 0.0
    for r in ev_rows:
        acc[r["building_code"]]["ev_energy_kwh"] += r.get("e") or 0.0
        acc[r["building_code"]]["readings"] += r.get("n") or 0
    for r in ses_rows:
        b = acc[r["building_code"]]
        b["ev_session_energy_kwh"] += r.get("e") or 0.0
        b["ev_pv_energy_kwh"] += r.get("pv") or 0.0
        b["ev_sessions"] += r.get("n") or 0
    df = pd.DataFrame.from_dict({k: dict(v) for k, v in acc.items()}, orient="index").fillna(0.0)
    df.index.name = "building_code"
    return _grid_import(df)


def _grid_import(df: pd.DataFrame) -> pd.DataFrame:
    def col(name: str) -> pd.Series:
        return df[name] if name in df else pd.Series(0.0, index=df.index)

    subs = sum(col(f"{s}_kwh") for s in ("lighting_sockets", "hvac", "power", "special"))
    load = col("main_meter_kwh").where(col("main_meter_kwh") > 0, subs)
    # An inverter's generation is the measurement; a grid-point meter's is only a fallback.
    gen = col("_pv_inverter_gen").where(col("_pv_inverter_gen") > 0, col("_pv_meter_gen"))
    has_grid_meter = col("_grid_meter") > 0
    use = load + col("ev_energy_kwh")
    export_est = (gen - use).clip(lower=0.0)
    df["pv_generation_kwh"] = gen
    df["pv_to_grid_kwh"] = np.where(has_grid_meter, col("pv_to_grid_kwh"), export_est)
    df["electricity_from_grid_kwh"] = np.where(has_grid_meter, col("_from_grid"), (use - gen).clip(lower=0.0))
    return df.drop(columns=[c for c in df.columns if c.startswith("_")])


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
    rows = session.execute(select(*(getattr(Building, c) for c in cols)).where(*conds)
                           .order_by(Building.building_code)).all()
    attrs = pd.DataFrame(rows, columns=cols).set_index("building_code")
    devices: dict[str, list[dt.date]] = {c: [] for c in attrs.index}
    for code, installed in session.execute(select(Meter.building_code, Meter.installed_on).join(Building)
                                           .where(*conds)):
        devices[code].append(installed)
    for code, installed in session.execute(select(ChargingPile.building_code, ChargingPile.installed_on)
                                           .join(Building).where(*conds)):
        devices[code].append(installed)
    kwp: dict[str, float] = defaultdict(float)
    grid_seen: set[str] = set()
    for code, installed, cap, grid in session.execute(
            select(PvSystem.building_code, PvSystem.installed_on, PvSystem.capacity_kwp, PvSystem.has_grid_meter)
            .join(Building).where(*conds).order_by(PvSystem.id)):
        devices[code].append(installed)
        kwp[code] += cap
        if grid and code not in grid_seen:
            grid_seen.add(code)
            devices[code].append(installed)  # the simulator's grid meter shares the PV system's id
    attrs["has_pv"] = attrs.index.isin(list(kwp))
    attrs["pv_capacity_kwp"] = pd.Series(kwp, dtype=float).reindex(attrs.index).fillna(0.0)
    n_piles = pd.Series(dict(session.execute(
        select(ChargingPile.building_code, func.count()).join(Building).where(*conds)
        .group_by(ChargingPile.building_code)).all()), dtype=float)
    attrs["ev_piles"] = n_piles.reindex(attrs.index).fillna(0).astype(int)
    return attrs, devices


def expected_readings(devices: dict[str, list[dt.date]], start: dt.datetime, end: dt.datetime,
                      *, tz: str = DEFAULT_TZ) -> pd.Series:
    """Interval readings a complete record would hold in ``[start, end)``: for every device the
    local days after its installation day, times :data:`READINGS_PER_DAY`. Partial days (a window
    ending now) count by the hours elapsed."""
    from zoneinfo import ZoneInfo

    z = ZoneInfo(tz)
    out = {}
    for code, dates in devices.items():
        total = 0.0
        for d in dates:
            # Readings start after local midnight of the installation day (simulator and ingest agree).
            inst = dt.datetime.combine(d, dt.time(), z)
            s = max(start, inst)
            if end > s:
                total += (end - s).total_seconds() / 86400.0 * READINGS_PER_DAY
        out[code] = float(np.floor(total))
    return pd.Series(out, dtype=float)
