"""Measured weather for the baselines: CSV import of historical station data, and daily weather.

Station readings live in the ``weather`` measurement (docs/glossary.md), tagged with the station's
host ``building_code`` and ``device_id``; the registry says which station stands for a building
(registry/weather.py). History from before the station was connected (a met service's export) is
imported from CSV with :func:`read_weather_csv` / :func:`import_weather_csv`: all or nothing, every
bad row reported with its line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from contract.localtime import TZ_NAME, local_midnight
from contract.vocabulary import BUILDING_CODE_RE, DEVICE_ID_RE, MEASUREMENT, DeviceKind
from storage.influx import InfluxHTTP, quote_literal
from storage.lineproto import encode_line

WEATHER = MEASUREMENT[DeviceKind.weather_station]
CSV_COLUMNS = ("time", "air_temperature_degc", "ghi_w_per_m2")
#: Plausibility frames: beyond them a row is a unit or typing error, not weather. The extremes
#: measured in China are about -53 C (Mohe) and 50 C (Turpan); the solar constant is 1361 W/m2.
TEMP_RANGE_DEGC = (-60.0, 60.0)
GHI_RANGE_W_PER_M2 = (0.0, 1400.0)


@dataclass
class WeatherCsv:
    """Rows read from a weather CSV: ``(ts_ms, air_temperature_degc, ghi_w_per_m2 or None)``."""

    rows: list[tuple[int, float, float | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _number(text: str, name: str, lo: float, hi: float, required: bool) -> float | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise ValueError(f"{name}: empty")
        return None
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{name}: {v} is outside {lo}..{hi}")
    return v


def _time_ms(text: str, tz: str) -> int:
    try:
        t = dt.datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise ValueError(f"time: {text!r} is not ISO 8601 like 2025-01-01T08:00 or 2025-01-01T00:00+00:00") from None
    if t.tzinfo is None:  # a met-service export in local time
        t = t.replace(tzinfo=ZoneInfo(tz))
    return int(t.timestamp() * 1000)


def read_weather_csv(source: Path | str, *, tz: str = TZ_NAME, name: str | None = None) -> WeatherCsv:
    """Parse a weather CSV: ``time`` (ISO 8601; without an offset it is local time ``tz``),
    ``air_temperature_degc`` (required) and ``ghi_w_per_m2`` (optional, may be empty).

    Parameters
    ----------
    source : Path or str
        A file, or the CSV text itself.
    tz : str
        Time zone of times given without an offset.

    Returns
    -------
    WeatherCsv
        The rows, or ``errors`` as ``file:line: field: reason`` (then ``rows`` must not be written).
    """
    if isinstance(source, Path):
        name = name or source.name
        text = source.read_text(encoding="utf-8-sig")
    else:
        name, text = name or "<csv>", source
    out = WeatherCsv()
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in ("time", "air_temperature_degc") if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        out.errors.append(f"{name}:1: columns: missing {missing}, unknown {unknown}; expected {list(CSV_COLUMNS)}")
        return out
    seen: dict[int, int] = {}
    for line, row in enumerate(reader, start=2):
        try:
            ts = _time_ms(row.get("time"), tz)
            temp = _number(row.get("air_temperature_degc"), "air_temperature_degc", *TEMP_RANGE_DEGC, True)
            ghi = _number(row.get("ghi_w_per_m2"), "ghi_w_per_m2", *GHI_RANGE_W_PER_M2, False)
        except ValueError as e:
            out.errors.append(f"{name}:{line}: {e}")
            continue
        if ts in seen:
            out.errors.append(f"{name}:{line}: time: same instant as line {seen[ts]}")
            continue
        seen[ts] = line
        out.rows.append((ts, temp, ghi))
    if not out.rows and not out.errors:
        out.errors.append(f"{name}: no rows")
    return out


def import_weather_csv(influx: InfluxHTTP, parsed: WeatherCsv, *, host_building_code: str, device_id: str) -> int:
    """Write parsed rows as the station's ``weather`` points (idempotent: same instant overwrites).

    Returns the number of points written; refuses input with errors (nothing is written).
    """
    if parsed.errors:
        raise ValueError(f"{len(parsed.errors)} rows with errors; nothing written")
    if not BUILDING_CODE_RE.match(host_building_code) or not DEVICE_ID_RE.match(device_id):
        raise ValueError(f"station {host_building_code}/{device_id} is not a building code and device id")
    tags = {"building_code": host_building_code, "device_id": device_id,
            "device_kind": DeviceKind.weather_station.value}
    lines = []
    for ts, temp, ghi in parsed.rows:
        fields = {"air_temperature_degc": temp}
        if ghi is not None:
            fields["ghi_w_per_m2"] = ghi
        lines.append(encode_line(WEATHER, tags, fields, ts))
    for i in range(0, len(lines), 5000):
        influx.write_lines(lines[i:i + 5000])
    return len(lines)


def daily_weather(influx: InfluxHTTP, *, host_building_code: str, device_id: str, start: dt.date, end: dt.date,
                  tz: str = TZ_NAME) -> pd.DataFrame:
    """Daily weather of a station over local days ``[start, end)``.

    Returns
    -------
    DataFrame indexed by local date with ``temperature_mean_degc`` (mean of the day's readings),
    ``ghi_mean_w_per_m2`` (mean irradiance over the day's readings; x 24 h / 1000 = daily
    irradiation in kWh/m2) and ``readings``. Days without a reading are absent.
    """
    lo, hi = local_midnight(start, tz), local_midnight(end, tz)
    offset_h = int(lo.astimezone(ZoneInfo(tz)).utcoffset().total_seconds() // 3600)
    q = (f"SELECT mean(air_temperature_degc) AS t, mean(ghi_w_per_m2) AS g, count(air_temperature_degc) AS n "  # noqa: S608
         f"FROM {WEATHER} WHERE building_code = {quote_literal(host_building_code)} "
         f"AND device_id = {quote_literal(device_id)} AND time >= {int(lo.timestamp() * 1000)}ms "
         f"AND time < {int(hi.timestamp() * 1000)}ms GROUP BY time(1d, {-offset_h}h) fill(none)")
    series = influx.query(q, epoch="ms")
    cols = ["temperature_mean_degc", "ghi_mean_w_per_m2", "readings"]
    if not series:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="date"))
    s = series[0]
    df = pd.DataFrame(s["values"], columns=s["columns"])
    df["date"] = [(dt.datetime.fromtimestamp(t / 1000, ZoneInfo(tz))).date() for t in df["time"]]
    df = df.rename(columns={"t": "temperature_mean_degc", "g": "ghi_mean_w_per_m2", "n": "readings"})
    return df.set_index("date")[cols]
