"""Re-derive stored interval values from the stored registers before the rollup sums a window.

Why: with several ingest workers on one shared subscription, two readings of one device can be
handled by different workers, and an interval value can be computed against a stale neighbour
(docs/ingest.md, "known limit"). The registers are always stored exactly, so the rollup recomputes
each interval value (``consumption_*``, ``generation_kwh``, ``to_grid_kwh``, ``from_grid_kwh``)
and ``interval_s`` from them, with ingest's own arithmetic (:mod:`contract.registers`), and rewrites
only the points whose stored value differs. A rewrite is the same series and timestamp with the
two derived fields, so InfluxDB overwrites those fields and keeps the rest: running it again
rewrites nothing.

Rules, the same as ingest's (ingest/intervals.py):

* each register reading is first judged against both its neighbours, of the same device and
  register field, in time order (:func:`contract.registers.clean_values`): a single misread value
  outside ``[previous, next]`` while ``previous <= next`` (by more than one displayed digit) stands
  for the nearer bound, and every step is derived from these clean values. So a reading's interval
  value depends on the two readings before it and the one after it: for each register, the two last
  readings before the window and the first one after it (both within ``previous_lookback_days``)
  are read as context. They are never rewritten, and the ends of what was found are not judged:
  the device's first reading (one reading before the window) and its newest (none after the
  window, a provisional value, as in ingest);
* the interval value of a reading is the register delta from the reading before it (clean values),
  in time order (normal, jitter, rollover or reset); a backward step without evidence of a reset,
  or a spike above the plausible rate, is held out (not rewritten, not summed), the same decision
  as ingest's. A misread dip that ingest held out is now a step of zero and is rewritten;
* a reading whose interval value came from the device itself (stored interval value without
  ``interval_s``, which only derivation writes) is left alone (its register is still a neighbour);
* the first reading of a device has no interval value. Only ``previous_lookback_days`` before the
  window are searched for the readings before the window's first one; when none is found there,
  that first reading keeps its stored value (it is not checked).

Rollover detection uses a display factor of 1 (the stored base unit): equal to ingest's for
registers shown in a power of ten of the base unit (Wh, kWh, MWh, L, m3, kg, t); an MJ or GJ
heat register (factor 1/3.6) that rolls over is detected in kWh digits instead. The one-digit
tolerance of the jitter and misread rules is one stored unit too: a Wh register's misread within
1 kWh of its neighbours is clipped by ingest, not here (see docs/analytics.md).

Memory is bounded: the window's devices are listed first (one row per device), then read and
fixed a few buildings at a time (``max_devices_per_query`` devices per query).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from contract.plausibility import Limits
from contract.registers import clean_values, interval_between
from contract.vocabulary import (
    CARRIER_DIMENSION,
    MEASUREMENT,
    REGISTER_TO_INTERVAL,
    TELEMETRY_QUANTITIES,
    field_name,
)
from storage.influx import InfluxHTTP, quote_ident, quote_literal
from storage.lineproto import encode_line

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
#: Devices whose points one query reads (a day of 15-minute data: ~97 rows each). [1]
DEFAULT_MAX_DEVICES_PER_QUERY = 500
#: How far before the window (and after it) the context readings are searched. [d]
DEFAULT_PREVIOUS_LOOKBACK_DAYS = 31
#: Stored and recomputed values closer than this are equal (float rounding of unit factors).
_REL_TOL = 1e-9
#: Ingest's default plausible rates (contract/plausibility.py): a spike is held out here as there.
_LIMITS = Limits()
_ABS_TOL = 1e-9


def _register_fields() -> dict[str, tuple[tuple[str, str], ...]]:
    """measurement -> ((register field, interval field), ...), from the wire vocabulary."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for kind, measurement in MEASUREMENT.items():
        for q, dim in TELEMETRY_QUANTITIES[kind].items():
            if q not in REGISTER_TO_INTERVAL:
                continue
            dims = [dim] if dim is not None else sorted(set(CARRIER_DIMENSION.values()), key=str)
            for d in dims:
                out[measurement][field_name(q, d)] = field_name(REGISTER_TO_INTERVAL[q], d)
    return {m: tuple(sorted(f.items())) for m, f in out.items()}


#: measurement -> ((register field, interval field), ...), e.g. ``meter``: register_kwh -> consumption_kwh.
REGISTER_FIELDS: dict[str, tuple[tuple[str, str], ...]] = _register_fields()


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """One stored point of a device: its registers and derived fields as read back (None: absent)."""

    ts_ms: int
    tags: tuple[tuple[str, str], ...]
    values: dict[str, float | None]


@dataclass
class RederiveStats:
    """``checked``: points with at least one recomputable interval value; ``rewritten``: of those,
    points whose stored interval value or ``interval_s`` differed and were written again."""

    checked: int = 0
    rewritten: int = 0
    devices: int = 0

    def add(self, other: RederiveStats) -> None:
        self.checked += other.checked
        self.rewritten += other.rewritten
        self.devices += other.devices


def _same(stored: float | None, value: float) -> bool:
    return stored is not None and math.isclose(stored, value, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)


def fixes_for_device(points: Sequence[StoredPoint], previous: Mapping[str, Sequence[tuple[int, float]]],
                     pairs: Iterable[tuple[str, str]], replaced_ms: int | None = None,
                     following: Mapping[str, Sequence[tuple[int, float]]] | None = None
                     ) -> tuple[int, list[tuple[StoredPoint, dict[str, float]]]]:
    """Recompute the interval values of one device's points and list those that differ.

    Parameters
    ----------
    points : sequence of StoredPoint
        The device's points in the window, sorted by time. [ms, base unit]
    previous : mapping
        Register field -> (time, value) of the last readings before the window, in time order; the
        last two are used (the first window reading's predecessor is judged with both of its
        neighbours). One reading: the device's first, not judged. [ms, base unit]
    pairs : iterable of (str, str)
        (register field, interval field) of the measurement.
    replaced_ms : int, optional
        The device's recorded replacement instant (registry ``replaced_on``, local midnight): a step
        across it counts zero, as ingest counts it, and no reading is judged across it
        (contract/registers.py). [ms]
    following : mapping, optional
        Register field -> (time, value) of the first readings after the window, in time order; the
        first is used, to judge the window's last reading. None (or none for a register): that last
        reading is the newest known, not judged. [ms, base unit]

    Returns
    -------
    checked : int
        Points with at least one recomputable interval value.
    fixes : list
        (point, fields to write) for each point whose stored values differ: every recomputed
        interval field of that point and ``interval_s`` [s].

    Notes
    -----
    The interval value of a window reading k is
    ``interval_between(ts[k-1], clean[k-1], ts[k], clean[k])`` where ``clean`` is
    :func:`contract.registers.clean_values` over [up to 2 readings before] + [the window's readings
    of this register] + [up to 1 after]: ingest's own arithmetic. Context readings are not rewritten.

    When a point carries several registers (a pv_meter's to_grid and from_grid) whose previous
    readings are at different times, ``interval_s`` is the shortest of their intervals: the time
    since the device's last reading of any register.
    """
    pairs = tuple(pairs)
    after = following or {}
    derived: list[dict[str, float]] = [{} for _ in points]
    interval_s: list[float | None] = [None] * len(points)
    stale = [False] * len(points)
    for reg, ivl in pairs:
        seq: list[tuple[int, float, int]] = []  # (time, reading, index into points; -1: context)
        for t, v in previous.get(reg, ())[-2:]:
            if not seq or t > seq[-1][0]:
                seq.append((t, v, -1))
        for i, p in enumerate(points):
            value = p.values.get(reg)
            if value is None or (seq and seq[-1][0] >= p.ts_ms):
                continue  # not this register's reading, or a duplicate time (not a step)
            seq.append((p.ts_ms, value, i))
        for t, v in after.get(reg, ())[:1]:
            if not seq or t > seq[-1][0]:
                seq.append((t, v, -1))
        ts = [t for t, _, _ in seq]
        at = [i for _, _, i in seq]
        clean = clean_values(ts, [v for _, v, _ in seq], 1.0, replaced_ms)
        rate = _LIMITS.max_rate_per_h(reg)
        for k in range(1, len(ts)):
            i = at[k]
            if i < 0:
                continue  # context: neither the window's nor to be rewritten
            p = points[i]
            stored = p.values.get(ivl)
            if stored is not None and p.values.get("interval_s") is None:
                continue  # the device's own value
            iv = interval_between(ts[k - 1], clean[k - 1], ts[k], clean[k], max_rate_per_h=rate,
                                  replaced=replaced_ms is not None and ts[k - 1] < replaced_ms <= ts[k])
            if iv.delta is None:
                continue  # held out (backward step, spike), as ingest does: not summed
            derived[i][ivl] = iv.delta
            prior = interval_s[i]
            interval_s[i] = iv.interval_s if prior is None else min(prior, iv.interval_s)
            stale[i] = stale[i] or not _same(stored, iv.delta)
    checked = 0
    fixes = []
    for i, p in enumerate(points):
        if not derived[i]:
            continue
        checked += 1
        secs = interval_s[i]
        assert secs is not None
        if stale[i] or not _same(p.values.get("interval_s"), secs):
            fixes.append((p, {**derived[i], "interval_s": secs}))
    return checked, fixes


def _or_equal(tag: str, values: Iterable[str]) -> str:
    return "(" + " OR ".join(f"{quote_ident(tag)} = {quote_literal(v)}" for v in values) + ")"


def _tags(series: dict) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in series.get("tags", {}).items() if v))


def _devices(db: InfluxHTTP, measurement: str, regs: Sequence[str], start_ms: int,
             end_ms: int) -> tuple[dict[str, int], set[str]]:
    """building_code -> devices with register points in ``(start_ms, end_ms]``, and the register
    fields present (the others are not read: mostly-null columns cost JSON parsing)."""
    counts = ", ".join(f"count({quote_ident(r)}) AS {quote_ident(r)}" for r in regs)
    q = (f"SELECT {counts} FROM {quote_ident(measurement)} "  # noqa: S608 - quoted identifiers, int times
         f"WHERE time > {int(start_ms)}ms AND time <= {int(end_ms)}ms GROUP BY building_code, device_id")
    out: dict[str, int] = defaultdict(int)
    present: set[str] = set()
    for s in db.query(q):
        out[s["tags"].get("building_code", "")] += 1
        for row in s["values"]:
            present.update(c for c, v in zip(s["columns"], row, strict=True) if c in regs and v)
    return out, present


def _chunks(devices: dict[str, int], max_devices: int) -> list[list[str]]:
    chunks: list[list[str]] = []
    cur: list[str] = []
    n = 0
    for building in sorted(devices):
        if cur and n + devices[building] > max_devices:
            chunks.append(cur)
            cur, n = [], 0
        cur.append(building)
        n += devices[building]
    if cur:
        chunks.append(cur)
    return chunks


def _fetch_chunk(db: InfluxHTTP, measurement: str, pairs: tuple[tuple[str, str], ...], buildings: list[str],
                 start_ms: int, end_ms: int, lookback_ms: int) -> dict[int, dict]:
    """The chunk's points in the window (statement 0), each register's two last readings before it
    (statements 1..n) and its first reading after it (n+1..2n), within ``lookback_ms`` of the window."""
    cols = [f for pair in pairs for f in pair] + ["interval_s"]
    where = _or_equal("building_code", buildings)
    m = quote_ident(measurement)
    select = ", ".join(quote_ident(c) for c in cols)
    inside = (f"SELECT {select} FROM {m} WHERE time > {int(start_ms)}ms AND time <= {int(end_ms)}ms "  # noqa: S608
              f"AND {where} GROUP BY *")
    # One statement per register: a point holding only another register must not hide this one's.
    # Two before: the window's first reading's predecessor is judged against both its neighbours.
    befores = [f"SELECT {quote_ident(reg)} FROM {m} WHERE time > {int(start_ms - lookback_ms)}ms "  # noqa: S608
               f"AND time <= {int(start_ms)}ms AND {where} GROUP BY * ORDER BY time DESC LIMIT 2"
               for reg, _ivl in pairs]
    # One after: the window's last reading is judged against it.
    afters = [f"SELECT {quote_ident(reg)} FROM {m} WHERE time > {int(end_ms)}ms "  # noqa: S608
              f"AND time <= {int(end_ms + lookback_ms)}ms AND {where} GROUP BY * ORDER BY time ASC LIMIT 1"
              for reg, _ivl in pairs]
    results = db.query_raw(";".join([inside, *befores, *afters]), post=True)
    return {r.get("statement_id", n): r for n, r in enumerate(results)}


def _context(result: dict, keep: int, last: bool) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(building_code, device_id) -> one register's context readings in time order, from one
    statement's result: the ``keep`` latest (``last``) or earliest over all of a device's series
    (its tags may have changed, each series has its own ``LIMIT``)."""
    found: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for s in result.get("series", []):
        td = dict(_tags(s))
        key = (td.get("building_code", ""), td.get("device_id", ""))
        for t, v in s["values"]:
            if v is not None:
                found[key].setdefault(int(t), float(v))
    return {key: (sorted(r.items())[-keep:] if last else sorted(r.items())[:keep]) for key, r in found.items()}


def _fix_chunk(db: InfluxHTTP, measurement: str, pairs: tuple[tuple[str, str], ...], by_id: dict[int, dict],
               batch_lines: int, replaced_ms: Mapping[tuple[str, str], int]) -> RederiveStats:
    points: dict[tuple[str, str], list[StoredPoint]] = defaultdict(list)
    for s in by_id.get(0, {}).get("series", []):
        tags = _tags(s)
        td = dict(tags)
        key = (td.get("building_code", ""), td.get("device_id", ""))
        names = s["columns"]
        for row in s["values"]:
            rec = dict(zip(names, row, strict=True))
            points[key].append(StoredPoint(int(rec.pop("time")), tags,
                                           {k: (None if v is None else float(v)) for k, v in rec.items()}))
    previous: dict[tuple[str, str], dict[str, list[tuple[int, float]]]] = defaultdict(dict)
    following: dict[tuple[str, str], dict[str, list[tuple[int, float]]]] = defaultdict(dict)
    n = len(pairs)
    for j, (reg, _ivl) in enumerate(pairs, start=1):
        for key, readings in _context(by_id.get(j, {}), 2, last=True).items():
            previous[key][reg] = readings
        for key, readings in _context(by_id.get(n + j, {}), 1, last=False).items():
            following[key][reg] = readings
    stats = RederiveStats(devices=len(points))
    lines: list[str] = []
    for key, pts in points.items():
        pts.sort(key=lambda p: p.ts_ms)
        checked, fixes = fixes_for_device(pts, previous.get(key, {}), pairs, replaced_ms.get(key),
                                          following.get(key, {}))
        stats.checked += checked
        for p, fields in fixes:
            lines.append(encode_line(measurement, dict(p.tags), fields, p.ts_ms))
    for i in range(0, len(lines), batch_lines):
        db.write_lines(lines[i:i + batch_lines])
    stats.rewritten = len(lines)
    return stats


def rederive_window(db: InfluxHTTP, start_ms: int, end_ms: int, *,
                    max_devices_per_query: int = DEFAULT_MAX_DEVICES_PER_QUERY,
                    previous_lookback_days: float = DEFAULT_PREVIOUS_LOOKBACK_DAYS,
                    batch_lines: int = 5000,
                    replaced_ms: Mapping[tuple[str, str], int] | None = None) -> RederiveStats:
    """Recompute and rewrite the stale interval values of every register point in ``(start_ms, end_ms]``.

    Parameters
    ----------
    db : InfluxHTTP
        Client of the raw data (the rewrites go there too).
    start_ms, end_ms : int
        The window, start excluded, end included (the rollup's bucket convention). [ms]
    max_devices_per_query : int
        Devices read per query; bounds memory at city scale. [1]
    previous_lookback_days : float
        How far before ``start_ms`` each register's two previous readings, and after ``end_ms`` its
        next reading, are searched. [d]
    batch_lines : int
        Lines per write request. [1]
    replaced_ms : mapping, optional
        ``(building_code, device_id) -> recorded replacement instant`` from the registry
        (:func:`registry.repo.replacement_instants_ms`): the same reset evidence ingest has. [ms]

    Returns
    -------
    RederiveStats
        Points checked and rewritten, devices seen.
    """
    if end_ms <= start_ms:
        raise ValueError(f"end_ms {end_ms} is not after start_ms {start_ms}")
    if max_devices_per_query < 1:
        raise ValueError(f"max_devices_per_query must be >= 1, got {max_devices_per_query}")
    if previous_lookback_days < 0:
        raise ValueError(f"previous_lookback_days must be >= 0, got {previous_lookback_days}")
    lookback_ms = int(previous_lookback_days * DAY_MS)
    total = RederiveStats()
    for measurement, pairs in REGISTER_FIELDS.items():
        devices, present = _devices(db, measurement, [reg for reg, _ in pairs], start_ms, end_ms)
        used = tuple(p for p in pairs if p[0] in present)
        chunks = _chunks(devices, max_devices_per_query)
        # The next chunk is read while this one is fixed, so InfluxDB (another process) and the
        # Python walk overlap on two cores; two chunks in memory at most.
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(_fetch_chunk, db, measurement, used, chunks[0], start_ms, end_ms,
                                  lookback_ms) if chunks else None
            for i in range(len(chunks)):
                assert pending is not None
                by_id = pending.result()
                pending = pool.submit(_fetch_chunk, db, measurement, used, chunks[i + 1], start_ms, end_ms,
                                      lookback_ms) if i + 1 < len(chunks) else None
                total.add(_fix_chunk(db, measurement, used, by_id, batch_lines, replaced_ms or {}))
    if total.rewritten:
        log.info("re-derived interval values from registers: %d of %d points rewritten",
                 total.rewritten, total.checked)
    return total
