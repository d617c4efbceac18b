"""City supervision overview: buildings by district and type, the audit list, top consumers by
energy and by intensity, electrification share and renewable substitution against the plan
targets, and the open alerts."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, gauge, stat, table
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from contract.vocabulary import BuildingType
from dashboards import common as c
from dashboards import indicators as ind
from dashboards.alerts import open_api_alerts_panel
from dashboards.influxql import Select, agg, col, matches
from dashboards.panels import (
    DATASOURCE,
    Grid,
    PanelIds,
    influx,
    math,
    reduce_all_values,
    reduce_last,
    thresholds,
    transformation,
)
from dashboards.titles import t
from dashboards.variables import SELECTED_BUILDINGS, building_type, district

_F = (SELECTED_BUILDINGS,)


def _link_override(field: str) -> tuple[dm.MatcherConfig, list[dm.DynamicConfigValue]]:
    link = {"title": "Open building detail", "url": c.building_detail_url()}
    return dm.MatcherConfig(id_val="byName", options=field), [dm.DynamicConfigValue(id_val="links", value=[link])]


def buildings_by_type_query(letter: str) -> Select:
    """Number of buildings of one type letter in the (repeated) district that reported any reading."""
    inner = Select((agg("sum", "readings", alias="readings"),), (c.BALANCE_1D,),
                   (matches("building_code", f"^${{district}}{letter}[0-9]{{3}}$"), '"readings" > 0',
                    "$timeFilter"), ("building_code",))
    return Select((agg("count", "readings", alias=BuildingType[letter].value),), (inner,))


def floor_area_query() -> Select:
    """Floor area per building from the registry copy (no time filter: attributes are timeless)."""
    return Select((agg("last", "floor_area_m2", alias="floor_area_m2"),), (c.BUILDING_MEASUREMENT,), _F,
                  ("building_code",))


def build() -> dm.Dashboard:
    ids, grid = PanelIds(), Grid()
    d = c.new_dashboard(c.OVERVIEW_UID, t("City energy supervision overview"),
                        "Public buildings of the selected districts and types: audit list, top consumers, "
                        "electrification and renewable substitution against the plan targets.",
                        time_from="now-1y")
    d.with_variable(district()).with_variable(building_type())

    by_type = (bargauge.Panel().id(ids()).title(t("Buildings reporting in district $district, by type"))
               .description("Buildings whose main electricity meter reported in the range, per MOHURD type letter.")
               .datasource(DATASOURCE).unit(c.COUNT).repeat("district").repeat_direction("h").max_per_row(4)
               .reduce_options(reduce_last()).grid_pos(grid.place(24, 6)))
    for i, letter in enumerate("ABCDEFGH"):
        by_type.with_target(influx(chr(ord("A") + i), buildings_by_type_query(letter), table=True))
    d.with_panel(by_type)

    audit = (table.Panel().id(ids()).title(t("Audit list: electricity >= {kwh} kWh or energy >= {tce} tce",
                                             kwh=f"{ind.AUDIT_ELECTRICITY_KWH:,}", tce=ind.AUDIT_ENERGY_TCE))
             .description("Either test triggers an audit (Leshan plan). A red cell marks the test that "
                          "triggered; *_of_threshold says by how much (>= 100 %). The building energy balance "
                          "over the panel's last 12 months; electricity used = grid import + self-consumed "
                          "PV (EV charging included); tce on the GB/T 2589-2020 equivalent basis. Measured "
                          "use only: the API's /audit adds the year-end projection and the coverage.")
             .datasource(DATASOURCE).time_from("1y").unit(c.KWH)
             .with_target(influx("A", ind.audit_list(c.BALANCE_1D, _F), table=True))
             .with_override(*_link_override("building_code"))
             .override_by_name("electricity_kwh", [
                 dm.DynamicConfigValue(id_val="thresholds", value=thresholds(
                     (None, "green"), (ind.AUDIT_ELECTRICITY_KWH, "red")).build()),
                 dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"})])
             .override_by_name("energy_tce", [
                 dm.DynamicConfigValue(id_val="unit", value=c.TCE),
                 dm.DynamicConfigValue(id_val="thresholds", value=thresholds(
                     (None, "green"), (ind.AUDIT_ENERGY_TCE, "red")).build()),
                 dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"})])
             .override_by_regexp(".*_of_threshold", [
                 dm.DynamicConfigValue(id_val="unit", value=c.SHARE),
                 dm.DynamicConfigValue(id_val="thresholds", value=thresholds((None, "green"), (1, "red")).build()),
                 dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"})])
             .with_transformation(transformation("organize", {"excludeByName": {"Time": True}}))
             .grid_pos(grid.place(12, 10)))
    d.with_panel(audit)

    by_building = ind.energy_by_building(c.BALANCE_1D, _F)
    top_kwh = (bargauge.Panel().id(ids()).title(t("Top 10 by grid electricity")).datasource(DATASOURCE).unit(c.KWH)
               .with_target(influx("A", ind.top_by("electricity_from_grid_kwh", by_building), table=True))
               .reduce_options(reduce_all_values()).with_override(*_link_override("building_code"))
               .grid_pos(grid.place(6, 10)))
    top_tce = (bargauge.Panel().id(ids()).title(t("Top 10 by energy (tce)")).datasource(DATASOURCE).unit(c.TCE)
               .with_target(influx("A", ind.top_by("energy_tce", ind.energy_by_building(c.BALANCE_1D, _F)),
                                   table=True))
               .reduce_options(reduce_all_values()).grid_pos(grid.place(6, 10)))
    d.with_panel(top_kwh).with_panel(top_tce)

    kgce = Select((col("energy_tce"), '"energy_tce" * 1000 AS "energy_kgce"'),
                  (ind.energy_by_building(c.BALANCE_1D, _F),), group_by=("building_code",))
    intensity = (table.Panel().id(ids()).title(t("Top 10 by energy use intensity"))
                 .description("Energy [kgce] over floor area [m²] from the building registry, joined in Grafana "
                              "on building_code.")
                 .datasource(DATASOURCE).unit(c.KGCE_PER_M2)
                 .with_target(influx("A", kgce, table=True))
                 .with_target(influx("B", floor_area_query(), table=True))
                 .with_transformation(transformation("joinByField", {"byField": "building_code", "mode": "inner"}))
                 .with_transformation(transformation("calculateField", {
                     "mode": "binary", "alias": "intensity_kgce_per_m2", "replaceFields": False,
                     "binary": {"left": "energy_kgce", "operator": "/", "right": "floor_area_m2"}}))
                 .with_transformation(transformation("sortBy", {"sort": [{"field": "intensity_kgce_per_m2",
                                                                          "desc": True}]}))
                 .with_transformation(transformation("limit", {"limitField": 10}))
                 .with_transformation(transformation("organize", {"includeByName": {
                     "building_code": True, "intensity_kgce_per_m2": True}}))
                 .with_override(*_link_override("building_code"))
                 .grid_pos(grid.place(8, 10)))
    d.with_panel(intensity)

    grid_tce, fuel, pv_self, heat = ind.shares_parts(c.BALANCE_1D, _F)
    for title, expr, target, unit_w in (
        ("Electrification share (target {pct}% by 2030)", ind.electrification_expression("A", "B", "C"),
         ind.ELECTRIFICATION_TARGET_2030, 8),
        ("Renewable substitution rate (target {pct}% by 2030)", ind.renewable_expression("A", "B", "C", "H"),
         ind.RENEWABLE_TARGET_2030, 8),
    ):
        # The plan's target, from the plan table (analytics/data), shown as a whole percent.
        g = (gauge.Panel().id(ids()).title(t(title, pct=f"{target * 100:g}"))
             .description("From the building energy balance: electricity = grid import + PV self-consumed "
                          "(EV charging included); energy = electricity + gas, heat and fuels, all in tce "
                          "(GB/T 2589-2020 equivalent basis). Exported PV is not counted.")
             .datasource(DATASOURCE).unit(c.SHARE).min(0).max(1)
             .with_target(influx("A", grid_tce, hide=True))
             .with_target(influx("B", fuel, hide=True))
             .with_target(influx("C", pv_self, hide=True))
             .with_target(influx("H", heat, hide=True))
             .with_target(math("D", expr))
             .thresholds(thresholds((None, "red"), (target, "green")))
             .reduce_options(reduce_last()).grid_pos(grid.place(unit_w, 10)))
        d.with_panel(g)

    alerts = (db.Panel().id(ids()).type("alertlist").title(t("Open alerts (audit threshold)"))
              .description("Grafana alert rules of the energy-supervision folder that are firing or pending.")
              .unit(c.COUNT)
              .options({"viewMode": "list", "groupMode": "default", "maxItems": 20, "sortOrder": 1,
                        "stateFilter": {"firing": True, "pending": True, "noData": False, "normal": False,
                                        "error": True},
                        "alertInstanceLabelFilter": "", "folder": {"uid": c.FOLDER_UID}, "showInstances": True})
              .grid_pos(grid.place(8, 10)))
    d.with_panel(alerts)
    d.with_panel(open_api_alerts_panel(ids(), SELECTED_BUILDINGS, grid.place(24, 8)))
    stat_total = (stat.Panel().id(ids()).title(t("Energy of the selected buildings")).datasource(DATASOURCE)
                  .unit(c.TCE).with_target(influx("A", Select((agg("sum", "energy_tce", alias="energy_tce"),),
                                                              (ind.energy_by_building(c.BALANCE_1D, _F),))))
                  .reduce_options(reduce_last()).grid_pos(grid.place(24, 4)))
    d.with_panel(stat_total)
    return d.build()
