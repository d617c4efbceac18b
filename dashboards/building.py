"""Building detail: electricity by sub-item, load profile and base load, gas, water and
heat, intensity against the quota, the building's PV and EV charging, retrofit savings, and data coverage."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import common as c
from dashboards.alerts import open_api_alerts_panel
from dashboards.influxql import INTERVAL, TIME_FILTER, Select, agg, eq, ident, neq
from dashboards.panels import DATASOURCE, MIN_INTERVAL, Grid, PanelIds, influx, math, reduce_last, thresholds
from dashboards.titles import t
from dashboards.variables import THIS_BUILDING, assigned_building, building, building_type, district

_B = (THIS_BUILDING,)


def sub_item_query() -> Select:
    return Select((agg("sum", "consumption_kwh", alias="consumption_kwh"),), (c.METER,),
                  (*_B, eq("carrier", "electricity"), neq("sub_item", "main"), TIME_FILTER),
                  ("sub_item",), time_bucket=INTERVAL, fill="0")


def load_profile_query() -> Select:
    return Select((agg("mean", "power_kw", alias="power_kw"),), (c.METER,),
                  (*_B, eq("carrier", "electricity"), eq("sub_item", "main"), TIME_FILTER),
                  time_bucket=INTERVAL, fill="null")


def base_load_query() -> Select:
    """Base load, taken as the lowest hourly mean of the main meter's power in each local day:
    one spiky or missing reading moves only its hour's mean, and the lowest hour is found without
    knowing the building's opening hours. Not the day's 5th percentile: InfluxDB 1.6 returns no
    percentile(5) for fewer than 10 readings and then drops the panel's whole series, so a range
    that opens late in the evening showed nothing. [kW]"""
    hourly = Select((agg("mean", "power_kw", alias="power_kw"),), (c.METER,),
                    (*_B, eq("carrier", "electricity"), eq("sub_item", "main"), TIME_FILTER), time_bucket="1h")
    return Select((agg("min", "power_kw", alias="base_load_kw"),), (hourly,), (TIME_FILTER,),
                  time_bucket="1d", fill="none", tz=c.TIMEZONE)


def carrier_query(carrier: str, field_name: str) -> Select:
    return Select((agg("sum", field_name, alias=field_name),), (c.METER,),
                  (*_B, eq("carrier", carrier), TIME_FILTER), ("device_id",), time_bucket=INTERVAL, fill="0")


def annual_electricity_query() -> Select:
    """Electricity used (grid import + self-consumed PV, EV charging included) from the balance, as
    analytics' electricity use intensity and the quota compare it. [kWh]"""
    return Select((agg("sum", "electricity_kwh", alias="electricity_kwh"),), (c.BALANCE_1D,), (*_B, TIME_FILTER))


def attribute_query(field_name: str) -> Select:
    return Select((agg("last", field_name, alias=field_name),), (c.BUILDING_MEASUREMENT,), _B)


def pv_query() -> Select:
    return Select((agg("sum", "generation_kwh", alias="generation_kwh"), agg("sum", "to_grid_kwh", alias="to_grid_kwh"),
                   agg("sum", "from_grid_kwh", alias="from_grid_kwh")), (c.PV,), (*_B, TIME_FILTER),
                  time_bucket=INTERVAL, fill="0")


def ev_query() -> Select:
    return Select((agg("sum", "consumption_kwh", alias="charging_kwh"),), (c.EV_PILE,), (*_B, TIME_FILTER),
                  time_bucket=INTERVAL, fill="0")


def retrofit_savings_query() -> Select:
    """Avoided electricity per month of each recorded retrofit and its standard uncertainty (IPMVP
    Option C against the weather-and-calendar baseline, docs/baselines.md). [kWh]"""
    return Select((ident("avoided_kwh"), ident("uncertainty_kwh")), (c.RETROFIT_SAVINGS,),
                  (*_B, eq("carrier", "electricity"), TIME_FILTER), ("retrofit_id",))


def coverage_query() -> Select:
    """Share of the range each meter reported: readings x nominal interval / range. The nominal
    interval is the shortest spacing seen (``min(interval_s)``), so a gap lowers the share. [1]"""
    return Select(('count("interval_s") * min("interval_s") / ${__range_s} AS "coverage"',), (c.METER,),
                  (*_B, TIME_FILTER), ("device_id",))


def _timeseries(ids: PanelIds, title: str, unit: str, pos: dm.GridPos, *, bars: bool = False,
                stacked: bool = False) -> timeseries.Panel:
    p = (timeseries.Panel().id(ids()).title(t(title)).datasource(DATASOURCE).unit(unit).interval(MIN_INTERVAL)
         .grid_pos(pos))
    if bars:
        p = p.draw_style(cm.GraphDrawStyle.BARS).fill_opacity(80)
    if stacked:
        p = p.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    return p


TITLE = "Building energy detail"
DESCRIPTION = ("One building: sub-item electricity, load profile, base load, other carriers, "
               "intensity against the quota, PV, EV charging and data coverage.")


def build(*, uid: str = c.BUILDING_UID, owner: str | None = None, buildings: list[str] | None = None) -> dm.Dashboard:
    """The detail dashboard; with ``buildings``, a facility manager's copy (``owner`` in the
    title): the building choice is that list only (no district or type filter listing the city's
    codes) and no links to the city-wide dashboards, which their team cannot open
    (dashboards/access.py)."""
    ids, grid = PanelIds(), Grid()
    d = c.new_dashboard(uid, t(TITLE) + (f": {owner}" if owner else ""), DESCRIPTION)
    if buildings is None:
        d.with_variable(district()).with_variable(building_type()).with_variable(building())
    else:
        d.with_variable(assigned_building(buildings)).links([]).tags(["energy", "public-buildings",
                                                                      "facility-manager"])

    d.with_panel(_timeseries(ids, "Electricity by sub-item", c.KWH, grid.place(12, 9), bars=True, stacked=True)
                 .description("Interval energy of the sub-meters (MOHURD 2008 sub-items).")
                 .with_target(influx("A", sub_item_query(), alias="$tag_sub_item")))
    d.with_panel(_timeseries(ids, "Load profile (main meter)", c.KW, grid.place(12, 9))
                 .with_target(influx("A", load_profile_query(), alias="power")))
    d.with_panel(_timeseries(ids, "Base load (lowest hourly mean power of the day)", c.KW, grid.place(8, 8),
                             bars=True).with_target(influx("A", base_load_query(), alias="base load")))
    for title, carrier, field_name, unit in (("Natural gas", "natural_gas", "consumption_m3", c.M3),
                                             ("Water", "water", "consumption_m3", c.M3),
                                             ("District heat", "district_heat", "consumption_kwh", c.KWH)):
        d.with_panel(_timeseries(ids, title, unit, grid.place(8 if carrier == "district_heat" else 4, 8),
                                 bars=True)
                     .with_target(influx("A", carrier_query(carrier, field_name), alias="$tag_device_id")))

    eui = (stat.Panel().id(ids()).title(t("Electricity use intensity, last 12 months, vs quota"))
           .description("Electricity used (building energy balance) over the registry floor area (EUI), "
                        "shown beside the quota constraint value of the building's type and climate zone "
                        "(QUOTA), which sync-buildings copies from the quota table (never its EXAMPLE rows).")
           .datasource(DATASOURCE).unit(c.KWH_PER_M2).time_from("1y")
           .with_target(influx("A", annual_electricity_query(), hide=True))
           .with_target(influx("B", attribute_query("floor_area_m2"), hide=True))
           .with_target(influx("Q", attribute_query("quota_constraint_kwh_per_m2"), hide=True))
           .with_target(math("EUI", "$A / $B")).with_target(math("QUOTA", "$Q"))
           .reduce_options(reduce_last()).grid_pos(grid.place(8, 6)))
    d.with_panel(eui)
    d.with_panel(_timeseries(ids, "Rooftop PV of this building", c.KWH, grid.place(8, 6), bars=True)
                 .with_target(influx("A", pv_query())))
    d.with_panel(_timeseries(ids, "EV charging energy of this building", c.KWH, grid.place(8, 6), bars=True)
                 .with_target(influx("A", ev_query(), alias="charging")))
    d.with_panel(_timeseries(ids, "Retrofit savings: avoided electricity per month", c.KWH, grid.place(24, 7),
                             bars=True)
                 .description("Baseline-predicted minus measured electricity after each recorded retrofit "
                              "(the baseline explains use by the station's temperature and China's calendar), "
                              "with its standard uncertainty (68 %). Figures from the weekly baselines job; "
                              "the API route /buildings/{code}/retrofits/{id}/savings gives the status when "
                              "there are none.")
                 .with_target(influx("A", retrofit_savings_query(), alias="$col retrofit $tag_retrofit_id")))
    d.with_panel(open_api_alerts_panel(ids(), THIS_BUILDING, grid.place(24, 6)))
    d.with_panel(table.Panel().id(ids()).title(t("Data coverage per meter")).datasource(DATASOURCE).unit(c.SHARE)
                 .description("Readings x nominal interval / time range; 100% = no gap.")
                 .with_target(influx("A", coverage_query(), table=True))
                 .thresholds(thresholds((None, "red"), (0.9, "orange"), (0.98, "green")))
                 .grid_pos(grid.place(24, 6)))
    return d.build()
