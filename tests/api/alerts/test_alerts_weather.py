"""Explained alerts on simulated weeks with ground truth (the simulator in process, the engine's rules
on what gather() would hand them): a weather-driven rise and holiday weeks raise nothing, each
injected fault (a night load left on, failing PV strings; fleet-file simulation targets) raises its
alert. Office 511123A001 of fleet seed 7 (249 kWp PV); baseline fitted on 2025, so no judged week
of 2026 is in it."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import pandas as pd
import pytest

from analytics.baseline import fit_baseline
from api.alerts.context import default_context
from api.alerts.engine import run_rules
from simulators.fleetgen import generate_fleet
from tests.api.alerts.simweek import SimulatedBuilding

CODE = "511123A001"
FAULTS_FROM = dt.date(2026, 7, 1)
CTX = default_context()


def _now(day: dt.date) -> dt.datetime:
    return pd.Timestamp(day).tz_localize("Asia/Shanghai").tz_convert("UTC").to_pydatetime()


@lru_cache(maxsize=1)
def _healthy():
    spec = next(b for b in generate_fleet(7, 8).buildings if b.building_code == CODE)
    sb = SimulatedBuilding(spec, dt.date(2025, 1, 1), dt.date(2026, 11, 1))
    fit = fit_baseline(sb.daily(), start=dt.date(2025, 1, 2), end=dt.date(2026, 1, 1))
    assert fit.ok and fit.guideline14 == "meets"
    return spec, sb, fit


def _faulty(**targets) -> SimulatedBuilding:
    spec, _, _ = _healthy()
    sim = spec.simulation.model_copy(update=targets)
    return SimulatedBuilding(spec.model_copy(update={"simulation": sim}), dt.date(2026, 6, 20), dt.date(2026, 7, 22))


def _run(sb: SimulatedBuilding, fit, day: dt.date):
    # No audit rows: the audit rules are not judged here, only the weather-aware ones.
    findings, judged = run_rules(sb.inputs(_now(day), fit), ctx=CTX, now=_now(day))
    return {f.rule.value: f for f in findings}, {r.value for r in judged}


def _week_rise(sb: SimulatedBuilding, last_day: dt.date) -> float:
    d = sb.daily()["use"]
    week = lambda end: d.loc[[end - dt.timedelta(days=k) for k in range(7)]].sum()  # noqa: E731
    return week(last_day) / week(last_day - dt.timedelta(days=7)) - 1


def test_weather_driven_rise_raises_no_alert():
    _, sb, fit = _healthy()
    # 7-13 July 2026 used 64 % more than the week before (a hot spell): week on week would have fired.
    assert _week_rise(sb, dt.date(2026, 7, 13)) > 0.5
    found, judged = _run(sb, fit, dt.date(2026, 7, 14))
    assert found == {} and "use_above_expected" in judged


@pytest.mark.parametrize(("judged_at", "why"), [
    (dt.date(2026, 10, 8), "National Day week 1-7 October: nobody in, nights as usual"),
    (dt.date(2026, 10, 15), "the week after, with Saturday 10 October a make-up working day"),
    (dt.date(2026, 5, 14), "after the Labour Day holiday (1-5 May): +73 % week on week"),
])
def test_holiday_weeks_raise_no_alert(judged_at, why):
    _, sb, fit = _healthy()
    found, judged = _run(sb, fit, judged_at)
    assert found == {}, why
    assert {"use_above_expected", "night_base_load"} <= judged, why


def test_night_load_left_on_raises_its_alerts():
    _, healthy, fit = _healthy()
    # 400 kW from 20:00 to 06:00 from 1 July: 10 h x 400 kW = 4,000 kWh a day more.
    sb = _faulty(night_load_from=FAULTS_FROM, night_load_kw=400.0)
    found, _ = _run(sb, fit, dt.date(2026, 7, 20))
    # The ratio rule misses it: healthy nights 165 kW, working-day daytime 1,376 kW in mid-July, so
    # (165 + 400) / 1,376 = 0.41 <= 0.6. The weather-and-calendar expectation catches it.
    assert set(found) == {"use_above_expected"}
    d = found["use_above_expected"].details
    base, _ = _run(healthy, fit, dt.date(2026, 7, 20))
    assert base == {}
    twin = healthy.inputs(_now(dt.date(2026, 7, 20)), fit).hourly_kwh
    extra = sb.inputs(_now(dt.date(2026, 7, 20)), fit).hourly_kwh.sum() - twin.sum()
    assert extra == pytest.approx(14 * 4000, rel=0.01)  # 14 days of hourly history, all after 1 July
    assert d["excess_kwh"] > 3 * d["uncertainty_kwh"] and d["measured_kwh"] > d["expected_kwh"] * 1.1
    assert "not weather, not the calendar" in found["use_above_expected"].message
    # 7 judged days x 4,000 kWh = 28,000 kWh above what the healthy week used; the excess over the
    # expectation is that plus the healthy week's own deviation, well within 28,000 +- 3 u.
    assert d["excess_kwh"] == pytest.approx(28_000, abs=3 * d["uncertainty_kwh"])
    # A larger night load (800 kW: (165 + 800) / 1,376 = 0.70 > 0.6) trips the ratio rule as well.
    found, _ = _run(_faulty(night_load_from=FAULTS_FROM, night_load_kw=800.0), fit, dt.date(2026, 7, 20))
    assert {"night_base_load", "use_above_expected"} <= set(found)


def test_failing_pv_strings_raise_pv_underperformance():
    _, healthy, fit = _healthy()
    found, judged = _run(healthy, fit, dt.date(2026, 7, 20))
    assert "pv_underperformance" in judged and "pv_underperformance" not in found
    sb = _faulty(pv_failure_from=FAULTS_FROM, pv_failure_share=0.5)
    found, _ = _run(sb, fit, dt.date(2026, 7, 20))
    d = found["pv_underperformance"].details
    # Healthy arrays give about 0.9-1.05 of the expectation (PR 0.82 and the temperature loss against
    # the rule's 0.8); half the strings lost halves that: 0.45-0.53 < 0.7.
    assert 0.40 < d["ratio"] < 0.55
