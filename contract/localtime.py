"""Local time of the supervised buildings: China Standard Time, UTC+8 with no daylight saving.

Installation dates, MOHURD collection times and local days are all in this time; a fixed offset
needs no time-zone database.
"""

from __future__ import annotations

import datetime as dt

CHINA_TZ = dt.timezone(dt.timedelta(hours=8))


def installed_on_ms(day: dt.date) -> int:
    """Start of ``day`` in China Standard Time. [ms since the Unix epoch]"""
    return int(dt.datetime.combine(day, dt.time(), CHINA_TZ).timestamp() * 1000)


def local_to_ms(local: dt.datetime) -> int:
    """A naive China Standard Time wall-clock time as UTC epoch milliseconds. [ms]"""
    return int(local.replace(tzinfo=CHINA_TZ).timestamp() * 1000)


def ms_to_local(ts_ms: int) -> dt.datetime:
    """UTC epoch milliseconds as a naive China Standard Time wall-clock time."""
    return dt.datetime.fromtimestamp(ts_ms / 1000, CHINA_TZ).replace(tzinfo=None)
