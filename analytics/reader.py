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

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from analytics.energy import FUEL_COLUMNS
from analytics.periods import DEFAULT_TZ
from ingest.influx import InfluxHTTP
from registry import repo

#: Expected interval readings per device and day (15-minute collection, MOHURD 2008). [1/d]
READINGS_PER_DAY = 96


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def _sum_query(measurement: str, fields: dict[str, str], start: dt.datetime, end: dt.datetime,
               group_by: str) -> str:
    sums = ", ".join(f'sum("{f}") AS "{alias}"' for alias, f in fields.items())
    # Literal identifiers and integer times only: nothing user-supplied reaches the statement.
    return (f'SELECT {sums} FROM "{measurement}_1d" '  # noqa: S608
            f"WHERE time >= {_ms(start)}ms AND time < {_ms(end)}ms GROUP BY {group_by}")


def _rows(influx: InfluxHTTP, q: str) -> list[dict]:
    out = []
    for s in influx.query(q):
        for row in s["values"]:
            rec = dict(zip(s["columns"], row, strict=True))
            rec.update({k: v for k, v in s["tags"].items()})
            out.append(rec)
    return out


def read_balance(*, influx: InfluxHTTP, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Per-building sums of the daily rollups over ``[start, end)`` (UTC instants on local-day
    boundaries). Columns as in :mod:`analytics.indicators`; buildings without any rollup point
    are absent (the service adds them from the registry with zero readings).

    ``influx``'s retention policy is where the rollups are read (unqualified names resolve there).
    """
    meter = {"kwh": "consumption_kwh", "m3": "consumption_m3", "kg": "consumption_kg", "n": "readings"}
    pv = {"gen": "generation_kwh", "to": "to_grid_kwh", "from": "from_grid_kwh", "n": "readings"}
    ev = {"e": "consumption_kwh", "n": "readings"}
    ses = {"e": "energy_kwh", "pv": "pv_energy_kwh", "n": "readings"}
    queries = [_sum_query("meter", meter, start, end, "building_code, carrier, sub_item"),
               _sum_query("pv", pv, start, end, "building_code, device_kind"),
               _sum_query("ev_pile", ev, start, end, "building_code"),
               _sum_query("ev_session", ses, start, end, "building_code")]
    # Concurrent: InfluxDB runs each query on one core, and the HTTP client is thread-safe.
    with ThreadPoolExecutor(len(queries)) as pool:
        meter_rows, pv_rows, ev_rows, ses_rows = pool.map(lambda q: _rows(influx, q), queries)
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
    EV piles)."""
    rows, devices = [], {}
    for b in repo.list_buildings(session=session, district=district, building_type=building_type, codes=codes):
        dates = [m.installed_on for m in b.meters]
        for p in b.pv_systems:
            dates.append(p.installed_on)
        grid = next((p for p in b.pv_systems if p.has_grid_meter), None)
        if grid is not None:
            dates.append(grid.installed_on)  # the simulator's grid meter shares the PV system's id
        dates += [c.installed_on for c in b.charging_piles]
        devices[b.building_code] = dates
        rows.append({
            "building_code": b.building_code, "name": b.name, "building_type": b.building_type,
            "district": b.district, "ownership": b.ownership, "climate_zone": b.climate_zone,
            "floor_area_m2": b.floor_area_m2, "occupants": b.occupants, "year_built": b.year_built,
            "has_pv": bool(b.pv_systems), "pv_capacity_kwp": sum(p.capacity_kwp for p in b.pv_systems),
            "ev_piles": len(b.charging_piles),
        })
    cols = ["building_code", "name", "building_type", "district", "ownership", "climate_zone", "floor_area_m2",
            "occupants", "year_built", "has_pv", "pv_capacity_kwp", "ev_piles"]
    return pd.DataFrame(rows, columns=cols).set_index("building_code"), devices


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
