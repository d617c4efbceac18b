"""Disclosure figures from an analytics balance, checked against a worked example.

Building A (office, Sichuan 510402, 10 000 m2, 400 people) in 2025: grid import 1 000 000 kWh,
PV 100 000 kWh generated of which 20 000 kWh exported, natural gas 50 000 m3. Building B (office,
5 000 m2): grid import 200 000 kWh only. Factors: GB/T 2589-2020 equivalent basis 0.1229
kgce/kWh, natural gas 1.2143 kgce/m3; Sichuan grid factor 0.1404 kgCO2/kWh (2022, latest <= 2025).
"""

from __future__ import annotations

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from api.disclosure.assemble import BuildingFacts, build_figures

A, B, C = "510402A001", "510402A002", "510402C001"
FACTS = [
    BuildingFacts(A, "市政府办公楼", "市中区", "office", "state_organ_office", "hot_summer_cold_winter", 10_000.0, 400),
    BuildingFacts(B, "区档案馆", "市中区", "office", "state_organ_office", "hot_summer_cold_winter", 5_000.0, 0),
    BuildingFacts(C, "宾馆", "五通桥区", "hotel", "large_public", "hot_summer_cold_winter", 8_000.0, 50),
]
BALANCE_2025 = pd.DataFrame({
    "electricity_from_grid_kwh": {A: 1_000_000.0, B: 200_000.0},
    "pv_generation_kwh": {A: 100_000.0, B: 0.0},
    "pv_to_grid_kwh": {A: 20_000.0, B: 0.0},
    "natural_gas_m3": {A: 50_000.0, B: 0.0},
    "lighting_sockets_kwh": {A: 300_000.0, B: 80_000.0},
    "hvac_kwh": {A: 500_000.0, B: 70_000.0},
    "power_kwh": {A: 200_000.0, B: 30_000.0},
    "special_kwh": {A: 80_000.0, B: 20_000.0},
    "readings": {A: 35_040 * 4, B: 35_040 * 2},
    "expected_readings": {A: 35_040 * 5, B: 35_040 * 2},
})
BALANCE_2024 = pd.DataFrame({"electricity_from_grid_kwh": {A: 900_000.0}, "natural_gas_m3": {A: 50_000.0}})
MONTHS = {A: {"hvac": tuple(float(m) for m in range(1, 13))}}


@pytest.fixture(scope="module")
def figs():
    out = build_figures(year=2025, buildings=FACTS, balance=BALANCE_2025, monthly_sub_items_kwh=MONTHS,
                        previous_balance=BALANCE_2024)
    return {f.building_code: f for f in out}


def test_build_figures_energy_worked_example(figs):
    a = figs[A]
    assert_allclose(a.electricity_kwh, 1_080_000)  # 1 000 000 grid + (100 000 - 20 000) self-consumed PV
    carriers = {c.carrier: c for c in a.carriers}
    assert_allclose(carriers["electricity"].energy_tce, 132.732)  # 1 080 000 kWh * 0.1229 kgce/kWh / 1000
    assert_allclose(carriers["natural_gas"].energy_tce, 60.715)  # 50 000 m3 * 1.2143 kgce/m3 / 1000
    assert carriers["natural_gas"].unit == "m3"
    assert_allclose(a.energy_tce, 193.447)  # 132.732 + 60.715
    assert_allclose(a.electrification_share, 132.732 / 193.447)
    assert_allclose(a.renewable_substitution_rate, 80_000 * 0.1229 / 1000 / 193.447)  # self-consumed PV tce / E
    assert a.conversion_basis == "equivalent_gbt2589"
    assert a.factor_table_version == "gbt2589-2020.v1"


def test_build_figures_intensity_quota_rank(figs):
    a, b = figs[A], figs[B]
    assert_allclose(a.intensity_kgce_per_m2, 19.3447)  # 193 447 kgce / 10 000 m2
    assert_allclose(a.intensity_kwh_per_m2, 108.0)  # 1 080 000 kWh / 10 000 m2
    assert_allclose(a.intensity_kgce_per_person, 483.6175)  # 193 447 kgce / 400 people
    assert b.intensity_kgce_per_person is None  # no occupants: NaN in analytics, None in the snapshot
    # Example office quota (hot summer / cold winter): guide 80, constraint 110 kWh/m2; 80 < 108 <= 110.
    assert (a.quota_guide_kwh_per_m2, a.quota_constraint_kwh_per_m2) == (80.0, 110.0)
    assert a.quota_status == "above_guide"
    assert b.quota_status == "within_guide"  # 200 000 kWh / 5 000 m2 = 40 kWh/m2
    # B: 200 000 * 0.1229 / 5 000 = 4.916 kgce/m2 < A's 19.3447: B is the better office.
    assert (b.rank_in_type, b.rank_of) == (1, 2)
    assert (a.rank_in_type, a.rank_of) == (2, 2)


def test_build_figures_carbon_pv_audit_yoy_coverage(figs):
    a = figs[A]
    assert_allclose(a.carbon_tco2, 140.4)  # 1 000 000 kWh grid import * 0.1404 kgCO2/kWh (Sichuan) / 1000
    assert a.grid_emission_factor_kgco2_per_kwh == 0.1404
    assert "2022" in a.emission_factor_source and "CN-51" in a.emission_factor_source
    assert_allclose(a.pv.self_consumption, 0.8)  # (100 000 - 20 000) / 100 000
    assert_allclose(a.pv.self_sufficiency, 80_000 / 1_080_000)
    assert a.ev is None and figs[B].pv is None
    assert a.audit_required is False and a.audit_triggered_by == "none"  # 193 tce < 1000, 1.08 GWh < 5 GWh
    assert_allclose(a.previous_energy_tce, 171.325)  # 900 000 * 0.1229 / 1000 + 60.715
    assert_allclose(a.yoy_change, (193.447 - 171.325) / 171.325)
    assert figs[B].yoy_change is None  # no 2024 data for B
    assert (a.coverage.received_intervals, a.coverage.expected_intervals) == (140_160, 175_200)
    assert_allclose(a.coverage.fraction, 0.8)  # 4 of 5 meters complete
    assert a.electricity_by_sub_item_kwh["hvac"] == 500_000.0
    assert a.monthly_electricity_by_sub_item_kwh["hvac"] == tuple(float(m) for m in range(1, 13))
    assert a.monthly_electricity_by_sub_item_kwh["power"] == (0.0,) * 12


def test_build_figures_building_without_data_is_disclosed_with_zero_coverage(figs):
    c = figs[C]
    assert c.energy_tce == 0.0 and c.coverage.fraction == 0.0
    assert c.electrification_share is None  # 0 / 0
    assert (c.rank_in_type, c.rank_of) == (1, 1)


def test_build_figures_audit_threshold_at_5_million_kwh():
    big = pd.DataFrame({"electricity_from_grid_kwh": {A: 5_000_000.0}})
    (f,) = build_figures(year=2025, buildings=FACTS[:1], balance=big, monthly_sub_items_kwh={})
    # 5 000 000 kWh * 0.1229 = 614.5 tce < 1000, but the electricity test holds at exactly 5 GWh.
    assert_allclose(f.energy_tce, 614.5)
    assert f.audit_required is True and f.audit_triggered_by == "electricity"
