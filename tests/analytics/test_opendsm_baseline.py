"""OpenDSM's daily model as the baseline (analytics/opendsm_baseline.py), on simulated data with
ground truth, and its fallback to the change-point model when OpenDSM's sufficiency check says no."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analytics.opendsm_baseline import CHANGE_POINT, OPENDSM, _china_days, degc_to_degf, fit_daily_baseline
from analytics.savings import avoided_energy
from contract.cncalendar import day_types
from tests.analytics import test_savings as twins

Y25, Y26, Y27 = dt.date(2025, 1, 1), dt.date(2026, 1, 1), dt.date(2027, 1, 1)


def test_fahrenheit_only_at_the_boundary():
    # 0 degC = 32 degF, 100 degC = 212 degF, -40 is the same on both scales.
    assert degc_to_degf([0.0, 100.0, -40.0]).tolist() == [32.0, 212.0, -40.0]


def test_opendsm_sees_china_working_days_and_days_off():
    days = [dt.date(2025, 9, 28), dt.date(2025, 10, 1), dt.date(2025, 10, 12), dt.date(2025, 10, 13)]
    # 2025-09-28 is a Sunday make-up working day, 2025-10-01 a Wednesday holiday (National Day),
    # 2025-10-12 an ordinary Sunday, 2025-10-13 an ordinary Monday.
    assert day_types(np.array([(d - dt.date(1970, 1, 1)).days for d in days])).tolist() == [
        "workday", "holiday", "restday", "workday"]
    idx = pd.DatetimeIndex([str(d) for d in days]).tz_localize("Asia/Shanghai")
    df = pd.DataFrame({"day_of_week": idx.dayofweek + 1}, index=idx)  # OpenDSM's numbering: Monday = 1
    assert df["day_of_week"].tolist() == [7, 3, 7, 1]
    # The working Sunday counts as a Monday (weekday), the holiday Wednesday as a Sunday (weekend).
    assert _china_days(df)["day_of_week"].tolist() == [1, 7, 7, 1]


def test_short_history_falls_back_to_the_change_point_model():
    without, _ = twins._twins()
    fit = fit_daily_baseline(without, start=Y25, end=dt.date(2025, 3, 2))  # 60 days < OpenDSM's 329
    assert fit.ok and fit.model_kind == CHANGE_POINT and fit.days == 60
    assert "incorrect_number_of_total_days" in fit.model_reason


def test_no_temperature_gives_a_status_not_a_figure():
    without, _ = twins._twins()
    blind = without.assign(temperature_mean_degc=np.nan)
    fit = fit_daily_baseline(blind, start=Y25, end=Y26)
    assert (fit.status, fit.model_kind, fit.coefficients) == ("insufficient_weather", CHANGE_POINT, {})
    assert "OpenDSM's sufficiency check" in fit.model_reason


def test_opendsm_meets_guideline_14_and_recovers_the_retrofit_saving():
    without, with_retrofit = twins._twins()
    in_2026 = [i for i in with_retrofit.index if i.year == 2026]
    truth = without.loc[in_2026, "use"].sum() - with_retrofit.loc[in_2026, "use"].sum()
    fit = fit_daily_baseline(with_retrofit, start=Y25, end=Y26)
    assert fit.model_kind == OPENDSM and fit.days == 365 and fit.months == 12
    assert fit.guideline14 == "meets", (fit.cv_rmse_monthly, fit.nmbe_monthly)
    r = avoided_energy(fit, with_retrofit, retrofit_on=twins.RETROFIT_ON, today=Y27)
    t = r.to_date
    # Seed 7's office: monthly CV(RMSE) 1.4 % <= 15 %, NMBE 0.004 % (daily CV(RMSE) 8.2 %).
    # Truth 23,561 kWh; recovered 21,043 kWh with u = 2,663 kWh (68 %, OpenDSM's Guideline 14
    # savings uncertainty): |21,043 - 23,561| = 2,518 kWh < 1 u. Asserted at 2 u (95 %).
    assert abs(t.avoided - truth) <= 2 * t.uncertainty, (t.avoided, truth, t.uncertainty)
    # Guideline 14 on the saving: 2,663 < 0.5 x 21,043 = 10,522.
    assert r.status == "ok" and r.guideline14 == "meets" and t.uncertainty < 0.5 * t.avoided
