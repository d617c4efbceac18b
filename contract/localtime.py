"""Local time of the sites: China Standard Time (Asia/Shanghai, UTC+8, no daylight saving since 1991).

One home for days, weeks (starting Monday), months and years in local time. Simulators, ingest,
analytics, the API and the dashboards all bucket by these, so it lives in the lowest room they
share. Instants are UTC (aware ``datetime``) or integer UTC milliseconds; local days are ``date``.

Why a fixed offset next to the zone name: the simulators and ingest convert millions of
timestamps with integer arithmetic (``LOCAL_OFFSET_MS``); InfluxQL ``tz()`` and Grafana want the
IANA name (``TZ_NAME``). Both describe the same clock because China has no daylight saving.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

#: IANA name of the sites' time zone (InfluxQL ``tz('...')``, Grafana's dashboard time zone).
TZ_NAME = "Asia/Shanghai"
#: The same clock as a fixed offset (no daylight saving in China). [ms]
LOCAL_OFFSET_MS = 8 * 3600 * 1000
DAY_MS = 86_400_000
#: ``datetime.timezone`` of UTC+8, for code that must not depend on the tz database.
CHINA_TZ = dt.timezone(dt.timedelta(milliseconds=LOCAL_OFFSET_MS))


def installed_on_ms(day: dt.date) -> int:
    """Start of ``day`` (an installation date, a collector's first day) in China Standard Time. [ms]"""
    return local_midnight_ms(day)


def local_to_ms(local: dt.datetime) -> int:
    """A naive China Standard Time wall-clock time (a MOHURD collection time) as UTC epoch
    milliseconds. [ms]"""
    return int(local.replace(tzinfo=CHINA_TZ).timestamp() * 1000)


def ms_to_local(ts_ms: int) -> dt.datetime:
    """UTC epoch milliseconds as a naive China Standard Time wall-clock time."""
    return dt.datetime.fromtimestamp(ts_ms / 1000, CHINA_TZ).replace(tzinfo=None)


def zone(tz: str = TZ_NAME) -> ZoneInfo:
    return ZoneInfo(tz)


def local_midnight(day: dt.date, tz: str = TZ_NAME) -> dt.datetime:
    """Start of the local ``day`` as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).astimezone(dt.UTC)


def local_midnight_ms(day: dt.date) -> int:
    """UTC milliseconds of local (UTC+8) midnight starting ``day``. [ms]"""
    return (day - dt.date(1970, 1, 1)).days * DAY_MS - LOCAL_OFFSET_MS


def local_date(instant: dt.datetime, tz: str = TZ_NAME) -> dt.date:
    """Local calendar day of an aware instant."""
    return instant.astimezone(ZoneInfo(tz)).date()


def today(now: dt.datetime | None = None, tz: str = TZ_NAME) -> dt.date:
    """Local day of ``now`` (default: the current time)."""
    return local_date(now or dt.datetime.now(dt.UTC), tz)


def week_start(day: dt.date) -> dt.date:
    """Monday of ``day``'s week (ISO 8601 weeks, as Chinese calendars show them)."""
    return day - dt.timedelta(days=day.weekday())


def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """First day of ``day``'s month and first day of the next month."""
    first = day.replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return first, nxt


def year_window(year: int, tz: str = TZ_NAME) -> tuple[dt.datetime, dt.datetime]:
    """[1 January, next 1 January) of ``year`` in local time, as UTC instants."""
    return local_midnight(dt.date(year, 1, 1), tz), local_midnight(dt.date(year + 1, 1, 1), tz)


def same_day_last_year(d: dt.date) -> dt.date:
    """``d`` one year earlier; 29 February falls back to 28 February."""
    try:
        return d.replace(year=d.year - 1)
    except ValueError:
        return dt.date(d.year - 1, 2, 28)


def rolling_12_months(as_of: dt.date, tz: str = TZ_NAME) -> tuple[dt.datetime, dt.datetime]:
    """The 12 calendar months ending with local day ``as_of`` (inclusive): from the same day one
    year earlier + 1 day to ``as_of`` + 1 day. 29 February falls back to 28 February."""
    end = as_of + dt.timedelta(days=1)
    return local_midnight(same_day_last_year(end), tz), local_midnight(end, tz)


def year_to_date(as_of: dt.date, tz: str = TZ_NAME) -> tuple[dt.datetime, dt.datetime]:
    """1 January of ``as_of``'s year to the end of local day ``as_of``."""
    return local_midnight(dt.date(as_of.year, 1, 1), tz), local_midnight(as_of + dt.timedelta(days=1), tz)


def days_in_year(year: int) -> int:
    return (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days


def days_between(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() / 86400.0
