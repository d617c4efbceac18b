"""Alert rules against worked examples, the arithmetic beside each assertion."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from api.alerts import rules
from api.alerts.outbox import backoff_s
from api.alerts.rules import Rule, RuleParams
from api.alerts.solar import expected_energy_kwh

P = RuleParams()
CODE = "510402A001"


def _rows(*windows: tuple[str, str, float, float, str]) -> pd.DataFrame:
    """Rows shaped like analytics.service.audit_frame: (window, verdict, tce, kWh, triggered_by)."""
    return pd.DataFrame([{"window": w, "verdict": v, "energy_tce": e, "electricity_kwh": k, "triggered_by": by,
                          "measured_days": 7.0, "coverage": 1.0, "period_coverage": 7 / 334,
                          "projection_basis": "measured_days_rate from 2026-11-30" if w.startswith("proj") else ""}
                         for w, v, e, k, by in windows])


def test_audit_crossed_by_electricity():
    f = rules.audit_threshold(building_code=CODE, audit_rows=_rows(
        ("calendar_year", "required", 626.8, 5_100_000, "electricity"),
        ("projected_year_end", "projected", 700.0, 5_600_000, "electricity")))
    assert f is not None and f.rule is Rule.audit_threshold
    assert f.details["verdict"] == "required" and f.message.startswith("audit threshold crossed")


def test_audit_projected_on_little_data_raises_the_alert():
    # The late-connected mall: 462,351 kWh in 7 days -> 24,108,302 kWh projected (analytics' verdict).
    f = rules.audit_threshold(building_code=CODE, audit_rows=_rows(
        ("calendar_year", "insufficient_data", 56.8, 462_351, "none"),
        ("projected_year_end", "projected", 2_962.9, 24_108_302, "both")))
    assert f is not None and f.details["verdict"] == "projected"
    assert "7.0 days measured" in f.message and "measured_days_rate" in f.message
    assert f.details["audit_electricity_kwh"] == 5_000_000  # analytics.audit's threshold, copied for the record


@pytest.mark.parametrize("verdict", ["not_required", "insufficient_data"])
def test_audit_no_alert_below_both_tests(verdict):
    assert rules.audit_threshold(building_code=CODE, audit_rows=_rows(
        ("calendar_year", verdict, 200.0, 2_000_000, "none"),
        ("projected_year_end", verdict, 400.0, 4_000_000, "none"))) is None


def test_eui_over_constraint():
    # 1,300,000 kWh / 10,000 m2 = 130 kWh/(m2.a) > 110
    f = rules.eui_over_quota(building_code=CODE, annual_energy_kwh=1_300_000, floor_area_m2=10_000,
                             constraint_kwh_per_m2=110)
    assert f is not None and f.details["eui_kwh_per_m2"] == 130.0


def test_eui_at_constraint_is_fine_and_no_quota_means_no_alert():
    # 1,100,000 / 10,000 = 110, not above 110
    assert rules.eui_over_quota(building_code=CODE, annual_energy_kwh=1_100_000, floor_area_m2=10_000,
                                constraint_kwh_per_m2=110) is None
    assert rules.eui_over_quota(building_code=CODE, annual_energy_kwh=9e9, floor_area_m2=1,
                                constraint_kwh_per_m2=None) is None


def _hourly(night_kw: float, day_kw: float, other_kw: float = 30.0) -> pd.Series:
    idx = pd.date_range("2026-03-02", periods=7 * 24, freq="h", tz="Asia/Shanghai").tz_convert("UTC")
    hour = idx.tz_convert("Asia/Shanghai").hour
    vals = [night_kw if h < 5 else day_kw if 9 <= h < 17 else other_kw for h in hour]
    return pd.Series(vals, index=idx, dtype=float)


def test_night_base_load_above_share():
    # 70 kW at night / 100 kW by day = 0.70 > 0.60
    f = rules.night_base_load(building_code=CODE, hourly_kwh=_hourly(70, 100), params=P)
    assert f is not None and f.details["share"] == pytest.approx(0.70)


def test_night_base_load_normal_office():
    # 25 / 100 = 0.25 <= 0.60
    assert rules.night_base_load(building_code=CODE, hourly_kwh=_hourly(25, 100), params=P) is None


def test_use_above_expected_needs_k_sigma_and_the_material_excess():
    why = {"days": 7, "temperature_mean_degc": 31.2, "day_types": {"workday": 5, "restday": 2}}
    # 12,500 measured vs 10,000 expected, u = 400: excess 2,500 > 3 x 400 = 1,200 and 25 % > 10 %
    f = rules.use_above_expected(building_code=CODE, measured_kwh=12_500, expected_kwh=10_000, uncertainty_kwh=400,
                                 explanation=why, params=P)
    assert f is not None and f.rule is Rule.use_above_expected
    assert f.details["rise"] == pytest.approx(0.25) and f.details["z"] == pytest.approx(6.25)  # 2,500 / 400
    assert "31.2 degC" in f.message and "5 workday" in f.message and "10,000 kWh" in f.message
    # a noisy building: u = 1,000, excess 2,500 <= 3 x 1,000 = 3,000 -> within what the model cannot explain
    assert rules.use_above_expected(building_code=CODE, measured_kwh=12_500, expected_kwh=10_000,
                                    uncertainty_kwh=1_000, explanation=why, params=P) is None
    # a tight model: u = 50, excess 800 > 150 but 8 % <= 10 %: not material
    assert rules.use_above_expected(building_code=CODE, measured_kwh=10_800, expected_kwh=10_000,
                                    uncertainty_kwh=50, explanation=why, params=P) is None


def test_meter_offline_after_n_intervals():
    # limit 4 x 900 s = 3600 s; 3601 s silent is offline, 3600 s is not
    f = rules.meter_offline(building_code=CODE, silent_s={"E-MAIN": 3601, "E-HVAC": 3600, "PV1": math.inf},
                            params=P)
    assert f is not None and f.details["devices"] == ["E-MAIN", "PV1"]
    assert f.details["silent_s"]["PV1"] is None


def test_data_gap_detected_from_interval():
    # a reading 2 h after the previous one: 7200 s > 3600 s
    f = rules.data_gap(building_code=CODE, max_interval_s={"E-MAIN": 7200, "E-HVAC": 900}, params=P)
    assert f is not None and f.details["devices"] == ["E-MAIN"]
    assert rules.data_gap(building_code=CODE, max_interval_s={"E-MAIN": 900}, params=P) is None


def test_pv_underperformance_ratio():
    # 150 kWh against 400 kWh expected from the measured irradiance = 37.5 % < 70 %
    f = rules.pv_underperformance(building_code=CODE, actual_kwh=150, expected_kwh=400, irradiation_kwh_per_m2=5.1,
                                  params=P)
    assert f is not None and f.details["ratio"] == pytest.approx(0.375)
    assert "5.10 kWh/m2" in f.message
    # 300 / 400 = 75 %: a hot week's temperature loss, not a fault
    assert rules.pv_underperformance(building_code=CODE, actual_kwh=300, expected_kwh=400,
                                     irradiation_kwh_per_m2=5.1, params=P) is None
    # an overcast night window: nothing to judge
    assert rules.pv_underperformance(building_code=CODE, actual_kwh=0, expected_kwh=0.1, irradiation_kwh_per_m2=0,
                                     params=P) is None


def test_expected_energy_from_measured_irradiance():
    hours = pd.date_range("2026-06-21", periods=24, freq="h", tz="Asia/Shanghai").tz_convert("UTC")
    local_mid = np.arange(24) + 0.5
    # A clear-ish day: GHI 1000 W/m2 x sin over 06:30-19:30 local; irradiation = sum / 1000 kWh/m2
    ghi = pd.Series(np.clip(1000 * np.sin(np.pi * (local_mid - 6.5) / 13), 0, None), index=hours)
    e = expected_energy_kwh(latitude_deg=29.55, longitude_deg=103.77, capacity_kwp=100, tilt_deg=25,
                            azimuth_deg=180, ghi_w_per_m2=ghi, performance_ratio=0.8)
    h_kwh_per_m2 = ghi.sum() / 1000  # about 8.3 kWh/m2 horizontal
    # In June at 29.5 N a 25-degree south tilt receives slightly less than the horizontal (sun high,
    # north of east-west in the morning and evening): POA within 0.8-1.05 x GHI, x 100 kWp x PR 0.8.
    assert 0.8 * 100 * 0.8 * h_kwh_per_m2 <= e.sum() <= 1.05 * 100 * 0.8 * h_kwh_per_m2
    assert e.iloc[0] == 0  # midnight
    # half the irradiance, half the expectation (the chain is linear in GHI up to the beam/diffuse split)
    half = expected_energy_kwh(latitude_deg=29.55, longitude_deg=103.77, capacity_kwp=100, tilt_deg=25,
                               azimuth_deg=180, ghi_w_per_m2=ghi / 2, performance_ratio=0.8)
    assert 0.4 * e.sum() <= half.sum() <= 0.6 * e.sum()


def test_backoff_doubles_and_caps():
    # 5 s, 10 s, 20 s, ... capped at 60 s
    assert [backoff_s(n, base_s=5, cap_s=60) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 60]
