"""Safe InfluxQL for the API: identifiers from a whitelist, values quoted, times as integers.

No caller-supplied text reaches a query except through :func:`quote_literal` (string values)
or after a whitelist lookup (measurement, field, interval, aggregate). The HTTP client and
the quoting helpers are ingest's (``storage/influx.py``).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from contract.localtime import TZ_NAME, local_midnight
from contract.vocabulary import MEASUREMENT, SESSION_MEASUREMENT, DeviceKind
from storage.influx import quote_ident, quote_literal

#: measurement -> field -> aggregate used when readings are grouped into intervals. Interval
#: quantities add up; power is averaged; a cumulative register keeps its last reading.
READING_FIELDS: dict[str, dict[str, str]] = {
    MEASUREMENT[DeviceKind.meter]: {
        "consumption_kwh": "sum", "consumption_m3": "sum", "consumption_kg": "sum",
        "register_kwh": "last", "register_m3": "last", "register_kg": "last", "power_kw": "mean",
    },
    MEASUREMENT[DeviceKind.pv_inverter]: {
        "generation_kwh": "sum", "to_grid_kwh": "sum", "from_grid_kwh": "sum", "power_kw": "mean",
        "generation_register_kwh": "last", "to_grid_register_kwh": "last", "from_grid_register_kwh": "last",
    },
    MEASUREMENT[DeviceKind.ev_pile]: {"consumption_kwh": "sum", "register_kwh": "last", "power_kw": "mean"},
    SESSION_MEASUREMENT: {"energy_kwh": "sum", "pv_energy_kwh": "sum"},
}

#: Interval name -> nominal length [s] (for the points-per-request limit). Anything else is refused
#: before a query is built. ``1d``, ``1w`` and ``1mo`` are local calendar buckets (CALENDAR_INTERVALS).
INTERVALS_S: dict[str, int] = {"15m": 900, "1h": 3600, "1d": 86400, "1w": 7 * 86400, "1mo": 31 * 86400}
#: Buckets of the local calendar (Asia/Shanghai, contract.localtime): days from local midnight, weeks
#: from Monday, months from the 1st. A request with these must start and end on a bucket boundary.
CALENDAR_INTERVALS = ("1d", "1w", "1mo")


class InfluxQLError(ValueError):
    pass


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def time_ns(t: dt.datetime) -> int:
    if t.tzinfo is None:
        raise InfluxQLError(f"time {t.isoformat()} has no time zone")
    # Integer arithmetic: int(t.timestamp()) truncates towards zero, which put times before 1970
    # with a fraction of a second up to one second late.
    return (t - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def readings_query(*, measurement: str, field: str, building_code: str, start: dt.datetime,
                   end: dt.datetime, interval: str, device_id: str | None = None,
                   device_kind: str | None = None) -> str:
    """InfluxQL for one field of one building, grouped by device and interval; ``device_kind``
    tells apart a PV system's inverter and its grid-point meter, which share a device id.

    Buckets follow the rollup's convention (analytics/rollup.py): a value is stamped at the end of
    its interval, so a bucket holds ``bucket_start < time <= bucket_end`` and InfluxDB reports it at
    ``bucket_start + 1 ms``. Days and weeks are shifted to local midnight and local Monday by the
    GROUP BY offset (InfluxDB 1.x groups from the Unix epoch, a Thursday 00:00 UTC). ``1mo`` asks for
    local days and :func:`months_from_days` adds them up (InfluxQL has no calendar months); for a
    mean it also returns ``n``, the points per day, so the monthly mean is weighted by points."""
    fields = READING_FIELDS.get(measurement)
    if fields is None:
        raise InfluxQLError(f"measurement {measurement!r} is not one of {sorted(READING_FIELDS)}")
    agg = fields.get(field)
    if agg is None:
        raise InfluxQLError(f"field {field!r} is not one of {sorted(fields)} for {measurement}")
    if interval not in INTERVALS_S:
        raise InfluxQLError(f"interval {interval!r} is not one of {list(INTERVALS_S)}")
    where = [f'"building_code" = {quote_literal(building_code)}', *interval_end_range(start, end)]
    if device_id is not None:
        where.append(f'"device_id" = {quote_literal(device_id)}')
    if device_kind is not None:
        where.append(f'"device_kind" = {quote_literal(device_kind)}')
    columns = f"{agg}({quote_ident(field)}) AS value"
    if interval == "1mo":
        interval = "1d"
        if agg == "mean":
            columns = f"sum({quote_ident(field)}) AS value, count({quote_ident(field)}) AS n"
    return select(columns, [measurement], where, group_by=[_group_by_time(interval), '"device_id"'],
                  fill="none")


_DAY_MS = 86_400_000


def _group_by_time(interval: str) -> str:
    """``time(...)`` with the offset that starts buckets 1 ms after a local day / Monday boundary.
    Sub-day intervals need only the 1 ms: the zone's offset (+8 h) is whole hours."""
    if interval == "1d":
        offset_ms = local_ms(dt.date(1970, 1, 1)) % _DAY_MS
        return f"time(1d, {offset_ms + 1}ms)"
    if interval == "1w":
        offset_ms = local_ms(dt.date(1970, 1, 5)) % (7 * _DAY_MS)  # 5 January 1970 was a Monday
        return f"time(7d, {offset_ms + 1}ms)"
    return f"time({interval}, 1ms)"


def local_ms(day: dt.date) -> int:
    """Local midnight starting ``day`` in Unix milliseconds."""
    return int(local_midnight(day).timestamp() * 1000)


def bucket_start(t_ms: int) -> dt.datetime:
    """Start of the bucket InfluxDB reported at ``t_ms`` (1 ms after it, see readings_query), in
    local time."""
    return dt.datetime.fromtimestamp((t_ms - 1) / 1000, ZoneInfo(TZ_NAME))


def months_from_days(values: list[list], agg: str) -> list[tuple[dt.datetime, float]]:
    """Local-day rows ``[t_ms, value(, n)]`` of one series (time order) -> local-month points:
    sums add up, a mean is weighted by the day's point count, ``last`` keeps the month's last day."""
    months: dict[dt.date, list[float]] = {}
    for row in values:
        if row[1] is None:
            continue
        first = bucket_start(row[0]).date().replace(day=1)
        acc = months.setdefault(first, [0.0, 0.0])
        if agg == "last":
            acc[0] = row[1]
        else:
            acc[0] += row[1]
            acc[1] += row[2] if agg == "mean" else 0
    tz = ZoneInfo(TZ_NAME)
    return [(dt.datetime.combine(m, dt.time(), tz), v / n if agg == "mean" else v)
            for m, (v, n) in sorted(months.items())]


def interval_end_range(start: dt.datetime, end: dt.datetime) -> list[str]:
    """WHERE terms for values whose interval lies in [start, end): ``start < time <= end``, as
    integer nanoseconds (a value is stamped at the end of its interval)."""
    return [f"time > {time_ns(start)}", f"time <= {time_ns(end)}"]


def time_range(start: dt.datetime, end: dt.datetime) -> list[str]:
    """WHERE terms for ``start <= time < end``, as integer nanoseconds."""
    return [f"time >= {time_ns(start)}", f"time < {time_ns(end)}"]


def select(columns: str, measurements: list[str], where: list[str], *, group_by: list[str] = (),
           fill: str | None = None) -> str:
    """Assemble a SELECT from parts that are already safe: whitelisted or quoted by the caller;
    measurement names are quoted here."""
    parts = ["SELECT", columns, "FROM", ", ".join(quote_ident(m) for m in measurements)]
    if where:
        parts += ["WHERE", " AND ".join(where)]
    if group_by:
        parts += ["GROUP BY", ", ".join(group_by)]
    if fill:
        parts.append(f"fill({fill})")
    return " ".join(parts)
