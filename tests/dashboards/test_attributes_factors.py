"""The registry attributes written for the dashboards, and the dashboard coal factors against the
analytics factor table (the two must never disagree)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from contract.vocabulary import Carrier
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


def test_coal_factors_match_the_analytics_table_both_ways():
    # The table ships with the repository: missing is a failure, never a skip.
    assert ANALYTICS_FACTORS.exists(), f"{ANALYTICS_FACTORS} is missing"
    with open(ANALYTICS_FACTORS, newline="") as f:
        rows = list(csv.DictReader(f))
    national = {r["carrier"]: r for r in rows if r["basis"] in ("*", "equivalent_gbt2589") and r["region"] == "CN"}
    dashboards = {fac.carrier.value: fac for fac in COAL_FACTORS}
    # Dashboards -> table: every factor a dashboard query multiplies by is the table's.
    for carrier, fac in dashboards.items():
        assert carrier in national, f"{carrier}: in the dashboards, not in {ANALYTICS_FACTORS.name}"
        assert fac.kgce_per_unit == pytest.approx(float(national[carrier]["factor"]), rel=1e-12), carrier
        # Same unit: kgce per the unit of the stored field (consumption_kwh -> kgce/kWh).
        assert national[carrier]["unit"].lower() == "kgce/" + fac.field.rsplit("_", 1)[1], carrier
    # Table -> dashboards: every metered carrier of the table is converted on the dashboards too,
    # or the dashboards' tce would leave its energy out. Renewable heat is not a meter carrier
    # (contract.vocabulary.Carrier): analytics adds it from its own inputs, Grafana cannot.
    metered = {c.value for c in Carrier}
    assert {c for c in national if c in metered} == set(dashboards)
    assert set(national) - metered == {"renewable_heat"}
