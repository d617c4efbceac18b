"""The registry attributes written for the dashboards, and the coal factors the queries carry (read
from the analytics factor table, the one home)."""

from __future__ import annotations

import pytest

from analytics.tables import coal_factors
from dashboards.attributes import DEFAULT_QUOTA_CSV, building_point, load_quota
from dashboards.indicators import energy_by_building, tce_per_unit
from tests.dashboards import fleet_data


def test_building_point_carries_registry_attributes_and_quota():
    b = fleet_data.fleet().buildings[0]  # 510402A001, office, 1000 m2, 20 kWp, one 7 kW pile
    line = building_point(b, {("office", "hot_summer_cold_winter"): (110.0, 80.0)}, 1_700_000_000_000)
    assert line == (
        "building,building_code=510402A001,building_type=office,climate_zone=hot_summer_cold_winter,"
        "district=Shizhong,ownership=other ev_piles=1i,ev_rated_power_kw=7,floor_area_m2=1000,occupants=0i,"
        "pv_capacity_kwp=20,quota_constraint_kwh_per_m2=110,quota_guide_kwh_per_m2=80 1700000000000")
    assert "quota" not in building_point(b, {}, 0)  # no quota row: no quota field, not a zero


def test_quota_table_errors_name_the_line(tmp_path):
    f = tmp_path / "quota.csv"
    f.write_text("building_type,climate_zone,metric,constraint_value,guide_value,source,verified\n"
                 "office,cold,electricity_kwh_per_m2,110,80,City standard,yes\n"
                 "mall,cold,electricity_kwh_per_m2,lots,180,City standard,yes\n")
    with pytest.raises(ValueError, match=r"line 3: constraint_value 'lots' is not a number"):
        load_quota(f)


def test_example_quota_rows_are_never_synced(tmp_path):
    assert load_quota(DEFAULT_QUOTA_CSV) == {}  # the shipped table holds EXAMPLE values only
    f = tmp_path / "quota.csv"
    f.write_text("building_type,climate_zone,metric,constraint_value,guide_value,source,verified\n"
                 "office,cold,electricity_kwh_per_m2,110,80,City standard 2026,yes\n"
                 "mall,cold,electricity_kwh_per_m2,240,180,EXAMPLE VALUE - replace,no\n")
    assert load_quota(f) == {("office", "cold"): (110.0, 80.0)}


def test_queries_carry_the_analytics_factor_table():
    # GB/T 2589-2020, equivalent basis, analytics/data/coal_factors.csv: 0.1229 kgce/kWh electricity,
    # 1.2143 kgce/m3 natural gas -> tce per unit 0.0001229 and 0.0012143 in the rendered query
    q = energy_by_building("building_1d", ()).render()
    assert 'sum("electricity_kwh") * 0.0001229' in q and 'sum("natural_gas_m3") * 0.0012143' in q
    assert tce_per_unit()["electricity_kwh"] == pytest.approx(coal_factors().factor("electricity") / 1000)
