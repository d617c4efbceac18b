"""Worked examples: PV/EV shares, intensity vs quota, carbon, sub-items, YoY, ranking, coverage,
aggregation; and property tests (shares in [0, 1], sub-items add up, linear scaling)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from analytics.compare import coverage, rank_within_type, sub_item_breakdown, year_on_year
from analytics.energy import electrification_share, energy_tce, renewable_substitution_rate
from analytics.indicators import aggregate, compute_indicators
from analytics.intensity import carbon_emissions_tco2, energy_use_intensity, lookup_quota, quota_status
from analytics.pv import ev_green_share, pv_export_share, pv_self_consumption, pv_self_sufficiency
from analytics.tables import grid_factors, quota_table


def test_pv_shares_worked_example():
    # generation 300 kWh, export 100 kWh, grid import 800 kWh
    assert_allclose(pv_self_consumption(300, 100), 2 / 3)  # (300 - 100) / 300
    assert_allclose(pv_export_share(300, 100), 1 / 3)  # 100 / 300
    assert_allclose(pv_self_sufficiency(800, 300, 100), 0.2)  # 200 / (800 + 200) = 1 - 800/1000
    assert math.isnan(pv_self_consumption(0, 0))  # no generation, no share
    assert math.isnan(pv_self_consumption(100, 120))  # export above generation is impossible data


def test_ev_green_share():
    assert_allclose(ev_green_share(250.0, 100.0), 0.4)  # 100 kWh from PV / 250 kWh charged
    assert math.isnan(ev_green_share(0.0, 0.0))
    assert math.isnan(ev_green_share(10.0, 11.0))


def test_intensity_and_quota_example_values_are_never_a_standard(tmp_path):
    quota = quota_table()
    assert quota.source.str.contains("EXAMPLE").all()  # shipped values are labelled as examples
    eui = energy_use_intensity(pd.Series([1_320_000.0, 900_000.0, 500_000.0], index=list("abc")),
                               pd.Series([12_000.0, 10_000.0, 10_000.0], index=list("abc")))
    assert_allclose(eui.values, [110.0, 90.0, 50.0])  # 1,320,000/12,000; 900,000/10,000; 500,000/10,000
    types = pd.Series(["office", "office", "office"], index=list("abc"))
    zones = pd.Series(["hot_summer_cold_winter", "hot_summer_cold_winter", "marine"], index=list("abc"))
    status, _ = quota_status(eui, *lookup_quota(quota, types, zones)[["constraint_value", "guide_value"]].T.values)
    assert status.tolist() == ["no_quota"] * 3  # the shipped table has only EXAMPLE rows: no standard
    # A city's real table (same values, a real source):
    real = tmp_path / "quota.csv"
    real.write_text("building_type,climate_zone,metric,constraint_value,guide_value,source,verified\n"
                    "office,hot_summer_cold_winter,electricity_kwh_per_m2,110,80,City quota standard 2026,yes\n")
    q = lookup_quota(quota_table(real), types, zones)
    status, r = quota_status(eui, q.constraint_value, q.guide_value)
    # constraint 110, guide 80 kWh/(m2.a); exactly at the constraint is not above it
    assert status.tolist() == ["above_guide", "above_guide", "no_quota"]
    assert_allclose(r["a"], 1.0)  # 110 / 110
    s, _ = quota_status(110.01, 110.0, 80.0)
    assert s == "above_constraint"
    s, _ = quota_status(80.0, 110.0, 80.0)
    assert s == "within_guide"
    # Within the guide on 50 % of the period: no reassurance (MIN_COVERAGE 0.9); above it is evidence.
    s, _ = quota_status(50.0, 110.0, 80.0, coverage=0.5)
    assert s == "insufficient_data"
    s, _ = quota_status(111.0, 110.0, 80.0, coverage=0.5)
    assert s == "above_constraint"


def test_carbon_with_grid_factor_by_year_and_region():
    f = grid_factors().lookup(year=2022, region="CN")
    assert f.factor_kgco2_per_kwh == 0.5366 and f.verified
    assert_allclose(carbon_emissions_tco2(1_000_000, f.factor_kgco2_per_kwh), 536.6)  # 1e6 kWh x 0.5366 / 1000
    sichuan = grid_factors().lookup(year=2025, region="CN-51")
    assert (sichuan.factor_kgco2_per_kwh, sichuan.year) == (0.1404, 2022)  # latest regional year wins
    national_2025 = grid_factors().lookup(year=2025, region="CN-44")  # no Guangdong row: national 2025
    assert (national_2025.factor_kgco2_per_kwh, national_2025.region, national_2025.verified) == (0.5703, "CN", False)


def test_sub_item_breakdown_and_unmetered_remainder():
    subs = pd.DataFrame({"lighting_sockets_kwh": [300.0], "hvac_kwh": [400.0], "power_kwh": [100.0],
                         "special_kwh": [100.0]})
    b = sub_item_breakdown(subs, pd.Series([1000.0]))
    assert_allclose(b.loc[0, "hvac_share"], 0.4)  # 400 / 1000
    assert_allclose(b.loc[0, "unmetered_kwh"], 100.0)  # 1000 - (300 + 400 + 100 + 100)
    assert_allclose(b.loc[0, "unmetered_share"], 0.1)


def test_yoy_rank_coverage():
    assert_allclose(year_on_year(105.0, 100.0), 0.05)  # (105 - 100) / 100
    assert math.isnan(year_on_year(5.0, 0.0))
    v = pd.Series([120.0, 80.0, 120.0, 50.0, np.nan], index=list("abcde"))
    t = pd.Series(["office", "office", "office", "mall", "mall"], index=v.index)
    r = rank_within_type(v, t)
    assert r.rank_in_type.tolist()[:4] == [1.0, 3.0, 1.0, 1.0]  # ties share rank 1; 80 is third
    assert r.buildings_in_type.tolist() == [3, 3, 3, 1, 1]
    assert_allclose(coverage(17_520, 35_040), 0.5)  # half a year of 15-min readings: 17,520 / (365 x 96)
    assert coverage(120, 96) == 1.0  # a 5-minute meter does not make coverage exceed 1


def test_district_shares_are_ratios_of_sums_not_means():
    balance = pd.DataFrame({
        "electricity_from_grid_kwh": [1_000_000.0, 100_000.0],
        "pv_generation_kwh": [0.0, 100_000.0],
        "pv_to_grid_kwh": [0.0, 0.0],
        "floor_area_m2": [10_000.0, 1_000.0],
    }, index=pd.Index(["A", "B"], name="building_code"))
    per_building = compute_indicators(balance)
    assert_allclose(per_building.renewable_substitution_rate.tolist(), [0.0, 0.5])  # B: 100,000 / 200,000
    city = compute_indicators(aggregate(balance))
    # 100,000 kWh PV over 1,200,000 kWh: 1/12 = 0.0833, not the mean of 0 and 0.5
    assert_allclose(city.renewable_substitution_rate.iloc[0], 100_000 / 1_200_000)
    assert city.floor_area_m2.iloc[0] == 11_000.0


# ---------------------------------------------------------------- property tests
energy = st.floats(min_value=0, max_value=1e9, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(grid=energy, gen=energy, export_frac=st.floats(0, 1), gas=energy, heat=energy, ren_heat=energy)
def test_shares_stay_in_unit_interval(grid, gen, export_frac, gas, heat, ren_heat):
    export = gen * export_frac
    r = energy_tce({"electricity_from_grid_kwh": grid, "pv_generation_kwh": gen, "pv_to_grid_kwh": export,
                    "natural_gas_m3": gas, "district_heat_kwh": heat, "renewable_heat_kwh": ren_heat})
    shares = [
        electrification_share(r.electricity_tce, r.energy_tce),
        renewable_substitution_rate(pv_self_consumed_kwh=gen - export, energy_tce=r.energy_tce,
                                    electricity_factor_kgce_per_kwh=r.electricity_factor_kgce_per_kwh,
                                    renewable_heat_kwh=ren_heat,
                                    heat_factor_kgce_per_kwh=r.factors_kgce["renewable_heat"]),
        pv_self_consumption(gen, export), pv_self_sufficiency(grid, gen, export),
    ]
    for s in shares:
        assert math.isnan(s) or -1e-12 <= s <= 1 + 1e-12


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(energy, min_size=4, max_size=4), extra=energy)
def test_sub_items_add_up(parts, extra):
    subs = pd.DataFrame([parts], columns=["lighting_sockets_kwh", "hvac_kwh", "power_kwh", "special_kwh"])
    total = sum(parts) + extra
    b = sub_item_breakdown(subs, pd.Series([total]))
    if total > 0:
        shares = b.filter(like="_share").iloc[0].sum()
        assert shares == pytest.approx(1.0, abs=1e-9)
    assert b.loc[0, "unmetered_kwh"] == pytest.approx(extra, abs=1e-6 * max(1.0, total))


@settings(max_examples=100, deadline=None)
@given(grid=energy, gas=energy, k=st.floats(min_value=0.001, max_value=1000))
def test_tce_scales_linearly(grid, gas, k):
    a = energy_tce({"electricity_from_grid_kwh": grid, "natural_gas_m3": gas}).energy_tce
    b = energy_tce({"electricity_from_grid_kwh": grid * k, "natural_gas_m3": gas * k}).energy_tce
    assert b == pytest.approx(a * k, rel=1e-9, abs=1e-9)
    c = energy_tce({"electricity_from_grid_kwh": grid}).energy_tce + energy_tce({"natural_gas_m3": gas}).energy_tce
    assert a == pytest.approx(c, rel=1e-12, abs=1e-12)  # additive across carriers


def test_split_window_uses_months_inside_and_days_at_the_edges():
    import datetime as dt

    from analytics.reader import split_window
    from contract.localtime import local_midnight, rolling_12_months, year_window

    parts = split_window(*year_window(2025))
    assert [(r, s.date(), e.date()) for r, s, e in parts] == [
        ("1mo", dt.date(2024, 12, 31), dt.date(2025, 12, 31))]  # UTC dates of local midnights
    s, e = rolling_12_months(dt.date(2025, 6, 15))  # 16 June 2024 .. 15 June 2025 inclusive
    parts = split_window(s, e)
    assert [r for r, _, _ in parts] == ["1d", "1mo", "1d"]
    assert parts[0][2] == local_midnight(dt.date(2024, 7, 1))  # days 16-30 June 2024
    assert parts[1][2] == local_midnight(dt.date(2025, 6, 1))  # July 2024 .. May 2025 as months
    assert parts[2][2] == e
    short = split_window(local_midnight(dt.date(2025, 3, 3)), local_midnight(dt.date(2025, 3, 9)))
    assert [r for r, _, _ in short] == ["1d"]
    with pytest.raises(ValueError, match="not a local midnight"):
        split_window(local_midnight(dt.date(2025, 3, 3)), dt.datetime(2025, 3, 9, 1, tzinfo=dt.UTC))
