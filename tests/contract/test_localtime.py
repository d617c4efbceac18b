"""Local time of the sites (contract/localtime.py): China Standard Time, weeks from Monday."""

import datetime as dt

from contract.localtime import (
    local_midnight,
    local_midnight_ms,
    month_bounds,
    rolling_12_months,
    same_day_last_year,
    week_start,
    year_window,
)


def test_local_midnight_is_16_00_utc_the_day_before():
    # UTC+8: 1 March 00:00 local = 29 Feb 16:00 UTC (2024 is a leap year).
    assert local_midnight(dt.date(2024, 3, 1)) == dt.datetime(2024, 2, 29, 16, tzinfo=dt.UTC)
    # 19,783 days after 1970-01-01 (2024-03-01) x 86,400,000 ms - 8 h x 3,600,000 ms
    assert local_midnight_ms(dt.date(2024, 3, 1)) == 19_783 * 86_400_000 - 8 * 3_600_000


def test_weeks_start_on_monday():
    # 2026-12-03 is a Thursday; its week starts Monday 30 November.
    assert week_start(dt.date(2026, 12, 3)) == dt.date(2026, 11, 30)
    assert week_start(dt.date(2026, 11, 30)) == dt.date(2026, 11, 30)
    assert week_start(dt.date(2026, 12, 6)) == dt.date(2026, 11, 30)  # Sunday closes the week


def test_months_years_and_leap_day():
    assert month_bounds(dt.date(2025, 12, 17)) == (dt.date(2025, 12, 1), dt.date(2026, 1, 1))
    assert month_bounds(dt.date(2024, 2, 29)) == (dt.date(2024, 2, 1), dt.date(2024, 3, 1))
    start, end = year_window(2025)
    assert (start, end) == (dt.datetime(2024, 12, 31, 16, tzinfo=dt.UTC), dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC))
    assert same_day_last_year(dt.date(2024, 2, 29)) == dt.date(2023, 2, 28)
    # 12 months to 30 June 2025: 1 July 2024 to 1 July 2025 (local midnights)
    assert rolling_12_months(dt.date(2025, 6, 30)) == (local_midnight(dt.date(2024, 7, 1)),
                                                       local_midnight(dt.date(2025, 7, 1)))
