"""Data quality: offline meters, gaps, ingest's data-quality findings, dead-lettered messages by
reason, and ingest lag."""

from __future__ import annotations

from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import common as c
from dashboards.influxql import INTERVAL, TIME_FILTER, Select, agg
from dashboards.panels import DATASOURCE, Grid, PanelIds, influx, math, reduce_last, thresholds, transformation
from dashboards.titles import t
from dashboards.variables import SELECTED_BUILDINGS, building_type, district, gap_threshold

_F = (SELECTED_BUILDINGS,)
_DEVICE = ("building_code", "device_id")
#: How far back a meter counts as "known" when asking which of them went silent.
KNOWN_WINDOW = "30d"
SILENT_AFTER = "1h"


def devices_seen_query(window: str) -> Select:
    """Number of register devices that reported within ``now() - window``.

    ``interval_s`` is present on every reading derived from a register (meters, PV, piles are
    stored in their own measurements; this counts building meters)."""
    per_device = Select((agg("last", "interval_s", alias="interval_s"),), (c.METER,),
                        (*_F, f"time > now() - {window}"), _DEVICE)
    return Select((agg("count", "interval_s", alias="meters"),), (per_device,))


def last_reading_query() -> Select:
    return Select((agg("last", "interval_s", alias="interval_s"),), (c.METER,),
                  (*_F, f"time > now() - {KNOWN_WINDOW}"), _DEVICE)


def gaps_query() -> Select:
    """Readings that close a gap longer than the chosen threshold, per meter. [count]"""
    return Select((agg("count", "interval_s", alias="gaps"), agg("max", "interval_s", alias="longest_gap_s")),
                  (c.METER,), (*_F, '"interval_s" > ${gap_s}', TIME_FILTER), _DEVICE)


def findings_query() -> Select:
    """Data-quality findings per code and device (contract/quality.py): how many, and the latest
    detail, in the time range."""
    return Select((agg("count", "detail", alias="findings"), agg("last", "detail", alias="last_detail")),
                  (c.DATA_QUALITY,), (*_F, TIME_FILTER), ("code", *_DEVICE))


def deadletter_query() -> Select:
    return Select((agg("count", "topic", alias="messages"),), (c.DEADLETTER,), (TIME_FILTER,), ("reason",),
                  time_bucket=INTERVAL, fill="0")


def lag_query() -> Select:
    return Select((agg("max", "lag_s", alias="lag_s"),), (c.INGEST_STATS,), (TIME_FILTER,), ("client_id",),
                  time_bucket=INTERVAL, fill="null")


def throughput_query() -> Select:
    """Readings written per second per ingest worker, from its cumulative ``written`` counter."""
    return Select(('non_negative_derivative(max("written"), 1s) AS "written_per_s"',), (c.INGEST_STATS,),
                  (TIME_FILTER,), ("client_id",), time_bucket=INTERVAL, fill="null")


def build() -> dm.Dashboard:
    ids, grid = PanelIds(), Grid()
    d = c.new_dashboard(c.QUALITY_UID, t("Data quality"), "Offline meters, gaps, dead-lettered messages, ingest lag.",
                        time_from="now-24h")
    d.with_variable(district()).with_variable(building_type()).with_variable(gap_threshold())
    d.with_panel(stat.Panel().id(ids()).title(t("Meters silent for more than {silent}", silent=SILENT_AFTER))
                 .description(f"Meters that reported in the last {KNOWN_WINDOW} but not in the last "
                              f"{SILENT_AFTER}.")
                 .datasource(DATASOURCE).unit(c.COUNT)
                 .with_target(influx("A", devices_seen_query(KNOWN_WINDOW), hide=True))
                 .with_target(influx("B", devices_seen_query(SILENT_AFTER), hide=True))
                 .with_target(math("C", "$A - $B"))
                 .thresholds(thresholds((None, "green"), (1, "red")))
                 .reduce_options(reduce_last()).grid_pos(grid.place(6, 8)))
    d.with_panel(table.Panel().id(ids()).title(t("Last reading per meter (oldest first)")).datasource(DATASOURCE)
                 .unit(c.SECONDS)
                 .with_target(influx("A", last_reading_query(), table=True))
                 .with_transformation(transformation("sortBy", {"sort": [{"field": "Time", "desc": False}]}))
                 .override_by_name("Time", [dm.DynamicConfigValue(id_val="unit", value="dateTimeFromNow")])
                 .with_override(dm.MatcherConfig(id_val="byName", options="building_code"), [
                     dm.DynamicConfigValue(id_val="links", value=[{"title": "Open building detail",
                                                                  "url": c.building_detail_url()}])])
                 .grid_pos(grid.place(18, 8)))
    d.with_panel(table.Panel().id(ids()).title(t("Gaps longer than the threshold, per meter")).datasource(DATASOURCE)
                 .unit(c.COUNT).with_target(influx("A", gaps_query(), table=True))
                 .override_by_name("longest_gap_s", [dm.DynamicConfigValue(id_val="unit", value=c.SECONDS)])
                 .grid_pos(grid.place(12, 9)))
    d.with_panel(table.Panel().id(ids()).title(t("Data-quality findings per device"))
                 .description("Recorded by ingest: register jitter, backward steps and spikes (held out of the "
                              "sums), resets, rollovers, gaps, stuck registers, unknown devices, clock skew "
                              "(GET /data-quality lists each one).")
                 .datasource(DATASOURCE).unit(c.COUNT).with_target(influx("A", findings_query(), table=True))
                 .with_transformation(transformation("sortBy", {"sort": [{"field": "findings", "desc": True}]}))
                 .grid_pos(grid.place(24, 8)))
    d.with_panel(timeseries.Panel().id(ids()).title(t("Dead-lettered messages by reason")).datasource(DATASOURCE)
                 .unit(c.COUNT).draw_style(cm.GraphDrawStyle.BARS)
                 .with_target(influx("A", deadletter_query(), alias="$tag_reason")).grid_pos(grid.place(12, 9)))
    d.with_panel(timeseries.Panel().id(ids()).title(t("Ingest lag (now - newest reading written)"))
                 .datasource(DATASOURCE).unit(c.SECONDS)
                 .with_target(influx("A", lag_query(), alias="$tag_client_id")).grid_pos(grid.place(12, 8)))
    d.with_panel(timeseries.Panel().id(ids()).title(t("Readings written per second, per ingest worker"))
                 .datasource(DATASOURCE).unit("suffix: readings/s")
                 .with_target(influx("A", throughput_query(), alias="$tag_client_id")).grid_pos(grid.place(12, 8)))
    return d.build()
