"""What Grafana 11 does to an InfluxQL query before InfluxDB sees it, reproduced to prove the
dashboards without a Grafana server.

Two stages, in Grafana's order:

1. The frontend template service replaces dashboard variables (``$var``, ``${var}``,
   ``[[var]]``) and the range variables (``${__range_s}``, ``${__range_ms}``). The InfluxDB data
   source formats a multi-value or include-all variable as a regex: each value escaped, several
   values as ``(a|b)``; a variable that is neither multi nor include-all goes in raw. A custom
   "all value" is inserted unformatted.
2. The InfluxQL backend replaces ``$timeFilter`` with ``time >= <from>ms and time <= <to>ms``
   and ``$__interval`` / ``$interval`` with the interval text (``15m``, ``1h``), and
   ``$__interval_ms`` with milliseconds. The interval is the range divided by the panel's
   max data points, never below the data source's minimum, rounded to Grafana's table.

Sources: Grafana's ``pkg/tsdb/influxdb/influxql/models/query.go`` (``Build``,
``renderTimeFilter``), ``gtime.RoundInterval`` / ``FormatInterval`` and the "formatting
multi-value variables" documentation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Grafana's ``gtime.RoundInterval`` table: (upper bound inclusive [ms], rounded interval [ms]).
_ROUND_MS: tuple[tuple[int, int], ...] = (
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
    (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
    (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
    (16200000, 10800000), (32400000, 21600000), (86400000, 43200000), (172800000, 86400000),
    (604800000, 86400000), (1814400000, 604800000),
)
_MONTH_MS = 2592000000
_YEAR_MS = 31536000000

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000, "y": _YEAR_MS}
_VAR_RE = re.compile(r"\$(\w+)|\[\[([\s\S]+?)(?::(\w+))?\]\]|\$\{(\w+)(?::(\w+))?\}")
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|{}\[\]/]")


@dataclass(frozen=True)
class Variable:
    """A dashboard variable's current selection and the options that decide its formatting."""

    value: str | tuple[str, ...]
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    is_all: bool = False


def round_interval_ms(interval_ms: float) -> int:
    """Grafana's rounding of a computed interval to a "nice" one. [ms]"""
    for bound, rounded in _ROUND_MS:
        if interval_ms <= bound:
            return rounded
    return _MONTH_MS if interval_ms < 3628800000 else _YEAR_MS


def format_interval(interval_ms: int) -> str:
    """Grafana's ``FormatInterval``: the largest whole unit, e.g. 900000 -> ``15m``."""
    for unit, size in (("y", _YEAR_MS), ("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000)):
        if interval_ms >= size:
            return f"{interval_ms // size}{unit}"
    return f"{max(interval_ms, 1)}ms"


def parse_duration_ms(text: str) -> int:
    """``15m`` -> 900000. [ms]"""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip())
    if not m:
        raise ValueError(f"not a Grafana duration: {text!r}")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def calculate_interval_ms(from_ms: int, to_ms: int, max_data_points: int, min_interval: str | None) -> int:
    """The panel interval Grafana derives for a range. [ms]"""
    if to_ms <= from_ms:
        raise ValueError(f"time range must be positive, got from={from_ms} to={to_ms}")
    raw = (to_ms - from_ms) / max(max_data_points, 1)
    if min_interval:
        raw = max(raw, parse_duration_ms(min_interval))
    return round_interval_ms(raw)


def regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def _format(var: Variable) -> str:
    if var.is_all:
        if var.all_value is not None:
            return var.all_value
        values = var.value if isinstance(var.value, tuple) else (var.value,)
        return _format(Variable(values, multi=True, include_all=True))
    if not var.multi and not var.include_all:
        return var.value if isinstance(var.value, str) else ",".join(var.value)
    values = (var.value,) if isinstance(var.value, str) else var.value
    escaped = [regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def replace_variables(query: str, variables: dict[str, Variable], *, from_ms: int, to_ms: int,
                      interval_ms: int) -> str:
    """Stage 1, the frontend: dashboard and built-in variables. Unknown names stay as they are."""
    builtins = {
        "__range_s": str((to_ms - from_ms) // 1000),
        "__range_ms": str(to_ms - from_ms),
        "__interval": format_interval(interval_ms),
        "__interval_ms": str(interval_ms),
    }

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(5)
        if name in builtins:
            return builtins[name]
        if name not in variables:
            return m.group(0)
        if fmt == "raw":
            v = variables[name].value
            return v if isinstance(v, str) else ",".join(v)
        return _format(variables[name])

    return _VAR_RE.sub(sub, query)


def interpolate(query: str, variables: dict[str, Variable], *, from_ms: int, to_ms: int,
                max_data_points: int = 1000, min_interval: str | None = None) -> str:
    """The query text InfluxDB receives from Grafana for this selection and time range.

    Parameters
    ----------
    query : str
        Raw InfluxQL of a panel target.
    variables : dict
        Dashboard variable name -> :class:`Variable`.
    from_ms, to_ms : int
        Dashboard time range, epoch milliseconds (UTC). [ms]
    max_data_points : int
        The panel's width in points (Grafana uses the panel's pixel width when unset).
    min_interval : str, optional
        The panel's or data source's minimum interval, e.g. ``"15m"``.
    """
    interval_ms = calculate_interval_ms(from_ms, to_ms, max_data_points, min_interval)
    text = replace_variables(query, variables, from_ms=from_ms, to_ms=to_ms, interval_ms=interval_ms)
    interval_text = format_interval(interval_ms)
    text = text.replace("$timeFilter", f"time >= {from_ms}ms and time <= {to_ms}ms")
    text = text.replace("$interval", interval_text)
    text = text.replace("$__interval_ms", str(interval_ms))
    return text.replace("$__interval", interval_text)
