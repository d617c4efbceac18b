"""Write test data the way the platform stores it: daily rollups, then the monthly re-sum, in the
rollup retention policy (``rollup``, the default of the rollup job and of the API).

Analytics reads whole local months from ``<measurement>_1mo`` and the edge days from ``_1d``; the
daily building balances and the monthly points are made by analytics' own ``rebuild_balance_days``
and ``rollup_month`` from the daily ones, never by hand.
"""

from __future__ import annotations

import datetime as dt

from analytics import rollup
from storage.influx import InfluxHTTP


def write_daily_rollups(db: InfluxHTTP, lines: list[str], months: set[tuple[int, int]]) -> None:
    """Write ``_1d`` line-protocol ``lines`` into the rollup retention policy of the database of
    ``db`` (created as the rollup job would), then re-sum each (year, month) of ``months`` into
    ``_1mo`` there."""
    rollup.ensure_rollup_rp(db)
    with rollup.rollup_client(db, rollup.ROLLUP_RP) as out:
        for k in range(0, len(lines), 5000):
            out.write_lines(lines[k:k + 5000])
        for year, month in sorted(months):
            first = dt.date(year, month, 1)
            # The job's steps: each day's building balance from the device days, then the month.
            rollup.rebuild_balance_days(out, first, (first + dt.timedelta(days=32)).replace(day=1))
            rollup.rollup_month(out, first)
