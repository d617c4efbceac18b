"""Rooftop PV: generation, self-consumption, export and specific yield (kWh/kWp) by building."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import common as c
from dashboards import indicators as ind
from dashboards.influxql import INTERVAL, TIME_FILTER, Select, agg, eq, sums
from dashboards.panels import (
    DATASOURCE,
    MIN_INTERVAL,
    Grid,
    PanelIds,
    influx,
    reduce_all_values,
    thresholds,
    transformation,
)
from dashboards.titles import t
from dashboards.variables import SELECTED_BUILDINGS, building_type, district

_F = (SELECTED_BUILDINGS,)


def generation_query() -> Select:
    return Select(sums("generation_kwh", "to_grid_kwh"), (c.PV,), (*_F, TIME_FILTER), time_bucket=INTERVAL, fill="0")


def generation_by_building_query() -> Select:
    return Select((agg("sum", "generation_kwh", alias="generation_kwh"),), (c.PV,), (*_F, TIME_FILTER),
                  ("building_code",))


def capacity_query() -> Select:
    return Select((agg("last", "pv_capacity_kwp", alias="pv_capacity_kwp"),), (c.BUILDING_MEASUREMENT,), _F,
                  ("building_code",))


def power_query() -> Select:
    return Select((agg("mean", "power_kw", alias="power_kw"),), (c.PV,),
                  (*_F, eq("device_kind", "pv_inverter"), TIME_FILTER), time_bucket=INTERVAL, fill="null")


def build() -> dm.Dashboard:
    ids, grid = PanelIds(), Grid()
    d = c.new_dashboard(c.PV_UID, t("Rooftop PV"), "Generation, self-consumption, export and specific yield.")
    d.with_variable(district()).with_variable(building_type())
    d.with_panel(timeseries.Panel().id(ids()).title(t("PV generation and export")).datasource(DATASOURCE)
                 .unit(c.KWH).interval(MIN_INTERVAL).draw_style(cm.GraphDrawStyle.BARS).fill_opacity(70)
                 .with_target(influx("A", generation_query()))
                 .grid_pos(grid.place(16, 9)))
    d.with_panel(timeseries.Panel().id(ids()).title(t("PV inverter power")).datasource(DATASOURCE).unit(c.KW)
                 .interval(MIN_INTERVAL).with_target(influx("A", power_query(), alias="power"))
                 .grid_pos(grid.place(8, 9)))
    d.with_panel(bargauge.Panel().id(ids()).title(t("Self-consumption by building"))
                 .description("(generation - export) / generation from the building energy balance; PV "
                              "without a grid meter is self-consumed up to the building's load that day.")
                 .datasource(DATASOURCE).unit(c.SHARE).min(0).max(1)
                 .with_target(influx("A", ind.pv_self_consumption_share(c.BALANCE_1D, _F), table=True))
                 .reduce_options(reduce_all_values())
                 .thresholds(thresholds((None, "orange"), (0.5, "green")))
                 .grid_pos(grid.place(12, 10)))
    d.with_panel(table.Panel().id(ids()).title(t("Specific yield by building"))
                 .description("Generation [kWh] over installed capacity [kWp] from the registry, joined in "
                              "Grafana on building_code.")
                 .datasource(DATASOURCE).unit(c.KWH_PER_KWP)
                 .with_target(influx("A", generation_by_building_query(), table=True))
                 .with_target(influx("B", capacity_query(), table=True))
                 .with_transformation(transformation("joinByField", {"byField": "building_code", "mode": "inner"}))
                 .with_transformation(transformation("calculateField", {
                     "mode": "binary", "alias": "specific_yield_kwh_per_kwp", "replaceFields": False,
                     "binary": {"left": "generation_kwh", "operator": "/", "right": "pv_capacity_kwp"}}))
                 .with_transformation(transformation("sortBy", {"sort": [{"field": "specific_yield_kwh_per_kwp",
                                                                          "desc": True}]}))
                 .with_transformation(transformation("organize", {"includeByName": {
                     "building_code": True, "generation_kwh": True, "pv_capacity_kwp": True,
                     "specific_yield_kwh_per_kwp": True}}))
                 .override_by_name("generation_kwh", [dm.DynamicConfigValue(id_val="unit", value=c.KWH)])
                 .override_by_name("pv_capacity_kwp", [dm.DynamicConfigValue(id_val="unit", value="suffix: kWp")])
                 .grid_pos(grid.place(12, 10)))
    return d.build()
