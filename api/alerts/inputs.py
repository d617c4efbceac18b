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
from zoneinfo import ZoneInfo

import pandas as pd

from analytics.baseline import BaselineFit
from analytics.baseline_job import read_fits
from api.influxql import select, time_range
from contract.localtime import TZ_NAME
from registry.models import Building
from registry.weather import StationRef
from storage.influx import InfluxHTTP, quote_literal

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
    #: The weather station the registry assigns to the building (None: no weather-aware rules).
    station: StationRef | None = None
    #: Newest electricity baseline that ended before the judged week (docs/baselines.md), or, while a
    #: ``use_above_expected`` alert is unresolved, before the week that opened it (``fit_held_since``).
    fit: BaselineFit | None = None
    #: The first day of the week that opened the unresolved alert, when the fit is held there.
    fit_held_since: dt.date | None = None
    #: The station's mean temperature per local day of the judged week. [degC]
    daily_temperature_degc: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    #: The station's mean GHI per hour over the last 7 days, hours with readings only. [W/m2]
    ghi_hourly_w_per_m2: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))


def _series_frame(series: list[dict]) -> dict[tuple[str, str], pd.Series]:
    out = {}
    for s in series:
        idx = pd.to_datetime([v[0] for v in s["values"]], unit="ms", utc=True)
        out[(s["tags"].get("building_code", ""), s["tags"].get("device_id", ""))] = pd.Series(
            [v[1] for v in s["values"]], index=idx, dtype=float)
    return out


def judged_week(now: dt.datetime, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """The 7 complete local days before ``now``'s local day, as UTC instants [start, end)."""
    today = now.astimezone(ZoneInfo(tz)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - dt.timedelta(days=7)).astimezone(dt.UTC), today.astimezone(dt.UTC)


def gather(*, influx: InfluxHTTP, buildings: list[Building], now: dt.datetime,
           stations: dict[str, StationRef] | None = None, rollup_rp: str | None = None,
           tz: str = TZ_NAME, hold_fit_before: dict[str, dt.date] | None = None
           ) -> dict[str, BuildingInputs]:
    """Inputs of every building in ``buildings`` at time ``now`` (tz-aware).

    ``stations``: building_code -> its weather station (registry); ``rollup_rp``: where the
    baseline fits are stored; ``hold_fit_before``: building_code -> first day of the week that
    opened its unresolved ``use_above_expected`` alert (its baseline must not have seen that week)."""
    now_h = now.replace(minute=0, second=0, microsecond=0)
    out = {b.building_code: BuildingInputs(b) for b in buildings}
    if stations:
        _weather(influx, out, stations, now=now, rollup_rp=rollup_rp, tz=tz, hold=hold_fit_before or {})
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
    _station_silence(influx, out, stations or {}, now)

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


def _weather(influx: InfluxHTTP, out: dict[str, BuildingInputs], stations: dict[str, StationRef], *,
             now: dt.datetime, rollup_rp: str | None, tz: str, hold: dict[str, dt.date]) -> None:
    """Station, baseline fit, daily temperature of the judged week and hourly GHI of the last 7 days."""
    week_start, week_end = judged_week(now, tz)
    codes = [c for c in out if c in stations]
    if not codes:
        return
    fits = read_fits(influx, carrier="electricity", not_after=week_start, codes=codes, rp=rollup_rp)
    for code in codes:
        out[code].station, out[code].fit = stations[code], fits.get(code)
    # While a fault persists, the weekly refits learn it as the new normal and the alert would resolve
    # itself; the building is judged by the baseline from before the week that opened its alert.
    by_day: dict[dt.date, list[str]] = defaultdict(list)
    for code, first_day in hold.items():
        if code in out and code in stations:
            by_day[first_day].append(code)
    for first_day, held in by_day.items():
        limit = min(week_start, dt.datetime.combine(first_day, dt.time(), ZoneInfo(tz)).astimezone(dt.UTC))
        for code, fit in read_fits(influx, carrier="electricity", not_after=limit, codes=held, rp=rollup_rp).items():
            out[code].fit, out[code].fit_held_since = fit, first_day
    keys = sorted({(stations[c].host_building_code, stations[c].device_id) for c in codes})
    match = " OR ".join(f"(\"building_code\" = {quote_literal(h)} AND \"device_id\" = {quote_literal(d)})"
                        for h, d in keys)
    offset_h = int(week_start.astimezone(ZoneInfo(tz)).utcoffset().total_seconds() // 3600)
    q = select('mean("air_temperature_degc")', ["weather"], [f"({match})", *time_range(week_start, week_end)],
               group_by=[f"time(1d, {-offset_h}h)", *_BY_DEVICE], fill="none")
    temps = _series_frame(influx.query(q))
    now_h = now.replace(minute=0, second=0, microsecond=0)
    q = select('mean("ghi_w_per_m2")', ["weather"], [f"({match})", *time_range(now_h - dt.timedelta(days=7), now_h)],
               group_by=["time(1h)", *_BY_DEVICE], fill="none")
    ghi = _series_frame(influx.query(q))
    zone = ZoneInfo(tz)
    for key, t in temps.items():  # local dates index the days (buckets start at local midnight)
        temps[key] = pd.Series(t.to_numpy(), index=pd.Index([i.tz_convert(zone).date() for i in t.index]))
    for code in codes:
        key = (stations[code].host_building_code, stations[code].device_id)
        if key in temps:
            out[code].daily_temperature_degc = temps[key]
        if key in ghi:
            out[code].ghi_hourly_w_per_m2 = ghi[key]


def _station_silence(influx: InfluxHTTP, out: dict[str, BuildingInputs], stations: dict[str, StationRef],
                     now: dt.datetime) -> None:
    """A weather station counts as a device of the building it stands on: when it falls silent the
    weather-aware rules stop judging, so its silence must raise ``meter_offline`` at its host."""
    hosted = {(s.host_building_code, s.device_id) for s in stations.values() if s.host_building_code in out}
    if not hosted:
        return
    seen: dict[tuple[str, str], float] = {}
    q = select('last("air_temperature_degc")', ["weather"],
               time_range(now - dt.timedelta(days=LOOKBACK_DAYS), now + dt.timedelta(minutes=5)), group_by=_BY_DEVICE)
    for s in influx.query(q):
        seen[(s["tags"]["building_code"], s["tags"]["device_id"])] = s["values"][0][0] / 1000
    for code, dev in hosted:
        out[code].silent_s[dev] = now.timestamp() - seen[(code, dev)] if (code, dev) in seen else float("inf")


def _installed(b: Building, device_id: str) -> dt.date | None:
    for d in (*b.meters, *b.pv_systems, *b.charging_piles):
        if d.device_id == device_id:
            return d.installed_on
    return None
