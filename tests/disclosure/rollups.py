"""Write test data the way the platform stores it: daily rollups, then the monthly re-sum.

Analytics reads whole local months from ``<measurement>_1mo`` and the edge days from ``_1d``; the
monthly points are made by analytics' own ``rollup_month`` from the daily ones, never by hand.
"""

from __future__ import annotations

import datetime as dt

from analytics import rollup
from ingest.influx import InfluxHTTP


def write_daily_rollups(db: InfluxHTTP, lines: list[str], months: set[tuple[int, int]]) -> None:
    """Write ``_1d`` line-protocol ``lines``, then re-sum each (year, month) of ``months`` into ``_1mo``."""
    for k in range(0, len(lines), 5000):
        db.write_lines(lines[k:k + 5000])
    # Older analytics read daily points only: nothing to re-sum there.
    rollup_month = getattr(rollup, "rollup_month", None)
    if rollup_month is not None:
        for year, month in sorted(months):
            rollup_month(db, dt.date(year, month, 1))
