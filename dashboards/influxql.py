"""A small InfluxQL builder for dashboard queries.

The Grafana foundation SDK has no InfluxQL model, so panel queries are composed here: every
identifier is double-quoted, every string literal single-quoted and escaped, and the Grafana
macros (``$timeFilter``, ``$__interval``) and template variables are left in place for Grafana
to substitute (see :mod:`dashboards.interpolate` for how it does that).

Names come from the platform vocabulary (docs/glossary.md); nothing typed by a dashboard user
reaches this module, but quoting everything keeps a measurement like ``meter_1d`` or a tag
with an odd character safe either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The project's one InfluxQL quoting (escapes, and refuses a newline, which would end the statement).
from storage.influx import quote_ident as ident
from storage.influx import quote_literal as string

TIME_FILTER = "$timeFilter"
INTERVAL = "$__interval"


def eq(key: str, value: str) -> str:
    """``"key" = 'value'``; the value may hold a Grafana variable such as ``${building}``."""
    return f"{ident(key)} = {string(value)}"


def neq(key: str, value: str) -> str:
    return f"{ident(key)} != {string(value)}"


def matches(key: str, regex: str) -> str:
    """``"key" =~ /regex/``; the pattern is written as is (it may contain template variables)."""
    if "/" in regex.replace("\\/", ""):
        raise ValueError(f"unescaped '/' in regex {regex!r}")
    return f"{ident(key)} =~ /{regex}/"


def agg(fn: str, field_name: str, *args: object, alias: str | None = None, scale: float | None = None) -> str:
    """An aggregate call, optionally scaled and aliased: ``sum("consumption_kwh") * 0.0001229 AS "tce"``."""
    extra = "".join(f", {a}" for a in args)
    expr = f"{fn}({ident(field_name)}{extra})"
    if scale is not None:
        expr = f"{expr} * {number(scale)}"
    return f"{expr} AS {ident(alias)}" if alias else expr


def sums(*field_names: str) -> tuple[str, ...]:
    """``sum("x") AS "x"`` for each field: the name survives aggregation."""
    return tuple(agg("sum", n, alias=n) for n in field_names)


def number(x: float) -> str:
    """A numeric literal without float noise (0.0007143, not 0.0007143000000000001)."""
    return format(x, ".10g") if x != 0 else "0"


def col(field_name: str, alias: str | None = None) -> str:
    """A raw field reference (no aggregate), e.g. in the outer query over a subquery."""
    return f"{ident(field_name)} AS {ident(alias)}" if alias else ident(field_name)


@dataclass(frozen=True)
class Measurement:
    """A measurement in a named retention policy, rendered ``"rollup"."meter_1d"``.

    A plain string source resolves in the database's default policy (the raw data); the
    analytics rollups live in their own policy, so their names must carry it.
    """

    name: str
    retention_policy: str

    def render(self) -> str:
        return f"{ident(self.retention_policy)}.{ident(self.name)}"

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Select:
    """One InfluxQL ``SELECT`` statement.

    ``sources`` are measurement names (default policy), :class:`Measurement` (another policy) or
    nested :class:`Select` statements; several nested
    statements form a union. InfluxDB 1.6 only merges a union's rows when every member
    yields the same field names, so callers pad missing fields (``agg(...) * 0``).
    """

    fields: tuple[str, ...]
    sources: tuple[str | Measurement | Select, ...]
    where: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    time_bucket: str | None = None
    fill: str | None = None
    tz: str | None = None
    limit: int | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def render(self) -> str:
        if not self.fields:
            raise ValueError("a SELECT needs at least one field")
        if not self.sources:
            raise ValueError("a SELECT needs at least one source")
        parts = [f"SELECT {', '.join(self.fields)}", "FROM " + ", ".join(_source(s) for s in self.sources)]
        if self.where:
            parts.append("WHERE " + " AND ".join(_paren(w) for w in self.where))
        groups = ([f"time({self.time_bucket})"] if self.time_bucket else []) + [ident(g) for g in self.group_by]
        if groups:
            parts.append("GROUP BY " + ", ".join(groups))
        if self.fill is not None:
            parts.append(f"fill({self.fill})")
        if self.limit is not None:
            parts.append(f"LIMIT {int(self.limit)}")
        if self.tz is not None:
            parts.append(f"tz({string(self.tz)})")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.render()


def _source(s: str | Measurement | Select) -> str:
    if isinstance(s, Select):
        return f"({s.render()})"
    return s.render() if isinstance(s, Measurement) else ident(s)


def _paren(cond: str) -> str:
    # An OR inside one condition must not bind across the AND that joins conditions.
    return f"({cond})" if " OR " in cond else cond


def any_of(*conditions: str) -> str:
    """Conditions joined with OR (parenthesised when combined with others)."""
    return " OR ".join(conditions)
