"""The registry attributes written for the dashboards, and the dashboard coal factors against the
analytics factor table (the two must never disagree)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from dashboards.attributes import building_point, load_quota
from dashboards.indicators import COAL_FACTORS
from tests.dashboards import fleet_data

ANALYTICS_FACTORS = Path(__file__).resolve().parents[2] / "analytics" / "data" / "coal_factors.csv"


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
    f.write_text("building_type,climate_zone,metric,constraint_value,guide_value\n"
                 "office,cold,electricity_kwh_per_m2,110,80\n"
                 "mall,cold,electricity_kwh_per_m2,lots,180\n")
    with pytest.raises(ValueError, match=r"line 3: bad quota row"):
        load_quota(f)


def test_coal_factors_match_the_analytics_table():
    if not ANALYTICS_FACTORS.exists():
        pytest.skip(f"{ANALYTICS_FACTORS} not present (analytics ships it)")
    with open(ANALYTICS_FACTORS, newline="") as f:
        rows = list(csv.DictReader(f))
    table = {r["carrier"]: float(r["factor"]) for r in rows
             if r["basis"] in ("*", "equivalent_gbt2589") and r["region"] == "CN"}
    for fac in COAL_FACTORS:
        assert fac.kgce_per_unit == pytest.approx(table[fac.carrier.value], rel=1e-12), fac.carrier
