"""Worked examples for tce, the audit tests and the projection (arithmetic beside each assertion)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analytics.audit import MIN_COVERAGE, Verdict, audit_tests, audit_verdict, project_to_year_end
from analytics.energy import electrification_share, energy_tce, renewable_substitution_rate
from analytics.tables import coal_factors

F_EL = 0.1229  # kgce/kWh, GB/T 2589-2020 calorific equivalent
F_GAS = 1.2143  # kgce/m3


def test_issue_example_office_with_gas_is_below_both_tests():
    r = energy_tce({"electricity_from_grid_kwh": 4_200_000, "natural_gas_m3": 300_000})
    assert_allclose(r.electricity_tce, 516.18, atol=1e-9)  # 4,200,000 kWh x 0.1229 kgce/kWh / 1000
    assert_allclose(r.fuels_tce["natural_gas"], 364.29, atol=1e-9)  # 300,000 m3 x 1.2143 / 1000
    assert_allclose(r.energy_tce, 880.47, atol=1e-9)  # 516.18 + 364.29
    assert (r.basis, r.table_version) == ("equivalent_gbt2589", "gbt2589-2020.v1")
    a = audit_tests(r.energy_tce, r.electricity_kwh)
    assert a.triggered is False and a.triggered_by == "none"
    assert_allclose(a.energy_excess_tce, -119.53, atol=1e-9)  # 880.47 - 1000
    assert_allclose(a.electricity_excess_kwh, -800_000)  # 4,200,000 - 5,000,000


def test_equal_value_basis_is_recorded_and_changes_only_electricity():
    r = energy_tce({"electricity_from_grid_kwh": 4_200_000, "natural_gas_m3": 300_000},
                   basis="equal_value", region="CN-31")
    assert_allclose(r.electricity_tce, 1179.36, atol=1e-9)  # 4,200,000 x 0.2808 (Shanghai) / 1000
    assert_allclose(r.energy_tce, 1543.65, atol=1e-9)  # 1179.36 + 364.29
    assert r.basis == "equal_value" and r.electricity_factor_kgce_per_kwh == 0.2808
    # on this basis the same building crosses the energy test: 1543.65 - 1000 = 543.65 tce above
    a = audit_tests(r.energy_tce, r.electricity_kwh)
    assert a.triggered_by == "energy"
    assert_allclose(a.energy_excess_tce, 543.65, atol=1e-9)


def test_equal_value_without_region_names_the_problem():
    with pytest.raises(ValueError, match=r"equal_value factor for carrier 'electricity'.*CN-31"):
        energy_tce({"electricity_from_grid_kwh": 1.0}, basis="equal_value")
    with pytest.raises(ValueError, match="basis 'calorific'"):
        energy_tce({"electricity_from_grid_kwh": 1.0}, basis="calorific")


def test_negative_quantity_is_a_caller_error_naming_the_column():
    with pytest.raises(ValueError, match="natural_gas_m3 must not be negative"):
        energy_tce({"electricity_from_grid_kwh": 1.0, "natural_gas_m3": -3.0})


def test_other_carriers_use_table_factors():
    r = energy_tce({"district_heat_kwh": 1_000_000, "diesel_kg": 10_000, "coal_kg": 100_000})
    # heat 1,000,000 kWh x 3.6 MJ/kWh x 0.03412 kgce/MJ = 122,832 kgce = 122.832 tce
    assert_allclose(r.fuels_tce["district_heat"], 122.832, atol=1e-9)
    assert_allclose(r.fuels_tce["diesel"], 14.571, atol=1e-9)  # 10,000 kg x 1.4571 / 1000
    assert_allclose(r.fuels_tce["coal"], 71.43, atol=1e-9)  # 100,000 kg x 0.7143 / 1000
    assert_allclose(r.energy_tce, 122.832 + 14.571 + 71.43, atol=1e-9)


# Energy test threshold 1000 tce = 8,136,696.5 kWh of electricity alone (1000 / 0.1229 x 1000).
ENERGY_AT_KWH = 1000 * 1000 / F_EL


@pytest.mark.parametrize(("energy_tce_", "electricity_kwh", "by", "energy_excess", "el_excess"), [
    (1000.0, 0.0, "energy", 0.0, -5_000_000),                 # exactly at: listed (>=)
    (999.999, 0.0, "none", -0.001, -5_000_000),               # just below
    (1000.001, 0.0, "energy", 0.001, -5_000_000),             # just above
    (0.0, 5_000_000.0, "electricity", -1000, 0.0),            # exactly at the electricity test
    (0.0, 4_999_999.0, "none", -1000, -1.0),                  # 1 kWh below
    (0.0, 5_000_001.0, "electricity", -1000, 1.0),            # 1 kWh above
    (614.5, 5_000_000.0, "electricity", -385.5, 0.0),         # 5,000,000 x 0.1229 = 614.5 tce: electricity alone
    (1000.0, 5_000_000.0, "both", 0.0, 0.0),
])
def test_thresholds_at_below_above(energy_tce_, electricity_kwh, by, energy_excess, el_excess):
    a = audit_tests(energy_tce_, electricity_kwh)
    assert a.triggered_by == by
    assert a.triggered is (by != "none")
    assert_allclose(a.energy_excess_tce, energy_excess, atol=1e-9)
    assert_allclose(a.electricity_excess_kwh, el_excess, atol=1e-9)


def test_all_electric_building_hits_electricity_test_long_before_energy_test():
    r = energy_tce({"electricity_from_grid_kwh": 5_000_000})
    assert_allclose(r.energy_tce, 614.5, atol=1e-9)  # 5,000,000 x 0.1229 / 1000
    r2 = energy_tce({"electricity_from_grid_kwh": ENERGY_AT_KWH})
    assert_allclose(r2.energy_tce, 1000.0, atol=1e-9)  # 8,136,696.5 kWh x 0.1229 / 1000
    assert audit_tests(r2.energy_tce, ENERGY_AT_KWH).triggered_by == "both"


def test_audit_tests_vectorised_keep_index_and_nan_fails():
    e = pd.Series([1200.0, float("nan"), 10.0], index=["a", "b", "c"])
    el = pd.Series([1.0, 6e6, float("nan")], index=e.index)
    a = audit_tests(e, el)
    assert a.triggered_by.to_dict() == {"a": "energy", "b": "electricity", "c": "none"}
    assert a.energy_excess_tce.index.tolist() == ["a", "b", "c"]


def test_projection_measured_rate_and_last_year_profile():
    p, basis = project_to_year_end(400.0, days_elapsed=73, days_in_year=365)
    assert basis == "measured_days_rate"
    assert_allclose(p, 2000.0)  # 400 tce x 365 / 73 days (all 73 days measured)
    so_far = pd.Series([400.0, 400.0], index=["summer_peak", "no_history"])
    p, basis = project_to_year_end(so_far, days_elapsed=73, days_in_year=365,
                                   last_year_same_period=pd.Series([200.0, 0.0], index=so_far.index),
                                   last_year_total=pd.Series([1100.0, 0.0], index=so_far.index))
    assert_allclose(p["summer_peak"], 2200.0)  # 400 x 1100 / 200 (last year's shape)
    assert_allclose(p["no_history"], 2000.0)  # 400 x 365 / 73
    assert basis.to_dict() == {"summer_peak": "last_year_profile", "no_history": "measured_days_rate"}
    with pytest.raises(ValueError, match="days_elapsed"):
        project_to_year_end(1.0, days_elapsed=0, days_in_year=365)


def test_late_connected_mall_is_projected_from_its_measured_days():
    # The issue's mall: 462,351 kWh in its first 7 days, connected late November (day 334 of 365).
    # Calendar-share projection: 462,351 x 365 / 334 = 505,264 kWh (the old, wrong answer).
    p, basis = project_to_year_end(462_351.0, days_elapsed=334, days_in_year=365, measured_days=7.0)
    assert basis == "measured_days_rate"
    assert_allclose(p, 24_108_302.14, rtol=1e-9)  # 462,351 / 7 x 365 = 66,050.14 kWh/d x 365
    v = audit_verdict(0.0, p, coverage=7 / 334, projected=True, measured_year_fraction=7 / 365)
    assert v.verdict == Verdict.projected  # far above 5,000,000 kWh: listed on 7 days of data
    assert v.tests.triggered_by == "electricity"


def test_three_weeks_offline_not_under_projected():
    # One meter, 1,000 kWh/day, offline 21 of the 120 days so far: 99 days x 1,000 = 99,000 kWh.
    p, _ = project_to_year_end(99_000.0, days_elapsed=120, days_in_year=365, measured_days=99.0)
    assert_allclose(p, 365_000.0)  # 99,000 / 99 x 365: the true pace, not 99,000 x 365 / 120 = 301,125
    # With last year's shape (same period 110,000 of 400,000): 99,000 x 120/99 x 400,000/110,000
    p, basis = project_to_year_end(99_000.0, days_elapsed=120, days_in_year=365, measured_days=99.0,
                                   last_year_same_period=110_000.0, last_year_total=400_000.0)
    assert basis == "last_year_profile"
    assert_allclose(p, 120_000.0 * 400_000 / 110_000)  # = 436,363.6 kWh


def test_nothing_measured_projects_nothing():
    p, basis = project_to_year_end(0.0, days_elapsed=100, days_in_year=365, measured_days=0.0)
    assert np.isnan(p) and basis == "no_data"
    assert audit_verdict(p, p, coverage=0.0, projected=True).verdict == Verdict.insufficient_data


@pytest.mark.parametrize(("kwh", "coverage", "projected", "year_fraction", "verdict"), [
    (5_000_000.0, 0.01, False, None, "required"),           # at the threshold: evidence on any coverage
    (4_999_999.0, 0.95, False, None, "not_required"),       # below, 95 % >= 90 % measured
    (4_999_999.0, 0.85, False, None, "insufficient_data"),  # below, 85 % < 90 %: no reassurance
    (4_999_999.0, MIN_COVERAGE, False, None, "not_required"),  # exactly at the minimum is enough
    (5_000_001.0, 0.02, True, 7 / 365, "projected"),        # projection 1 kWh above
    (4_999_999.0, 1.0, True, 7 / 365, "insufficient_data"),  # a week of the year cannot reassure
    (4_999_999.0, 1.0, True, 31 / 365, "not_required"),     # 31 d / 365 = 8.5 % >= 1/12 = 8.3 %
])
def test_audit_verdict_coverage_rule(kwh, coverage, projected, year_fraction, verdict):
    v = audit_verdict(0.0, kwh, coverage=coverage, projected=projected, measured_year_fraction=year_fraction)
    assert v.verdict == verdict


def test_audit_verdict_vectorised_keeps_index():
    kwh = pd.Series([6e6, 1e6, 1e6], index=["a", "b", "c"])
    cov = pd.Series([0.1, 0.99, 0.5], index=kwh.index)
    v = audit_verdict(kwh * 0, kwh, coverage=cov)
    assert v.verdict.to_dict() == {"a": "required", "b": "not_required", "c": "insufficient_data"}


def test_electrification_and_renewable_worked_example():
    # grid 900,000 kWh, PV 150,000 kWh of which 50,000 exported, gas 100,000 m3
    q = {"electricity_from_grid_kwh": 900_000, "pv_generation_kwh": 150_000, "pv_to_grid_kwh": 50_000,
         "natural_gas_m3": 100_000}
    r = energy_tce(q)
    assert_allclose(r.electricity_kwh, 1_000_000)  # 900,000 + (150,000 - 50,000)
    assert_allclose(r.electricity_tce, 122.9)  # 1,000,000 x 0.1229 / 1000
    assert_allclose(r.energy_tce, 244.33)  # 122.9 + 100,000 x 1.2143 / 1000 = 122.9 + 121.43
    assert_allclose(electrification_share(r.electricity_tce, r.energy_tce), 122.9 / 244.33)  # 0.50301
    rate = renewable_substitution_rate(pv_self_consumed_kwh=100_000, energy_tce=r.energy_tce,
                                       electricity_factor_kgce_per_kwh=F_EL)
    assert_allclose(rate, 12.29 / 244.33)  # 100,000 x 0.1229 / 1000 = 12.29 tce; = 0.05030
    with_export = renewable_substitution_rate(pv_self_consumed_kwh=100_000, energy_tce=r.energy_tce,
                                              electricity_factor_kgce_per_kwh=F_EL, pv_to_grid_kwh=50_000,
                                              count_export=True)
    assert_allclose(with_export, 18.435 / 244.33)  # (100,000 + 50,000) x 0.1229 / 1000 = 18.435 tce


def test_factor_table_has_source_and_verified_for_every_row():
    rows = coal_factors().rows
    assert (rows.source.str.len() > 10).all()
    assert set(rows.verified) <= {"yes", "no"}
    assert coal_factors().factor("electricity") == F_EL
    assert coal_factors().factor("natural_gas") == F_GAS


def test_min_coverage_from_the_environment_for_every_process():
    import subprocess
    import sys

    code = "import analytics.audit as a; print(a.MIN_COVERAGE)"
    ok = subprocess.run([sys.executable, "-c", code], env={"EP_MIN_COVERAGE": "0.75", "PATH": ""},
                        capture_output=True, text=True, timeout=60)
    assert ok.stdout.strip() == "0.75", ok.stderr
    bad = subprocess.run([sys.executable, "-c", code], env={"EP_MIN_COVERAGE": "75", "PATH": ""},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "EP_MIN_COVERAGE='75' must be a share in (0, 1]" in bad.stderr
