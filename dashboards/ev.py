"""EV charging: sessions, energy, power, utilization per pile and the PV ("green") share."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import common as c
from dashboards.influxql import INTERVAL, TIME_FILTER, Select, agg, eq
from dashboards.panels import (
    DATASOURCE,
    MIN_INTERVAL,
    Grid,
    PanelIds,
    influx,
    reduce_all_values,
    reduce_last,
    thresholds,
)
from dashboards.titles import t
from dashboards.variables import SELECTED_BUILDINGS, building_type, district

_F = (SELECTED_BUILDINGS,)
_STOP = eq("event", "stop")  # energy_kwh and pv_energy_kwh are sent with the stop record


def sessions_query() -> Select:
    return Select((agg("count", "energy_kwh", alias="sessions"),), (c.EV_SESSION,), (*_F, _STOP, TIME_FILTER),
                  time_bucket=INTERVAL, fill="0")


def session_energy_query() -> Select:
    return Select((agg("sum", "energy_kwh", alias="energy_kwh"), agg("sum", "pv_energy_kwh", alias="pv_energy_kwh")),
                  (c.EV_SESSION,), (*_F, _STOP, TIME_FILTER), time_bucket=INTERVAL, fill="0")


def power_query() -> Select:
    """Total charging power: each pile's mean per bucket first, so piles reporting at different
    instants still add up. [kW]"""
    per_pile = Select((agg("mean", "power_kw", alias="power_kw"),), (c.EV_PILE,), (*_F, TIME_FILTER),
                      ("building_code", "device_id"), time_bucket=INTERVAL)
    return Select((agg("sum", "power_kw", alias="power_kw"),), (per_pile,), (TIME_FILTER,), time_bucket=INTERVAL,
                  fill="null")


def utilization_query() -> Select:
    """Per pile: share of status reports that say ``charging``. [1]

    A union of two counts over the same measurement; both members yield both fields (one of
    them zeroed), because InfluxDB 1.6 drops a field that only a later union member has.
    """
    group = ("building_code", "device_id")
    charging = Select((agg("count", "status", alias="charging"), agg("count", "status", alias="reports", scale=0)),
                      (c.EV_PILE,), (*_F, eq("status", "charging"), TIME_FILTER), group)
    every = Select((agg("count", "status", alias="charging", scale=0), agg("count", "status", alias="reports")),
                   (c.EV_PILE,), (*_F, TIME_FILTER), group)
    sums = Select((agg("sum", "charging", alias="charging"), agg("sum", "reports", alias="reports")),
                  (charging, every), group_by=group)
    return Select(('"charging" / "reports" AS "utilization"',), (sums,), group_by=group)


def green_share_query() -> Select:
    """Charging energy met by on-site PV over all charging energy, finished sessions. [1]"""
    return Select(('sum("pv_energy_kwh") / sum("energy_kwh") AS "green_share"',), (c.EV_SESSION,),
                  (*_F, _STOP, TIME_FILTER))


def build() -> dm.Dashboard:
    ids, grid = PanelIds(), Grid()
    d = c.new_dashboard(c.EV_UID, t("EV charging"), "Charging sessions, energy, power, pile utilization and PV share.")
    d.with_variable(district()).with_variable(building_type())
    d.with_panel(timeseries.Panel().id(ids()).title(t("Finished charging sessions")).datasource(DATASOURCE)
                 .unit(c.COUNT).interval(MIN_INTERVAL).draw_style(cm.GraphDrawStyle.BARS)
                 .with_target(influx("A", sessions_query(), alias="sessions")).grid_pos(grid.place(12, 8)))
    d.with_panel(timeseries.Panel().id(ids()).title(t("Charging energy and its PV part")).datasource(DATASOURCE)
                 .unit(c.KWH).interval(MIN_INTERVAL).draw_style(cm.GraphDrawStyle.BARS)
                 .with_target(influx("A", session_energy_query())).grid_pos(grid.place(12, 8)))
    d.with_panel(timeseries.Panel().id(ids()).title(t("Charging power, all piles")).datasource(DATASOURCE)
                 .unit(c.KW).interval(MIN_INTERVAL).with_target(influx("A", power_query(), alias="power"))
                 .grid_pos(grid.place(12, 8)))
    d.with_panel(stat.Panel().id(ids()).title(t("PV (green) share of charging energy")).datasource(DATASOURCE)
                 .unit(c.SHARE).with_target(influx("A", green_share_query()))
                 .reduce_options(reduce_last()).grid_pos(grid.place(12, 8)))
    d.with_panel(bargauge.Panel().id(ids()).title(t("Utilization per pile (share of time charging)"))
                 .datasource(DATASOURCE).unit(c.SHARE).min(0).max(1)
                 .with_target(influx("A", utilization_query(), table=True))
                 .thresholds(thresholds((None, "blue"), (0.3, "green"), (0.8, "orange")))
                 .reduce_options(reduce_all_values()).grid_pos(grid.place(24, 10)))
    return d.build()
