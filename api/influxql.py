"""Safe InfluxQL for the API: identifiers from a whitelist, values quoted, times as integers.

No caller-supplied text reaches a query except through :func:`quote_literal` (string values)
or after a whitelist lookup (measurement, field, interval, aggregate). The HTTP client and
the quoting helpers are ingest's (``storage/influx.py``).
"""

from __future__ import annotations

import datetime as dt

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

#: Interval name -> length [s]. Anything else is refused before a query is built.
INTERVALS_S: dict[str, int] = {"15m": 900, "1h": 3600, "1d": 86400, "7d": 7 * 86400}


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
    tells apart a PV system's inverter and its grid-point meter, which share a device id."""
    fields = READING_FIELDS.get(measurement)
    if fields is None:
        raise InfluxQLError(f"measurement {measurement!r} is not one of {sorted(READING_FIELDS)}")
    agg = fields.get(field)
    if agg is None:
        raise InfluxQLError(f"field {field!r} is not one of {sorted(fields)} for {measurement}")
    if interval not in INTERVALS_S:
        raise InfluxQLError(f"interval {interval!r} is not one of {list(INTERVALS_S)}")
    where = [f'"building_code" = {quote_literal(building_code)}', *time_range(start, end)]
    if device_id is not None:
        where.append(f'"device_id" = {quote_literal(device_id)}')
    if device_kind is not None:
        where.append(f'"device_kind" = {quote_literal(device_kind)}')
    return select(f"{agg}({quote_ident(field)}) AS value", [measurement], where,
                  group_by=[f"time({interval})", '"device_id"'], fill="none")


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
