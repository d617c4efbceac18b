"""Hourly, daily and monthly energy rollups per device, so annual analytics never scan raw 15-minute
points.

For each raw measurement (``meter``, ``pv``, ``ev_pile``, ``ev_session``) the job sums the interval
fields per device over hours, local days and local months and writes ``<measurement>_1h`` /
``_1d`` / ``_1mo`` with the same tags, the same field names and ``readings`` (interval points
summed; for ``ev_session`` the completed sessions). Months are re-summed from the days.
InfluxQL over ``/query``, line protocol over ``/write``, so it runs against every InfluxDB version
(REFERENCE.md section 5).

Interval convention. A raw interval value is stamped at the *end* of its interval (glossary), so a
bucket holds the points with ``start < time <= end`` (InfluxQL ``GROUP BY time(1h, 1ms)``); the
rollup point is stamped at the bucket *start*. The 00:00 reading belongs to the day before.

Restartable and idempotent. Work goes one local day at a time; after a complete day the
checkpoint (measurement ``rollup_checkpoint``, tag ``job``) moves to its end. A run starts at the
checkpoint minus ``lookback_days`` (late and re-derived interval values land there), and always
redoes the current, incomplete day. Before a day is summed its interval values are recomputed from
the stored registers (:mod:`analytics.rederive`), so a stale value left by a multi-worker ingest
never reaches a rollup. Rewriting a window writes the same series and timestamps, so
InfluxDB overwrites: re-running any window is safe. Backfills older than the lookback are
re-rolled with an explicit ``--from``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from analytics import rederive as rederive_mod
from analytics.balance import SOURCES, accumulate
from contract.localtime import TZ_NAME, local_midnight, month_bounds
from storage.influx import InfluxHTTP, quote_ident, quote_literal
from storage.lineproto import encode_line

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
CHECKPOINT_MEASUREMENT = "rollup_checkpoint"
#: Retention policy of the rollups and the checkpoint unless ``EP_ROLLUP_RP`` renames it; the raw
#: data stays in the database's default policy. Created by :func:`ensure_rollup_rp` when missing.
ROLLUP_RP = "rollup"
#: Shard group duration of a created rollup policy: a year of daily points in one or two shards.
ROLLUP_SHARD_DURATION = "52w"
#: Field that is counted as ``readings``: one interval point has exactly one of them.
READINGS = "readings"


@dataclass(frozen=True)
class RollupSpec:
    """What is summed from one raw measurement."""

    measurement: str
    fields: tuple[str, ...]
    #: ``readings`` is the largest non-null count among these: an interval point carries at least
    #: one of them (a pv_inverter sends generation, a pv_meter only export/import).
    count_fields: tuple[str, ...]
    where: str = ""


SPECS: tuple[RollupSpec, ...] = (
    RollupSpec("meter", ("consumption_kwh", "consumption_m3", "consumption_kg"),
               ("consumption_kwh", "consumption_m3", "consumption_kg")),
    RollupSpec("pv", ("generation_kwh", "to_grid_kwh", "from_grid_kwh"), ("generation_kwh", "to_grid_kwh")),
    RollupSpec("ev_pile", ("consumption_kwh",), ("consumption_kwh",)),
    RollupSpec("ev_session", ("energy_kwh", "pv_energy_kwh"), ("energy_kwh",),
               where=f"event = {quote_literal('stop')}"),
)


def rollup_name(measurement: str, resolution: str) -> str:
    """``meter`` + ``1d`` -> ``meter_1d``."""
    return f"{measurement}_{resolution}"


@dataclass
class RollupStats:
    days: int = 0
    hourly_points: int = 0
    daily_points: int = 0
    monthly_points: int = 0
    checkpoint: dt.date | None = None
    per_day: list[tuple[dt.date, int]] = field(default_factory=list)
    #: Register points whose interval value was recomputed, and of those rewritten (analytics.rederive).
    rederive_checked: int = 0
    rederive_rewritten: int = 0


def _hourly_query(spec: RollupSpec, start_ms: int, end_ms: int) -> str:
    sums = ", ".join(f'sum("{f}") AS "{f}"' for f in spec.fields)
    counts = ", ".join(f'count("{f}") AS "n_{f}"' for f in spec.count_fields)
    where = f"time > {start_ms}ms AND time <= {end_ms}ms" + (f" AND {spec.where}" if spec.where else "")
    # Literal identifiers and integer times only: nothing user-supplied reaches the statement.
    return (f'SELECT {sums}, {counts} FROM "{spec.measurement}" WHERE {where} '  # noqa: S608
            f"GROUP BY time(1h, 1ms), * fill(none)")


def rollup_day(db: InfluxHTTP, day: dt.date, *, tz: str = TZ_NAME, batch_lines: int = 5000,
               out: InfluxHTTP | None = None) -> tuple[int, int]:
    """Roll up one local day for every spec, reading raw points through ``db`` and writing through
    ``out`` (default ``db``; a client of the rollup retention policy); returns (hourly, daily)
    points written."""
    out = out or db
    start = local_midnight(day, tz)
    end = local_midnight(day + dt.timedelta(days=1), tz)
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    n_hourly = n_daily = 0
    for spec in SPECS:
        lines: list[str] = []
        daily: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for s in db.query(_hourly_query(spec, start_ms, end_ms)):
            tags = tuple(sorted((k, v) for k, v in s["tags"].items() if v))
            cols = s["columns"]
            for row in s["values"]:
                rec = dict(zip(cols, row, strict=True))
                fields: dict[str, float | int] = {f: float(rec[f]) for f in spec.fields if rec.get(f) is not None}
                n = max(int(rec.get(f"n_{f}") or 0) for f in spec.count_fields)
                if n == 0 and not fields:
                    continue
                fields[READINGS] = n
                bucket_start_ms = int(rec["time"]) - 1  # GROUP BY offset of 1 ms
                lines.append(encode_line(rollup_name(spec.measurement, "1h"), dict(tags), fields, bucket_start_ms))
                acc = daily[tags]
                for k, v in fields.items():
                    acc[k] += v
                if len(lines) >= batch_lines:
                    out.write_lines(lines)
                    n_hourly += len(lines)
                    lines = []
        if lines:
            out.write_lines(lines)
            n_hourly += len(lines)
        day_lines = []
        for tags, acc in daily.items():
            fields = {k: (int(v) if k == READINGS else v) for k, v in acc.items()}
            day_lines.append(encode_line(rollup_name(spec.measurement, "1d"), dict(tags), fields, start_ms))
        for i in range(0, len(day_lines), batch_lines):
            out.write_lines(day_lines[i:i + batch_lines])
        n_daily += len(day_lines)
    return n_hourly, n_daily


def rollup_month(out: InfluxHTTP, day: dt.date, *, tz: str = TZ_NAME, batch_lines: int = 5000) -> int:
    """Re-sum the daily rollups of ``day``'s local month into ``<measurement>_1mo`` per device and
    into ``building_1mo`` per building (the balance fields of :mod:`analytics.balance`), stamped at
    the month's first local midnight; returns points written.

    Why the building level: an annual query then reads one series per building with 12 points,
    instead of one per device with 365 (docs/benchmarks/analytics.md)."""
    first, nxt = month_bounds(day)
    start_ms = int(local_midnight(first, tz).timestamp() * 1000)
    end_ms = int(local_midnight(nxt, tz).timestamp() * 1000)
    lines: list[str] = []
    rows: dict[str, list[dict]] = {}
    for spec in SPECS:
        aliases = SOURCES[spec.measurement][0]
        sums = ", ".join(f'sum("{f}") AS "{a}"' for a, f in aliases.items())
        q = (f'SELECT {sums} FROM "{rollup_name(spec.measurement, "1d")}" '  # noqa: S608
             f"WHERE time >= {start_ms}ms AND time < {end_ms}ms GROUP BY *")
        rows[spec.measurement] = []
        for series in out.query(q):
            rec = dict(zip(series["columns"], series["values"][0], strict=True))
            tags = {k: v for k, v in series["tags"].items() if v}
            fields: dict[str, float | int] = {f: float(rec[a]) for a, f in aliases.items()
                                              if a != "n" and rec.get(a) is not None}
            fields[READINGS] = int(rec.get("n") or 0)
            lines.append(encode_line(rollup_name(spec.measurement, "1mo"), tags, fields, start_ms))
            rows[spec.measurement].append({**rec, **tags})
    for code, acc in accumulate(rows).items():
        fields = {f: (int(v) if f in ("readings", "ev_sessions") else float(v)) for f, v in acc.items()}
        lines.append(encode_line(rollup_name("building", "1mo"), {"building_code": code}, fields, start_ms))
    for i in range(0, len(lines), batch_lines):
        out.write_lines(lines[i:i + batch_lines])
    return len(lines)


def read_checkpoint(db: InfluxHTTP, job: str = "rollup") -> dt.date | None:
    """First local day not yet rolled up completely, or None before the first run."""
    series = db.query(f"SELECT last(done_until) FROM {CHECKPOINT_MEASUREMENT} "  # noqa: S608
                      f"WHERE job = {quote_literal(job)}")
    if not series or not series[0]["values"]:
        return None
    return dt.date.fromisoformat(series[0]["values"][0][1])


def write_checkpoint(db: InfluxHTTP, day: dt.date, job: str = "rollup") -> None:
    # One point at a fixed time: each write overwrites the last, no history to grow.
    db.write_lines([encode_line(CHECKPOINT_MEASUREMENT, {"job": job}, {"done_until": day.isoformat()}, 0)])


def earliest_day(db: InfluxHTTP, tz: str = TZ_NAME) -> dt.date | None:
    """Local day of the oldest raw point of any rolled-up measurement."""
    first_ms = []
    for spec in SPECS:
        for s in db.query(f'SELECT * FROM "{spec.measurement}" ORDER BY time ASC LIMIT 1'):  # noqa: S608
            first_ms.append(int(s["values"][0][0]))
    if not first_ms:
        return None
    # -1 ms: a point at local midnight closes the previous day's last interval.
    instant = dt.datetime.fromtimestamp((min(first_ms) - 1) / 1000, dt.UTC)
    return instant.astimezone(ZoneInfo(tz)).date()


def rollup_client(db: InfluxHTTP, rollup_rp: str | None) -> InfluxHTTP:
    """A client like ``db`` whose writes and unqualified reads use ``rollup_rp``."""
    return db if rollup_rp is None else dataclasses.replace(db, retention_policy=rollup_rp)


def _duration_h(text: str) -> float:
    """``52w`` / ``365d`` / ``8760h`` or InfluxDB's ``8736h0m0s`` in hours."""
    units = {"w": 168.0, "d": 24.0, "h": 1.0, "m": 1 / 60, "s": 1 / 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)([wdhms])", text))


def ensure_rollup_rp(db: InfluxHTTP, rollup_rp: str = ROLLUP_RP, shard_duration: str = ROLLUP_SHARD_DURATION
                     ) -> bool:
    """Create the rollup retention policy when it is missing (kept forever, one shard group per
    ``shard_duration``); an existing policy is left as it is.

    Why: with the default 7-day shard groups a year of daily points spans 53 shards and an annual
    ``GROUP BY building_code`` costs one iterator per series and shard (docs/benchmarks/analytics.md
    measures the difference). An existing policy is never altered (its settings are the operator's
    choice); a different shard duration is only logged, a finite retention is refused.

    Parameters
    ----------
    db : InfluxHTTP
        Client of the database (its own retention policy does not matter).
    rollup_rp : str
        Name of the policy.
    shard_duration : str
        Shard group duration of a created policy, like ``52w``, ``365d`` or ``8760h``. [w, d or h]

    Returns
    -------
    bool
        True when this call created the policy.

    Raises
    ------
    ValueError
        For a malformed ``shard_duration``, an empty name, or an existing policy that expires data.
    """
    if not re.fullmatch(r"[0-9]+[hdw]", shard_duration):
        raise ValueError(f"shard_duration {shard_duration!r} is not like 52w, 365d or 8760h")
    if not rollup_rp:
        raise ValueError("rollup_rp (EP_ROLLUP_RP) cannot be empty")
    for s in db.query(f"SHOW RETENTION POLICIES ON {quote_ident(db.database)}"):
        for row in s["values"]:
            rec = dict(zip(s["columns"], row, strict=True))
            if rec["name"] == rollup_rp:
                if _duration_h(str(rec["duration"])) != 0:
                    # Expiring rollups would be lost, and the checkpoint (stamped at time 0) refused.
                    raise ValueError(f"retention policy {rollup_rp!r} keeps data for {rec['duration']}; the "
                                     "rollups need one that keeps it forever (DURATION INF)")
                if abs(_duration_h(str(rec["shardGroupDuration"])) - _duration_h(shard_duration)) > 1e-6:
                    log.info("retention policy %r exists with shard groups of %s, not %s: left as it is",
                                rollup_rp, rec["shardGroupDuration"], shard_duration)
                return False
    db.query_raw(f"CREATE RETENTION POLICY {quote_ident(rollup_rp)} ON {quote_ident(db.database)} "
                 f"DURATION INF REPLICATION 1 SHARD DURATION {shard_duration}", epoch=None, post=True)
    log.info("created retention policy %r on %r (shard duration %s)", rollup_rp, db.database, shard_duration)
    return True


def run(db: InfluxHTTP, *, start: dt.date | None = None, end: dt.date | None = None, lookback_days: int = 1,
        tz: str = TZ_NAME, now: dt.datetime | None = None, job: str = "rollup",
        on_day: Callable[[dt.date], None] | None = None, rollup_rp: str | None = ROLLUP_RP,
        rederive: bool = True) -> RollupStats:
    """Roll up from ``start`` (default: checkpoint - ``lookback_days``, or the oldest data) to
    ``end`` inclusive (default: today, local).

    Parameters
    ----------
    db : InfluxHTTP
        Client of the database holding raw and rollup measurements.
    start, end : datetime.date, optional
        Local days, inclusive.
    lookback_days : int
        Complete days before the checkpoint that are redone on every run. [d]
    tz : str
        Time zone of local days.
    now : datetime, optional
        Current time (tests freeze it); the checkpoint never passes the local day holding ``now``.
    on_day : callable, optional
        Called after each day is written (the restart test stops the job there).
    rollup_rp : str, optional
        Retention policy for the rollups and the checkpoint, created when missing
        (:func:`ensure_rollup_rp`); None writes them into ``db``'s own policy.
    rederive : bool
        Before summing a day, recompute its interval values from the stored registers and rewrite
        the stale ones (:mod:`analytics.rederive`); off only when a single ingest worker wrote the
        data (its cost: docs/benchmarks/analytics.md).
    """
    if rollup_rp is not None:
        ensure_rollup_rp(db, rollup_rp)
    out = rollup_client(db, rollup_rp)
    if lookback_days < 0:
        raise ValueError(f"lookback_days must be >= 0, got {lookback_days}")
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(ZoneInfo(tz)).date()
    end = min(end or today, today)
    stats = RollupStats(checkpoint=read_checkpoint(out, job))
    if start is None:
        if stats.checkpoint is not None:
            start = stats.checkpoint - dt.timedelta(days=lookback_days)
        else:
            start = earliest_day(db, tz)
            if start is None:
                log.info("no raw data yet: nothing to roll up")
                return stats
    if start.day == 1 and start <= end:
        # The previous month may have been left stale by a crash right after its last day.
        stats.monthly_points += rollup_month(out, start - dt.timedelta(days=1), tz=tz)
    day = start
    while day <= end:
        if rederive:
            r = rederive_mod.rederive_window(db, int(local_midnight(day, tz).timestamp() * 1000),
                                             int(local_midnight(day + dt.timedelta(days=1), tz).timestamp() * 1000))
            stats.rederive_checked += r.checked
            stats.rederive_rewritten += r.rewritten
        h, d = rollup_day(db, day, tz=tz, out=out)
        # A month is re-summed once per run, when the run leaves it or ends: at city scale a month
        # costs seconds. A crash before that leaves it stale only until the next run, which
        # touches that month again (it starts at the checkpoint minus the lookback, see below).
        if day == end or (day + dt.timedelta(days=1)).day == 1:
            stats.monthly_points += rollup_month(out, day, tz=tz)
        stats.days += 1
        stats.hourly_points += h
        stats.daily_points += d
        stats.per_day.append((day, d))
        nxt = day + dt.timedelta(days=1)
        # Only complete days advance the checkpoint, and it never moves backwards.
        if local_midnight(nxt, tz) <= now and (stats.checkpoint is None or nxt > stats.checkpoint):
            write_checkpoint(out, nxt, job)
            stats.checkpoint = nxt
        if on_day is not None:
            on_day(day)
        day = nxt
    return stats
