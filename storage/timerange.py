"""The time range InfluxDB 1.x can store, and a check for it.

InfluxDB keeps a point's time as int64 nanoseconds since the Unix epoch. Its line-protocol
reference gives the limits: the smallest timestamp is -9223372036854775806 ns
(1677-09-21T00:12:43.145224194Z), the largest 9223372036854775806 ns
(2262-04-11T23:47:16.854775806Z). A query bound outside that range is refused by the server
(or overflows the integer), so callers check before building a query.
"""

from __future__ import annotations

import datetime as dt

MIN_TIME_NS = -9_223_372_036_854_775_806
MAX_TIME_NS = 9_223_372_036_854_775_806
#: The same limits at datetime's microsecond resolution, rounded inwards.
MIN_TIME = dt.datetime(1677, 9, 21, 0, 12, 43, 145225, tzinfo=dt.UTC)
MAX_TIME = dt.datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=dt.UTC)


def check_storable(t: dt.datetime) -> dt.datetime:
    """``t`` in UTC, or ValueError naming the storable range. ``t`` must carry a zone.

    Compared before conversion: ``astimezone`` itself overflows for 9999-12-31T23:00-05:00.
    """
    if t.tzinfo is None:
        raise ValueError(f"{t.isoformat()} has no time zone; give one, e.g. 2026-01-01T00:00:00Z")
    if not MIN_TIME <= t <= MAX_TIME:
        raise ValueError(f"{t.isoformat()} is outside the storable range "
                         f"{MIN_TIME.isoformat()} .. {MAX_TIME.isoformat()}")
    return t.astimezone(dt.UTC)
