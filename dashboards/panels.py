"""Panel building blocks on top of the Grafana foundation SDK: the InfluxQL target type the
SDK lacks, the provisioned data source, server-side math expressions, and a grid that places
panels row by row so positions never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as dm

from dashboards.influxql import Select

#: uid of the InfluxDB (InfluxQL) data source, fixed in deploy/grafana/provisioning/datasources.
DATASOURCE_UID = "energy-influxdb"
DATASOURCE_TYPE = "influxdb"
#: Grafana's server-side expression pseudo data source.
EXPR_UID = "__expr__"
#: The national guideline's collection interval: panels never bucket finer than the data.
MIN_INTERVAL = "15m"

DATASOURCE = dm.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
EXPR_DATASOURCE = dm.DataSourceRef(type_val="__expr__", uid=EXPR_UID)


class InfluxQLQuery(cogvariants.Dataquery):
    """A raw InfluxQL target as Grafana's InfluxDB data source stores it."""

    def __init__(self, ref_id: str, query: str, result_format: str, alias: str | None, hide: bool) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": DATASOURCE.to_json(),
            "rawQuery": True,
            "query": self.query,
            "resultFormat": self.result_format,
        }
        if self.alias:
            out["alias"] = self.alias
        if self.hide:
            out["hide"] = True
        return out


class MathExpression(cogvariants.Dataquery):
    """A Grafana server-side math expression over other targets, e.g. ``$A / $B``."""

    def __init__(self, ref_id: str, expression: str) -> None:
        self.ref_id = ref_id
        self.expression = expression

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": EXPR_DATASOURCE.to_json(), "type": "math",
                "expression": self.expression}


class _Built(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, query: cogvariants.Dataquery) -> None:
        self._query = query

    def build(self) -> cogvariants.Dataquery:
        return self._query


def influx(ref_id: str, query: Select | str, *, table: bool = False, alias: str | None = None,
           hide: bool = False) -> _Built:
    """A target for a panel; ``table=True`` asks Grafana for one row per series (tables, bars)."""
    text = query.render() if isinstance(query, Select) else query
    return _Built(InfluxQLQuery(ref_id, text, "table" if table else "time_series", alias, hide))


def math(ref_id: str, expression: str) -> _Built:
    return _Built(MathExpression(ref_id, expression))


def thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    """Absolute thresholds; the first step's value is ``None`` (the base colour)."""
    return (db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
            .steps([dm.Threshold(value=v, color=c) for v, c in steps]))


def reduce_last() -> cb.ReduceDataOptions:
    return cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def reduce_all_values() -> cb.ReduceDataOptions:
    return cb.ReduceDataOptions().calcs([]).values(True)


def transformation(id_val: str, options: dict) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val=id_val, options=options)


def dashboard_link(title: str, uid: str, *, tooltip: str) -> db.DashboardLink:
    """A link to another dashboard that carries the time range and variables across."""
    return (db.DashboardLink(title).type(dm.DashboardLinkType.LINK).url(f"/d/{uid}")
            .tooltip(tooltip).icon("dashboard").include_vars(True).keep_time(True).target_blank(False))


@dataclass
class Grid:
    """Places panels left to right in rows of 24 columns; a new row starts where the tallest
    panel of the previous row ends, so no two panels overlap."""

    x: int = 0
    y: int = 0
    row_h: int = 0

    def place(self, w: int, h: int) -> dm.GridPos:
        if not 1 <= w <= 24:
            raise ValueError(f"panel width must be 1..24 grid columns, got {w}")
        if self.x + w > 24:
            self.newline()
        pos = dm.GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def newline(self) -> None:
        self.y += self.row_h
        self.x = 0
        self.row_h = 0


class PanelIds:
    """Sequential panel ids, unique within a dashboard."""

    def __init__(self) -> None:
        self._next = 1

    def __call__(self) -> int:
        n = self._next
        self._next += 1
        return n
