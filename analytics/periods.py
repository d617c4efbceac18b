"""Reporting windows as UTC instants bounding local days (Asia/Shanghai by default; no DST)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"


def local_midnight(day: dt.date, tz: str = DEFAULT_TZ) -> dt.datetime:
    """Start of the local ``day`` as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).astimezone(dt.UTC)


def year_window(year: int, tz: str = DEFAULT_TZ) -> tuple[dt.datetime, dt.datetime]:
    """[1 January, next 1 January) of ``year`` in local time, as UTC instants."""
    return local_midnight(dt.date(year, 1, 1), tz), local_midnight(dt.date(year + 1, 1, 1), tz)


def rolling_12_months(as_of: dt.date, tz: str = DEFAULT_TZ) -> tuple[dt.datetime, dt.datetime]:
    """The 12 calendar months ending with local day ``as_of`` (inclusive): from the same day one
    year earlier + 1 day to ``as_of`` + 1 day. 29 February falls back to 28 February."""
    end = as_of + dt.timedelta(days=1)
    try:
        start = end.replace(year=end.year - 1)
    except ValueError:
        start = dt.date(end.year - 1, 2, 28)
    return local_midnight(start, tz), local_midnight(end, tz)


def year_to_date(as_of: dt.date, tz: str = DEFAULT_TZ) -> tuple[dt.datetime, dt.datetime]:
    """1 January of ``as_of``'s year to the end of local day ``as_of``."""
    return local_midnight(dt.date(as_of.year, 1, 1), tz), local_midnight(as_of + dt.timedelta(days=1), tz)


def days_in_year(year: int) -> int:
    return (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days


def days_between(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() / 86400.0
