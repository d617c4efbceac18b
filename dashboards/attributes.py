"""Copy the building attributes the dashboards divide by (floor area, PV capacity, quota) from
the fleet file into InfluxDB, measurement ``building`` (docs/glossary.md).

Grafana can only query InfluxDB, and intensity (kWh/m2) and specific yield (kWh/kWp) need the
registry's floor area and installed capacity next to the energy. One point per building, at
the sync time; the dashboards read ``last()`` without a time filter, so a re-sync after a
registry change supersedes the old values and nothing else depends on the timestamp.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import httpx
from influxdb_client import Point, WritePrecision

from registry.fleet import BuildingSpec, Fleet

MEASUREMENT = "building"
#: Example quota table shipped by analytics (constraint/guide values per type and climate zone).
DEFAULT_QUOTA_CSV = Path(__file__).resolve().parents[1] / "analytics" / "data" / "eui_quota.csv"
QUOTA_METRIC = "electricity_kwh_per_m2"


def load_quota(path: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(building_type, climate_zone) -> (constraint, guide) electricity intensity. [kWh/(m2.a)]"""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            if row.get("metric") != QUOTA_METRIC:
                continue
            try:
                out[(row["building_type"], row["climate_zone"])] = (float(row["constraint_value"]),
                                                                     float(row["guide_value"]))
            except (KeyError, ValueError) as e:
                raise ValueError(f"{path}: line {line_no}: bad quota row ({e})") from e
    return out


def building_point(b: BuildingSpec, quota: dict[tuple[str, str], tuple[float, float]], ts_ms: int) -> str:
    p = (Point(MEASUREMENT).tag("building_code", b.building_code).tag("district", b.district)
         .tag("building_type", b.building_type.value).tag("climate_zone", b.climate_zone.value)
         .tag("ownership", b.ownership.value)
         .field("floor_area_m2", float(b.floor_area_m2)).field("occupants", int(b.occupants))
         .field("pv_capacity_kwp", float(sum(x.capacity_kwp for x in b.pv)))
         .field("ev_piles", len(b.ev_piles))
         .field("ev_rated_power_kw", float(sum(x.rated_power_kw for x in b.ev_piles))))
    q = quota.get((b.building_type.value, b.climate_zone.value))
    if q is not None:
        p = p.field("quota_constraint_kwh_per_m2", q[0]).field("quota_guide_kwh_per_m2", q[1])
    return p.time(ts_ms, WritePrecision.MS).to_line_protocol()


def sync(fleet: Fleet, influx_url: str, db: str, *, quota_csv: Path | None = DEFAULT_QUOTA_CSV,
         user: str | None = None, password: str | None = None, ts_ms: int | None = None,
         timeout_s: float = 30.0) -> int:
    """Write one ``building`` point per building; returns the number written.

    Parameters
    ----------
    influx_url : str
        InfluxDB base URL (``/write`` is appended).
    db : str
        Database name.
    quota_csv : Path, optional
        Quota table; ``None`` or a missing file writes no quota fields.
    ts_ms : int, optional
        Timestamp of the points; the current time by default. [ms]
    """
    quota = load_quota(quota_csv) if quota_csv is not None and Path(quota_csv).exists() else {}
    ts = int(time.time() * 1000) if ts_ms is None else ts_ms
    lines = [building_point(b, quota, ts) for b in fleet.buildings]
    auth = (user, password or "") if user else None
    r = httpx.post(f"{influx_url.rstrip('/')}/write", params={"db": db, "precision": "ms"},
                   content="\n".join(lines).encode(), auth=auth, timeout=timeout_s)
    if r.status_code != 204:
        raise RuntimeError(f"InfluxDB refused the building points: HTTP {r.status_code}: {r.text[:300]}")
    return len(lines)
