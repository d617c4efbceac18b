"""Fit and store the baselines of every building and carrier (the refit job), and read them back.

Inputs: daily use of each building's top-level meters per carrier from the ``meter_1d`` rollups
(a sub-meter is never added to its main meter), and the daily mean temperature of the weather
station the registry assigns to the building (analytics/weather.py). Output: one ``baseline_fit``
point per building and carrier in the rollup retention policy, stamped at the local midnight that
ends the fit period, so "the newest fit that ends before day X" is one InfluxQL ``last()`` and a
refit of the same period overwrites (idempotent).

Schedule (docs/baselines.md): ``python -m analytics baselines`` weekly (``REFIT_DAYS``), after the
nightly rollup; each run fits the ``HISTORY_DAYS`` before its end day (or all the history there is).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import zlib
from collections import defaultdict
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session
from tqdm import tqdm

from analytics.baseline import BaselineFit
from analytics.opendsm_baseline import fit_daily_baseline
from analytics.weather import daily_weather
from contract.localtime import TZ_NAME, local_midnight
from registry import repo
from registry.models import Building
from registry.weather import station_for
from storage.influx import InfluxHTTP, quote_ident, quote_literal
from storage.lineproto import encode_line

log = logging.getLogger(__name__)

FIT_MEASUREMENT = "baseline_fit"
#: The fit period: the year before the refit day (a full cycle of seasons and holidays). [d]
HISTORY_DAYS = 365
#: Fits stored at a time during a refit (an OpenDSM fit costs ~12 s of CPU: 100 are ~20 minutes). [1]
FLUSH_FITS = 100
#: Refit cadence: weekly keeps a fit at most 7 days older than the data (docs/baselines.md). [d]
REFIT_DAYS = 7
#: A device-day with fewer readings than this share of the device's median day is a gap. [-]
MIN_DAY_READINGS = 0.9
_FIELD = {"consumption_kwh", "consumption_m3", "consumption_kg"}


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def daily_use(*, rollups: InfluxHTTP, buildings: list[Building], start: dt.date, end: dt.date,
              tz: str = TZ_NAME) -> dict[tuple[str, str], pd.Series]:
    """(building_code, carrier) -> daily use of its top-level meters over ``[start, end)``, NaN on a day
    when any of those meters has a gap (fewer readings than ``MIN_DAY_READINGS`` of its median day)."""
    top = {(b.building_code, m.device_id): m.carrier for b in buildings for m in b.meters
           if m.parent_device_id is None}
    codes = sorted({b.building_code for b in buildings})
    per_device: dict[tuple[str, str], pd.DataFrame] = {}
    for i in range(0, len(codes), 200):  # bounded query text
        chunk = " OR ".join(f"building_code = {quote_literal(c)}" for c in codes[i:i + 200])
        q = (f"SELECT consumption_kwh, consumption_m3, consumption_kg, readings FROM meter_1d "  # noqa: S608
             f"WHERE ({chunk}) AND time >= {_ms(local_midnight(start, tz))}ms "
             f"AND time < {_ms(local_midnight(end, tz))}ms GROUP BY building_code, device_id")
        for s in rollups.query(q, epoch="ms"):
            key = (s["tags"]["building_code"], s["tags"]["device_id"])
            if key in top:
                df = pd.DataFrame(s["values"], columns=s["columns"])
                per_device[key] = df
    days = pd.Index([start + dt.timedelta(days=k) for k in range((end - start).days)], name="date")
    parts: dict[tuple[str, str], list[pd.Series]] = defaultdict(list)
    for (code, dev), df in per_device.items():
        value = df[[c for c in df.columns if c in _FIELD]].sum(axis=1, min_count=1)
        readings = df["readings"].astype(float)
        ok = readings >= MIN_DAY_READINGS * float(np.median(readings))
        dates = [dt.datetime.fromtimestamp(t / 1000, dt.UTC).astimezone(ZoneInfo(tz)).date() for t in df["time"]]
        s = pd.Series(np.where(ok, value, np.nan), index=pd.Index(dates)).reindex(days)
        parts[(code, top[(code, dev)])].append(s)
    # A missing meter-day makes the building-day a gap: sum with NaN propagating.
    return {key: pd.concat(ss, axis=1).sum(axis=1, min_count=len(ss)) for key, ss in parts.items()}


def in_part(building_code: str, part: tuple[int, int]) -> bool:
    """Whether a building is in part ``k`` of ``n`` (``part = (k, n)``): a stable hash of its code,
    so the same buildings share a night every week and the ``n`` parts cover each building once."""
    k, n = part
    return zlib.crc32(building_code.encode()) % n == k


def refit(*, influx: InfluxHTTP, rollups: InfluxHTTP, session: Session, end: dt.date, tz: str = TZ_NAME,
          codes: list[str] | None = None, part: tuple[int, int] | None = None,
          progress: bool = False) -> list[tuple[str, str, BaselineFit]]:
    """Fit every building's carriers on the ``HISTORY_DAYS`` before ``end`` and store the fits; only
    the buildings of ``part`` (:func:`in_part`) when given. Fits are stored as they are made, every
    ``FLUSH_FITS``, so a refit stopped after hours keeps what it did."""
    buildings = repo.list_buildings(session=session, codes=codes)
    if part is not None:
        buildings = [b for b in buildings if in_part(b.building_code, part)]
    start = end - dt.timedelta(days=HISTORY_DAYS)
    use = daily_use(rollups=rollups, buildings=buildings, start=start, end=end, tz=tz)
    weather_cache: dict[tuple[str, str], pd.DataFrame] = {}
    out: list[tuple[str, str, BaselineFit]] = []
    written = 0
    for b in tqdm(buildings, desc="baselines", unit="building", disable=not progress):
        if len(out) - written >= FLUSH_FITS:
            write_fits(rollups, out[written:], end=end, tz=tz)
            written = len(out)
        carriers = sorted({m.carrier for m in b.meters if m.parent_device_id is None})
        station = station_for(session=session, building_code=b.building_code)
        for carrier in carriers:
            series = use.get((b.building_code, carrier))
            if station is None:
                fit = BaselineFit(status="no_weather_station", detail="no station assigned to the building or "
                                  "its district (registry)", period_start=start, period_end=end)
            elif series is None or series.notna().sum() == 0:
                fit = BaselineFit(status="insufficient_history", detail="no daily use in the rollups",
                                  period_start=start, period_end=end)
            else:
                key = (station.host_building_code, station.device_id)
                if key not in weather_cache:
                    weather_cache[key] = daily_weather(influx, host_building_code=key[0], device_id=key[1],
                                                       start=start, end=end, tz=tz)
                first = series.first_valid_index()  # history starts with the first metered day
                df = pd.DataFrame({"use": series}).join(weather_cache[key][["temperature_mean_degc"]])
                # OpenDSM's daily model where its sufficiency check passes, else the change-point model.
                fit = fit_daily_baseline(df, start=first, end=end, electricity=carrier == "electricity", tz=tz)
            fit.inputs = {"carrier": carrier, "use": "meter_1d consumption of the top-level meters",
                          "meters": sorted(m.device_id for m in b.meters
                                           if m.carrier == carrier and m.parent_device_id is None),
                          "temperature": None if station is None else
                          f"daily mean air_temperature_degc of station {station.host_building_code}/"
                          f"{station.device_id} (assigned to the {station.via})"}
            out.append((b.building_code, carrier, fit))
    write_fits(rollups, out[written:], end=end, tz=tz)
    return out


def write_fits(rollups: InfluxHTTP, fits: list[tuple[str, str, BaselineFit]], *, end: dt.date,
               tz: str = TZ_NAME) -> None:
    ts = _ms(local_midnight(end, tz))
    lines = []
    for code, carrier, fit in fits:
        fields = {"model": json.dumps(fit.as_dict(), allow_nan=True), "status": fit.status,
                  "guideline14": fit.guideline14, "days": fit.days}
        for k in ("cv_rmse_daily", "cv_rmse_monthly", "nmbe_monthly"):
            v = getattr(fit, k)
            if v is not None:
                fields[k] = float(v)
        lines.append(encode_line(FIT_MEASUREMENT, {"building_code": code, "carrier": carrier}, fields, ts))
    for i in range(0, len(lines), 5000):
        rollups.write_lines(lines[i:i + 5000])


def read_fits(rollups: InfluxHTTP, *, carrier: str, not_after: dt.datetime, codes: list[str] | None = None,
              rp: str | None = None) -> dict[str, BaselineFit]:
    """building_code -> the newest stored fit of ``carrier`` whose period ended at or before ``not_after``.

    ``rp`` qualifies the measurement with a retention policy (for a client of the raw data)."""
    where = f"carrier = {quote_literal(carrier)} AND time <= {_ms(not_after)}ms"
    if codes:
        where += " AND (" + " OR ".join(f"building_code = {quote_literal(c)}" for c in codes) + ")"
    source = f"{quote_ident(rp)}.{FIT_MEASUREMENT}" if rp else FIT_MEASUREMENT
    q = f"SELECT last(model) FROM {source} WHERE {where} GROUP BY building_code"  # noqa: S608
    out = {}
    for s in rollups.query(q, epoch="ms"):
        out[s["tags"]["building_code"]] = BaselineFit.from_dict(json.loads(s["values"][0][1]))
    return out
