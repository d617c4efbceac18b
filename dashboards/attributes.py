"""Copy the building attributes the dashboards divide by (floor area, PV capacity, quota) from
the fleet file into InfluxDB, measurement ``building`` (docs/glossary.md).

Grafana can only query InfluxDB, and intensity (kWh/m2) and specific yield (kWh/kWp) need the
registry's floor area and installed capacity next to the energy. One point per building, at
the sync time; the dashboards read ``last()`` without a time filter, so a re-sync after a
registry change supersedes the old values and nothing else depends on the timestamp.
"""

from __future__ import annotations

import time
from pathlib import Path

from analytics.tables import DATA_DIR, quota_table
from registry.fleet import BuildingSpec, Fleet
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line

MEASUREMENT = "building"
#: The quota table analytics reads (constraint/guide values per type and climate zone).
DEFAULT_QUOTA_CSV = DATA_DIR / "eui_quota.csv"
QUOTA_METRIC = "electricity_kwh_per_m2"


def load_quota(path: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(building_type, climate_zone) -> (constraint, guide) electricity intensity [kWh/(m2.a)],
    parsed by analytics (:func:`analytics.tables.quota_table`, one parser); EXAMPLE rows are left
    out, so a dashboard never shows a placeholder as a standard."""
    df = quota_table(path)
    real = df[(df.metric == QUOTA_METRIC) & ~df.is_example]
    return {(r.building_type, r.climate_zone): (float(r.constraint_value), float(r.guide_value))
            for r in real.itertuples(index=False)}


def building_point(b: BuildingSpec, quota: dict[tuple[str, str], tuple[float, float]], ts_ms: int) -> str:
    tags = {"building_code": b.building_code, "district": b.district, "building_type": b.building_type.value,
            "climate_zone": b.climate_zone.value, "ownership": b.ownership.value}
    fields: dict[str, float | int] = {
        "floor_area_m2": float(b.floor_area_m2), "occupants": int(b.occupants),
        "pv_capacity_kwp": float(sum(x.capacity_kwp for x in b.pv)), "ev_piles": len(b.ev_piles),
        "ev_rated_power_kw": float(sum(x.rated_power_kw for x in b.ev_piles))}
    q = quota.get((b.building_type.value, b.climate_zone.value))
    if q is not None:
        fields["quota_constraint_kwh_per_m2"], fields["quota_guide_kwh_per_m2"] = q
    # The project's one encoder (storage.lineproto), not influxdb_client.Point: Point stores a
    # different value than written for some keys on InfluxDB 1.6 (docs/ingest.md).
    line = encode_line(MEASUREMENT, tags, fields, ts_ms)
    assert line is not None  # floor area and occupants are always present
    return line


def sync(fleet: Fleet, influx: InfluxHTTP, *, quota_csv: Path | None = DEFAULT_QUOTA_CSV,
         ts_ms: int | None = None) -> int:
    """Write one ``building`` point per building; returns the number written.

    Parameters
    ----------
    influx : InfluxHTTP
        Client of the database (with its credentials: storage/settings.py).
    quota_csv : Path, optional
        Quota table; ``None`` or a missing file writes no quota fields.
    ts_ms : int, optional
        Timestamp of the points; the current time by default. [ms]

    Raises :class:`storage.influx.InfluxError` when InfluxDB refuses the points (401 without
    credentials on a server with authentication).
    """
    quota = load_quota(quota_csv) if quota_csv is not None and Path(quota_csv).exists() else {}
    ts = int(time.time() * 1000) if ts_ms is None else ts_ms
    lines = [building_point(b, quota, ts) for b in fleet.buildings]
    influx.write_lines(lines)
    return len(lines)
