"""``year_savings`` on hand-made stored points (pure, no servers): the year's Guideline 14 verdict and
points stored before ``baseline_guideline14`` existed."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from api.disclosure.retrofits import year_savings

R = SimpleNamespace(id=7, completed_on=dt.date(2025, 1, 31), measures="HVAC", carrier="natural_gas",
                    expected_saving_share=0.1)


def _point(t: int, predicted: float, measured: float, u: float, **kw) -> dict:
    return {"time": t, "predicted_m3": predicted, "measured_m3": measured, "avoided_m3": predicted - measured,
            "uncertainty_m3": u, "days": 28, **kw}


def test_the_year_gets_its_own_verdict_from_the_baselines():
    # To date (with earlier years) the saving was imprecise ("fails"), but the baseline met the criteria
    # and this year's 1 000 - 700 = 300 m3 has u 100 < 0.5 x 300 = 150: meets.
    x = year_savings(R, [_point(1, 1_000, 700, 100, guideline14="fails", baseline_guideline14="meets")], year=2025)
    assert (x.status, x.unit, x.avoided, x.uncertainty, x.guideline14) == ("ok", "m3", 300, 100, "meets")
    # The same year under a baseline that failed the fit criteria: fails, however precise.
    x = year_savings(R, [_point(1, 1_000, 700, 100, guideline14="fails", baseline_guideline14="fails")], year=2025)
    assert x.guideline14 == "fails"


def test_points_stored_before_the_baseline_verdict():
    # "meets" to date implies the baseline met; "fails" cannot tell which criterion failed.
    assert year_savings(R, [_point(1, 1_000, 700, 100, guideline14="meets")], year=2025).guideline14 == "meets"
    assert year_savings(R, [_point(1, 1_000, 700, 100, guideline14="fails")], year=2025).guideline14 \
        == "not_assessable"


def test_months_win_over_an_older_status_point_and_a_lone_status_gives_no_figure():
    status = {"time": 0, "status": "no_reporting_data", "detail": "no day with use"}
    assert year_savings(R, [status, _point(1, 1_000, 700, 100, guideline14="meets")], year=2025).status == "ok"
    x = year_savings(R, [status], year=2025)
    assert (x.status, x.detail, x.avoided, x.months) == ("no_reporting_data", "no day with use", None, 0)
