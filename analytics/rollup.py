"""Hourly, daily and monthly energy rollups per device, so annual analytics never scan raw 15-minute
points.

For each raw measurement (``meter``, ``pv``, ``ev_pile``, ``ev_session``) the job sums the interval
fields per device over hours, local days and local months and writes ``<measurement>_1h`` /
``_1d`` / ``_1mo`` with the same tags, the same field names and ``readings`` (interval points
summed; for ``ev_session`` the completed sessions). Months are re-summed from the days.
InfluxQL over ``/query``, line protocol over ``/write``, so it runs against every InfluxDB version
(docs/reference.md section 5).

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

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine

from analytics import balance_store
from analytics import rederive as rederive_mod
from analytics.balance import BALANCE_FIELDS, COUNT_FIELDS, NOMINAL_INTERVAL_S, building_days, main_meter_codes

# The retention policy of the rollups lives in analytics.retention; re-exported for the job's callers.
from analytics.retention import ROLLUP_RP, ROLLUP_SHARD_DURATION, ensure_rollup_rp, rollup_client  # noqa: F401
from contract.localtime import TZ_NAME, local_midnight, month_bounds
from contract.units import Dimension
from contract.vocabulary import field_name
from storage.influx import InfluxHTTP, quote_literal
from storage.lineproto import encode_line
from storage.utc import epoch_ms

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
CHECKPOINT_MEASUREMENT = "rollup_checkpoint"
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
    #: Sum the time the readings cover (``covered_s``): interval points of devices, not sessions.
    covered: bool = True


_E, _V, _M = (field_name("consumption", d) for d in (Dimension.energy, Dimension.volume, Dimension.mass))
SPECS: tuple[RollupSpec, ...] = (
    RollupSpec("meter", (_E, _V, _M), (_E, _V, _M)),
    RollupSpec("pv", ("generation_kwh", "to_grid_kwh", "from_grid_kwh"), ("generation_kwh", "to_grid_kwh")),
    RollupSpec("ev_pile", (_E,), (_E,)),
    RollupSpec("ev_session", ("energy_kwh", "pv_energy_kwh"), ("energy_kwh",),
               where=f"event = {quote_literal('stop')}", covered=False),
)
#: Building-level balance (analytics.balance), daily and monthly.
BALANCE_MEASUREMENT = "building"
COVERED = "covered_s"


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
    if spec.covered:
        counts += ', sum("interval_s") AS "covered_sum", count("interval_s") AS "n_interval"'
    where = f"time > {start_ms}ms AND time <= {end_ms}ms" + (f" AND {spec.where}" if spec.where else "")
    # Literal identifiers and integer times only: nothing user-supplied reaches the statement.
    return (f'SELECT {sums}, {counts} FROM "{spec.measurement}" WHERE {where} '  # noqa: S608
            f"GROUP BY time(1h, 1ms), * fill(none)")


def _covered_s(rec: dict, n: int) -> float:
    """Seconds the readings of a bucket cover: their ``interval_s``, and a nominal interval for a
    reading stored without one (a device that sends its own interval values, or its first reading)."""
    with_interval = int(rec.get("n_interval") or 0)
    return float(rec.get("covered_sum") or 0.0) + max(n - with_interval, 0) * NOMINAL_INTERVAL_S


def _write(out: InfluxHTTP, lines: list[str], batch_lines: int) -> None:
    for i in range(0, len(lines), batch_lines):
        out.write_lines(lines[i:i + batch_lines])


def main_metered_before(out: InfluxHTTP, end_ms: int) -> set[str]:
    """Buildings whose ``main`` electricity meter has a daily rollup before ``end_ms``: from then on
    a day without its readings is an offline meter, not a building without one
    (:func:`analytics.balance.derive`). One point per such building."""
    q = (f'SELECT last("{READINGS}") FROM "{rollup_name("meter", "1d")}" '  # noqa: S608
         f"WHERE carrier = 'electricity' AND (sub_item = 'main' OR sub_item = '') AND time < {end_ms}ms "
         "GROUP BY building_code")
    return {s["tags"]["building_code"] for s in out.query(q) if s.get("tags", {}).get("building_code")}


def balance_lines(rows: dict[str, list[dict]], resolution: str, stamp_ms: int,
                  main_metered: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """``building_<resolution>`` points of each building's balance (:func:`analytics.balance.building_days`)
    from one day's per-device sums ``rows[measurement]`` (dicts of tags and rollup fields);
    ``main_metered`` as there."""
    lines = []
    for code, bal in building_days(rows, main_metered).items():
        fields = {f: (int(v) if f in COUNT_FIELDS else float(v)) for f, v in bal.items()}
        lines.append(encode_line(rollup_name(BALANCE_MEASUREMENT, resolution), {"building_code": code}, fields,
                                 stamp_ms))
    return lines


def rollup_day(db: InfluxHTTP, day: dt.date, *, tz: str = TZ_NAME, batch_lines: int = 5000,
               out: InfluxHTTP | None = None) -> tuple[int, int]:
    """Roll up one local day for every spec, reading raw points through ``db`` and writing through
    ``out`` (default ``db``; a client of the rollup retention policy): per device ``_1h`` and
    ``_1d``, and each building's balance ``building_1d`` (:mod:`analytics.balance`); returns
    (hourly, daily) points written."""
    out = out or db
    start = local_midnight(day, tz)
    end = local_midnight(day + dt.timedelta(days=1), tz)
    start_ms, end_ms = epoch_ms(start), epoch_ms(end)
    n_hourly = n_daily = 0
    day_rows: dict[str, list[dict]] = {}
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
                if spec.covered:
                    fields[COVERED] = _covered_s(rec, n)
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
        day_rows[spec.measurement] = []
        for tags, acc in daily.items():
            fields = {k: (int(v) if k == READINGS else v) for k, v in acc.items()}
            day_lines.append(encode_line(rollup_name(spec.measurement, "1d"), dict(tags), fields, start_ms))
            day_rows[spec.measurement].append({**dict(tags), **fields})
        _write(out, day_lines, batch_lines)
        n_daily += len(day_lines)
    # This day's rows are written above, so a main meter reporting for the first time counts too.
    balance = balance_lines(day_rows, "1d", start_ms, main_metered_before(out, end_ms) | main_meter_codes(day_rows))
    _write(out, balance, batch_lines)
    return n_hourly, n_daily + len(balance)


def rebuild_balance_days(out: InfluxHTTP, first: dt.date, end: dt.date, *, tz: str = TZ_NAME,
                         batch_lines: int = 5000) -> int:
    """Write ``building_1d`` for the local days ``[first, end)`` from the per-device ``_1d``
    rollups already stored (for rollups written before the balance existed, and for tests that
    write daily rollups directly); returns points written."""
    start_ms = int(local_midnight(first, tz).timestamp() * 1000)
    end_ms = int(local_midnight(end, tz).timestamp() * 1000)
    by_day: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for spec in SPECS:
        q = (f'SELECT * FROM "{rollup_name(spec.measurement, "1d")}" '  # noqa: S608
             f"WHERE time >= {start_ms}ms AND time < {end_ms}ms GROUP BY *")
        for series in out.query(q):
            tags = {k: v for k, v in series["tags"].items() if v}
            for row in series["values"]:
                rec = {k: v for k, v in zip(series["columns"], row, strict=True) if v is not None}
                by_day[int(rec.pop("time"))][spec.measurement].append({**rec, **tags})
    lines: list[str] = []
    main_metered = main_metered_before(out, start_ms)
    for t, rows in sorted(by_day.items()):  # in day order: a main meter counts from its first day
        main_metered |= main_meter_codes(rows)
        lines += balance_lines(rows, "1d", t, main_metered)
    _write(out, lines, batch_lines)
    return len(lines)


def rollup_month(out: InfluxHTTP, day: dt.date, *, tz: str = TZ_NAME, batch_lines: int = 5000,
                 store: Engine | None = None) -> int:
    """Re-sum the daily rollups of ``day``'s local month into ``<measurement>_1mo`` per device and
    the daily balances ``building_1d`` into ``building_1mo`` per building, stamped at the month's
    first local midnight; returns points written. ``store``: the SQL database that also gets the
    month's balance and its year (:mod:`analytics.balance_store`), from the same frame.

    Why the building level: an annual query then reads one series per building with 12 points,
    instead of one per device with 365 (docs/benchmarks/analytics.md)."""
    first, nxt = month_bounds(day)
    start_ms = epoch_ms(local_midnight(first, tz))
    end_ms = epoch_ms(local_midnight(nxt, tz))
    lines: list[str] = []
    for spec in SPECS:
        fields_in = (*spec.fields, READINGS, *((COVERED,) if spec.covered else ()))
        sums = ", ".join(f'sum("{f}") AS "{f}"' for f in fields_in)
        q = (f'SELECT {sums} FROM "{rollup_name(spec.measurement, "1d")}" '  # noqa: S608
             f"WHERE time >= {start_ms}ms AND time < {end_ms}ms GROUP BY *")
        for series in out.query(q):
            rec = dict(zip(series["columns"], series["values"][0], strict=True))
            tags = {k: v for k, v in series["tags"].items() if v}
            fields: dict[str, float | int] = {f: float(rec[f]) for f in fields_in if rec.get(f) is not None}
            fields[READINGS] = int(rec.get(READINGS) or 0)
            lines.append(encode_line(rollup_name(spec.measurement, "1mo"), tags, fields, start_ms))
    month = read_balance_points(out, rollup_name(BALANCE_MEASUREMENT, "1d"), start_ms, end_ms)
    for code, bal in month.iterrows():
        fields = {f: (int(v) if f in COUNT_FIELDS else float(v)) for f, v in bal.items()}
        lines.append(encode_line(rollup_name(BALANCE_MEASUREMENT, "1mo"), {"building_code": str(code)}, fields,
                                 start_ms))
    _write(out, lines, batch_lines)
    if store is not None:
        balance_store.write_month(store, first, month)
    return len(lines)


def read_balance_points(db: InfluxHTTP, measurement: str, start_ms: int, end_ms: int,
                        codes: list[str] | None = None, fields: tuple[str, ...] = BALANCE_FIELDS) -> pd.DataFrame:
    """Balance points (``building_1d`` / ``building_1mo``) in ``[start, end)``, summed per building:
    index ``building_code``, the ``fields`` columns (default every one of
    :data:`analytics.balance.BALANCE_FIELDS`).

    Raw points, summed here: InfluxDB 1.6 spends about twice as long on GROUP BY building_code
    over 10,000 series as on returning their 120,000 monthly points (docs/benchmarks/analytics.md).
    Each field is its own column in storage, so the read costs about in proportion to the fields
    asked for: a reader that needs a few (the audit verdict) asks for those only.
    """
    unknown = set(fields) - set(BALANCE_FIELDS)
    if unknown or not fields:
        raise ValueError(f"balance fields {sorted(unknown) or '(none)'}: choose from {BALANCE_FIELDS}")
    wanted = list(fields)
    fields = ", ".join(f'"{f}"' for f in wanted)
    only = ""
    if codes:
        # quote_literal escapes; codes come from the registry, where they match the code pattern.
        only = " AND (" + " OR ".join(f"building_code = {quote_literal(c)}" for c in codes) + ")"
    q = (f'SELECT {fields}, "building_code" FROM "{measurement}" '  # noqa: S608
         f"WHERE time >= {start_ms}ms AND time < {end_ms}ms{only}")
    frames = [pd.DataFrame(s["values"], columns=s["columns"]) for s in db.query(q)]
    if not frames:
        return pd.DataFrame(columns=wanted, index=pd.Index([], name="building_code"), dtype=float)
    df = pd.concat(frames).drop(columns="time")
    summed = df.groupby("building_code").sum(min_count=1)
    return summed.reindex(columns=wanted).astype(float).fillna(0.0)


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


def write_completion(db: InfluxHTTP, job: str = "rollup", at_ms: int | None = None) -> None:
    """Stamp the end of a run (``at_ms``, default now; wall-clock ms) on the checkpoint's point: the
    API keys its indicator cache on it, so a completed rollup shows at once instead of after the
    cache's lifetime."""
    at_ms = int(time.time() * 1000) if at_ms is None else at_ms
    db.write_lines([encode_line(CHECKPOINT_MEASUREMENT, {"job": job}, {"completed_at_ms": at_ms}, 0)])


def read_completion(db: InfluxHTTP, job: str = "rollup") -> int | None:
    """When the last run of ``job`` completed (ms since the epoch), or None before the first."""
    series = db.query(f"SELECT last(completed_at_ms) FROM {CHECKPOINT_MEASUREMENT} "  # noqa: S608
                      f"WHERE job = {quote_literal(job)}")
    if not series or not series[0]["values"]:
        return None
    return int(series[0]["values"][0][1])


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


def run(db: InfluxHTTP, *, start: dt.date | None = None, end: dt.date | None = None, lookback_days: int = 1,
        tz: str = TZ_NAME, now: dt.datetime | None = None, job: str = "rollup",
        on_day: Callable[[dt.date], None] | None = None, rollup_rp: str | None = ROLLUP_RP,
        rederive: bool = True, replaced_ms: Mapping[tuple[str, str], int] | None = None,
        store: Engine | None = None, before_completion: Callable[[InfluxHTTP, int], None] | None = None,
        ) -> RollupStats:
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
    replaced_ms : mapping, optional
        Recorded device replacements for the re-derivation (:func:`analytics.rederive.rederive_window`). [ms]
    store : Engine, optional
        SQL database (migrated) that the month step also writes the balance to
        (:mod:`analytics.balance_store`, what the annual readers read); None: InfluxDB only.
    before_completion : callable, optional
        Called with the rollups' client and the completion stamp about to be written, after the
        last day: the indicator snapshot (:func:`analytics.snapshot.refresh`) lands before the
        stamp, so a reader that sees the stamp finds its snapshot.
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
        stats.monthly_points += rollup_month(out, start - dt.timedelta(days=1), tz=tz, store=store)
    day = start
    while day <= end:
        if rederive:
            r = rederive_mod.rederive_window(db, epoch_ms(local_midnight(day, tz)),
                                             epoch_ms(local_midnight(day + dt.timedelta(days=1), tz)),
                                             replaced_ms=replaced_ms)
            stats.rederive_checked += r.checked
            stats.rederive_rewritten += r.rewritten
        h, d = rollup_day(db, day, tz=tz, out=out)
        # A month is re-summed once per run, when the run leaves it or ends: at city scale a month
        # costs seconds. A crash before that leaves it stale only until the next run, which
        # touches that month again (it starts at the checkpoint minus the lookback, see below).
        if day == end or (day + dt.timedelta(days=1)).day == 1:
            stats.monthly_points += rollup_month(out, day, tz=tz, store=store)
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
    stamp_ms = int(time.time() * 1000)
    if before_completion is not None:
        before_completion(out, stamp_ms)
    write_completion(out, job, stamp_ms)
    return stats
