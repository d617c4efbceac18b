"""Plain unit tests of the pure building blocks, with the arithmetic beside the assertions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from numpy.testing import assert_allclose

from contract.localtime import local_midnight_ms
from simulators import ev, noise
from simulators.calendar import calendar, local_day
from simulators.fleetgen import generate_fleet
from simulators.fleetsim import Period

H = 3_600_000


def test_noise_is_counter_based_and_uniform():
    idx = np.arange(100_000)
    u = noise.uniform(noise.stable_key("x", 1), idx)
    assert ((u >= 0) & (u < 1)).all()
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.002  # U(0,1): mean 1/2, variance 1/12
    # A value depends on its index only, not on which other indices were drawn with it.
    assert_allclose(noise.uniform(noise.stable_key("x", 1), idx[5000:5010]), u[5000:5010], rtol=0, atol=0)
    assert noise.stable_key("x", 1) == noise.stable_key("x", 1) != noise.stable_key("x", 2)


def test_calendar_holidays_and_make_up_days():
    def at(day: dt.date, hour: int):
        return calendar(np.array([local_midnight_ms(day) + hour * H]))

    assert at(dt.date(2025, 10, 1), 10).holiday[0]  # National Day
    assert not at(dt.date(2025, 10, 1), 10).workday[0]
    assert at(dt.date(2025, 9, 28), 10).workday[0]  # a Sunday, make-up working day
    assert not at(dt.date(2025, 9, 27), 10).workday[0]  # an ordinary Saturday
    assert at(dt.date(2025, 7, 15), 10).vacation[0] and not at(dt.date(2025, 10, 15), 10).vacation[0]
    c = at(dt.date(2025, 3, 3), 7)
    assert c.hour[0] == 7.0  # local time is UTC+8
    # Local midnight 2025-01-01 is 2024-12-31 16:00 UTC; the instant belongs to 2025-01-01.
    assert local_midnight_ms(dt.date(2025, 1, 1)) == 1_735_660_800_000
    assert local_day(np.array([1_735_660_800_000]))[0] == (dt.date(2025, 1, 1) - dt.date(1970, 1, 1)).days


def test_ev_cumulative_energy_worked_example():
    t0 = 1_000 * H
    s = ev.Sessions(start_ms=np.array([t0, t0 + 3 * H]), stop_ms=np.array([t0 + 2 * H, t0 + 3 * H + 30 * 60_000]),
                    power_kw=np.array([7.0, 60.0]), day=np.array([0, 0]), slot=np.array([0, 1]))
    assert_allclose(s.energy_kwh, [14.0, 30.0])  # 7 kW x 2 h; 60 kW x 0.5 h
    t = np.array([t0 - H, t0 + H, t0 + 2 * H, t0 + 3 * H + 15 * 60_000, t0 + 5 * H])
    # before; 7 kW x 1 h; 14 (done); 14 + 60 kW x 0.25 h; 14 + 30
    assert_allclose(ev.cumulative_energy_kwh(s, t), [0.0, 7.0, 14.0, 29.0, 44.0])
    assert_allclose(ev.charging_at(s, t), [0.0, 7.0, 0.0, 60.0, 0.0])


def test_ev_sessions_never_overlap_and_end_before_midnight():
    from contract.vocabulary import PileKind

    s = ev.sessions_for_days(noise.stable_key("p"), "B", PileKind.dc_120kw, 120.0, 20_000, 20_365)
    assert len(s.start_ms) > 1000
    assert (s.start_ms[1:] >= s.stop_ms[:-1]).all()
    assert (local_day(s.stop_ms - 1) == s.day).all()


def test_period_counts_readings_before_the_end():
    p = Period(0, 24 * H, 15 * 60_000)
    assert p.n == 96  # 24 h / 15 min
    assert Period(0, 24 * H + 1, 15 * 60_000).n == 97  # an instant at 24:00 is before the end
    with pytest.raises(ValueError, match="step_ms=90000"):
        Period(0, H, 90_000)  # 1.5 minutes is not a whole number of minutes


def test_fleet_needs_the_three_demonstrators():
    with pytest.raises(ValueError, match="size=2"):
        generate_fleet(1, 2)
