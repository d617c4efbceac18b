"""Fetch what the rules need from InfluxDB, for many buildings in a few grouped queries.

Every query groups by ``building_code`` and ``device_id`` so the cost does not grow with one
query per building. Only top-level meters (no ``parent_device_id``) count towards a
building's hourly use, so a sub-meter is never added on top of its main meter. Year-to-date
energy and the audit verdict are not read here: they are analytics' balance
(:func:`api.alerts.engine.audit_rows`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from api.influxql import select, time_range
from registry.models import Building
from storage.influx import InfluxHTTP

#: How far back the offline check looks; a device silent for longer counts as never seen.
LOOKBACK_DAYS = 15
_BY_DEVICE = ['"building_code"', '"device_id"']
_DEVICE_MEASUREMENTS = ["meter", "pv", "ev_pile"]


@dataclass
class BuildingInputs:
    building: Building
    #: Electricity use per hour over the last 14 days, top-level meters summed. [kWh]
    hourly_kwh: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    #: device_id -> seconds since its last reading (only registry devices). [s]
    silent_s: dict[str, float] = field(default_factory=dict)
    #: device_id -> longest interval between readings in the last day. [s]
    max_interval_s: dict[str, float] = field(default_factory=dict)
    #: PV generation per hour over the last 7 days, hours with a reading only. [kWh]
    pv_hourly_kwh: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))


def _series_frame(series: list[dict]) -> dict[tuple[str, str], pd.Series]:
    out = {}
    for s in series:
        idx = pd.to_datetime([v[0] for v in s["values"]], unit="ms", utc=True)
        out[(s["tags"].get("building_code", ""), s["tags"].get("device_id", ""))] = pd.Series(
            [v[1] for v in s["values"]], index=idx, dtype=float)
    return out


def gather(*, influx: InfluxHTTP, buildings: list[Building], now: dt.datetime) -> dict[str, BuildingInputs]:
    """Inputs of every building in ``buildings`` at time ``now`` (tz-aware)."""
    now_h = now.replace(minute=0, second=0, microsecond=0)
    out = {b.building_code: BuildingInputs(b) for b in buildings}
    top = {(b.building_code, m.device_id): m.carrier for b in buildings for m in b.meters
           if m.parent_device_id is None}

    # Hourly electricity, last 14 days.
    start = now_h - dt.timedelta(days=14)
    q = select('sum("consumption_kwh")', ["meter"], ['"carrier" = \'electricity\'', *time_range(start, now_h)],
               group_by=["time(1h)", *_BY_DEVICE], fill="none")
    hourly: dict[str, list[pd.Series]] = defaultdict(list)
    for (code, dev), s in _series_frame(influx.query(q)).items():
        if top.get((code, dev)) == "electricity":
            hourly[code].append(s)
    for code, parts in hourly.items():
        if code in out:
            out[code].hourly_kwh = pd.concat(parts, axis=1).sum(axis=1, min_count=1).dropna().sort_index()

    # Last reading and longest interval of every device.
    devices = {(b.building_code, d.device_id) for b in buildings
               for d in (*b.meters, *b.pv_systems, *b.charging_piles)}
    # A PV system's inverter and its grid meter (pv_meter) share one device_id: grouped by id
    # alone, the meter's readings would hide a silent inverter. The device counts as seen when
    # its most silent part was last seen.
    seen: dict[tuple[str, str], float] = {}
    q = select('last("interval_s")', _DEVICE_MEASUREMENTS,
               time_range(now - dt.timedelta(days=LOOKBACK_DAYS), now + dt.timedelta(minutes=5)),
               group_by=[*_BY_DEVICE, '"device_kind"'])
    for s in influx.query(q):
        key = (s["tags"]["building_code"], s["tags"]["device_id"])
        t = s["values"][0][0] / 1000
        seen[key] = min(seen.get(key, t), t)
    q = select('max("interval_s")', _DEVICE_MEASUREMENTS,
               time_range(now - dt.timedelta(days=1), now + dt.timedelta(minutes=5)), group_by=_BY_DEVICE)
    for s in influx.query(q):
        key = (s["tags"]["building_code"], s["tags"]["device_id"])
        if key in devices and s["values"][0][1] is not None:
            prev = out[key[0]].max_interval_s.get(key[1], 0.0)
            out[key[0]].max_interval_s[key[1]] = max(prev, float(s["values"][0][1]))
    for code, dev in devices:
        installed = _installed(out[code].building, dev)
        if installed is not None and installed > now.date() - dt.timedelta(days=1):
            continue  # a device installed today has nothing to be silent about yet
        out[code].silent_s[dev] = now.timestamp() - seen[(code, dev)] if (code, dev) in seen else float("inf")

    # PV generation per hour, inverters of the registry only, last 7 days.
    pv_ids = {(b.building_code, p.device_id) for b in buildings for p in b.pv_systems}
    start = now_h - dt.timedelta(days=7)
    q = select('sum("generation_kwh")', ["pv"], time_range(start, now_h), group_by=["time(1h)", *_BY_DEVICE],
               fill="none")
    pv: dict[str, list[pd.Series]] = defaultdict(list)
    for key, s in _series_frame(influx.query(q)).items():
        if key in pv_ids:
            pv[key[0]].append(s)
    for code, parts in pv.items():
        out[code].pv_hourly_kwh = pd.concat(parts, axis=1).sum(axis=1, min_count=1).dropna().sort_index()
    return out


def _installed(b: Building, device_id: str) -> dt.date | None:
    for d in (*b.meters, *b.pv_systems, *b.charging_piles):
        if d.device_id == device_id:
            return d.installed_on
    return None
