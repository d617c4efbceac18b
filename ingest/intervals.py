"""Interval quantities from cumulative registers, correct for out-of-order and batched data.

For every register series (a device's ``register``, ``generation_register``, ...) ingest keeps a
bounded cache of recent readings, pending and written alike, as *windows*: sorted runs of
readings that are known to hold every stored reading between their first and last one
(``open_start``: nothing stored before; ``open_end``: nothing stored after). A reading inside a
window finds its neighbours in memory; one outside (first reading after a restart, an old
backfill) is looked up in InfluxDB first, all series of a batch in one request (see
:meth:`RegisterTracker.apply`).

Each reading's value is first judged against both neighbours (a single misread is clipped into
their range, :func:`contract.registers.clean_value`), and each interval value is derived from
those judged values. So a step depends on the reading two before it and the one after it: a
reading is handled from the cache only when the window holds :data:`CONTEXT` readings on each side
of it (or nothing stored lies beyond), and the storage lookup fetches as many. When a reading
lands between two known readings, the next reading's interval value changes too, and an update for
it is emitted; when it changes a neighbour's judged value, the intervals on both sides of that
neighbour are emitted too. The first reading of a series gets no interval value.
Arithmetic: :mod:`contract.registers`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from contract.registers import Step, clean_value, interval_between

#: Readings kept per register series; 48 covers half a day of 15-minute data out of order. [1]
DEFAULT_MAX_POINTS = 48
#: Memory the cache may use; least recently used series are forgotten beyond it and looked up
#: in storage again when they next report. At 48 readings a series costs ~5.3 kB, so 512 MiB
#: holds ~100,000 register series (some 10,000 buildings). [B]
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
#: Upper estimates of the cache's memory, CPython 3.11 on 64 bit: a series (its record, windows,
#: lists, and its key and series text when nothing else holds them) and each cached reading (a
#: timestamp, a value and a flag in three lists). tests/ingest/test_register_cache.py measures
#: them with tracemalloc and fails when the estimate is below the truth or far above it. [B]
SERIES_BYTES = 1_000
READING_BYTES = 90
#: Readings a derivation needs on each side of a new reading: its interval needs the judged value
#: of the one before (which needs the one before that), the neighbours' intervals need theirs. [1]
CONTEXT = 3
_NEG_INF = float("-inf")
_POS_INF = float("inf")


@dataclass(slots=True)
class RegisterReading:
    """One register value on its way to storage."""

    key: Hashable  # identifies the series, e.g. (measurement, building, device, field)
    series: str  # the encoded ``measurement,tags`` of the line, for neighbour updates
    interval_field: str  # stored name of the derived quantity, e.g. consumption_kwh
    display_factor: float  # base units per displayed unit, for rollover detection
    ts_ms: int
    value: float  # [base unit]
    explicit: bool = False  # the reading carries its own interval quantity: do not derive it
    max_rate_per_h: float = _POS_INF  # a step above this rate is a spike, held out [base unit / h]
    replaced_ms: int | None = None  # recorded replacement of the device: a step across it counts 0 [ms]


@dataclass(frozen=True, slots=True)
class LookupResult:
    """Stored readings around ``[first_ts, last_ts]``: up to :data:`CONTEXT` before, those inside, up
    to :data:`CONTEXT` after, each in time order. Fewer than :data:`CONTEXT` on a side: the series
    has no more there."""

    before: list[tuple[int, float]]
    inside: list[tuple[int, float]]
    after: list[tuple[int, float]]


@dataclass(slots=True)
class Window:
    ts: list[int]
    values: list[float]
    explicit: list[bool]
    open_start: bool
    open_end: bool

    @property
    def lo(self) -> float:
        return _NEG_INF if self.open_start or not self.ts else self.ts[0]

    @property
    def hi(self) -> float:
        return _POS_INF if self.open_end or not self.ts else self.ts[-1]

    def covers(self, ts: int) -> bool:
        """Both neighbours of ``ts`` are known (or known not to exist)."""
        return (self.open_start or (bool(self.ts) and self.ts[0] < ts)) and \
            (self.open_end or (bool(self.ts) and ts < self.ts[-1]))

    def put(self, ts: int, value: float, explicit: bool) -> tuple[int, bool]:
        """Insert or replace; the index, and True when the stored value changed (or is new)."""
        t = self.ts
        if not t or t[-1] < ts:  # the common case: the live tail grows
            t.append(ts)
            self.values.append(value)
            self.explicit.append(explicit)
            return len(t) - 1, True
        i = bisect_left(t, ts)
        if i < len(t) and t[i] == ts:
            if self.values[i] == value and self.explicit[i] == explicit:
                return i, False
            self.values[i] = value
            self.explicit[i] = explicit
            return i, True
        t.insert(i, ts)
        self.values.insert(i, value)
        self.explicit.insert(i, explicit)
        return i, True

    def trim(self, max_points: int) -> None:
        extra = len(self.ts) - max_points
        if extra > 0:
            # Dropping the oldest keeps the window honest: what remains is still complete.
            del self.ts[:extra], self.values[:extra], self.explicit[:extra]
            self.open_start = False


@dataclass(slots=True)
class _Series:
    series: str
    interval_field: str
    display_factor: float
    max_rate_per_h: float = _POS_INF
    replaced_ms: int | None = None  # [ms]
    windows: list[Window] = field(default_factory=list)
    points: int = 0  # readings in its windows, as of the last trim [1]

    def window_of(self, ts: int) -> Window | None:
        """The window that holds :data:`CONTEXT` readings on each side of ``ts``, or is known to hold
        everything stored on a side with fewer."""
        for w in self.windows:
            t = w.ts
            if w.open_end and (not t or ts > t[-1]):  # the live tail (hot path: twice per reading)
                if w.open_start or len(t) >= CONTEXT:
                    return w
                continue
            i = bisect_left(t, ts)
            j = i + 1 if i < len(t) and t[i] == ts else i
            if (w.open_start or i >= CONTEXT) and (w.open_end or len(t) - j >= CONTEXT):
                return w
        return None

    def window_holding(self, ts: int) -> Window | None:
        found = self.index_of(ts)
        return found[0] if found else None

    def index_of(self, ts: int) -> tuple[Window, int] | None:
        """The window holding a reading at ``ts``, and its index there."""
        for w in self.windows:
            t = w.ts
            i = bisect_left(t, ts)
            if i < len(t) and t[i] == ts:
                return w, i
        return None

    def merge(self, new: Window) -> None:
        """Add ``new``; windows whose ranges meet it become one (their union is complete too)."""
        keep, merged = [], [new]
        for w in self.windows:
            (merged if w.lo <= new.hi and new.lo <= w.hi else keep).append(w)
        out = Window([], [], [], any(w.open_start for w in merged), any(w.open_end for w in merged))
        # Cached values are newer than stored ones (pending writes): put them last, replacing.
        for w in [new, *merged[1:]]:
            for t, v, e in zip(w.ts, w.values, w.explicit, strict=True):
                out.put(t, v, e)  # later windows (the cache) replace what storage said
        self.windows = [*keep, out]


@dataclass(slots=True)
class DerivedUpdate:
    """Fields to (re)write at one timestamp of one series: the interval quantity and ``interval_s``.

    A held-out step (``contract.registers.HELD_OUT``) carries ``interval_s`` only; ``step`` and
    ``apparent`` (the register difference) tell the data-quality finding what happened, ``misread``
    how far the reading's own value was from the value judged with its neighbours (0: none)."""

    key: Hashable
    series: str
    ts_ms: int
    fields: dict[str, float]
    step: Step = Step.normal
    apparent: float = 0.0
    misread: float = 0.0  # [base unit]


def _clean_at(s: _Series, w: Window, k: int) -> float:
    """The judged value of reading ``k`` of ``w`` (contract.registers.clean_value); the window's ends
    are not judged (the live tail is provisional until the next reading)."""
    v = w.values
    if k == 0 or k + 1 >= len(v):
        return v[k]
    prev, value, nxt = v[k - 1], v[k], v[k + 1]
    if prev <= value <= nxt or prev > nxt:  # a growing register, or a drop for the step rules
        return value
    rep = s.replaced_ms
    if rep is not None and w.ts[k - 1] < rep <= w.ts[k + 1]:
        return value
    return clean_value(prev, value, nxt, s.display_factor)


Lookup = Callable[[dict[Hashable, tuple[str, int, int]]], dict[Hashable, LookupResult]]


class RegisterTracker:
    """Turns register readings into interval updates, remembering recent readings per series.

    Parameters
    ----------
    lookup : callable
        ``{key: (interval_field_of_register, first_ts_ms, last_ts_ms)} -> {key: LookupResult}``;
        reads storage for series whose readings fall outside the cache (one call per batch).
    max_points : int
        Readings kept per window. [1]
    max_bytes : int
        Memory the cache may use (:attr:`cache_bytes`); least recently used series are forgotten
        first. [B]
    """

    def __init__(self, lookup: Lookup, max_points: int = DEFAULT_MAX_POINTS,
                 max_bytes: int = DEFAULT_MAX_BYTES):
        self._lookup = lookup
        self._max_points = max_points
        self._max_bytes = max_bytes
        self._series: OrderedDict[Hashable, _Series] = OrderedDict()
        self._points = 0  # readings cached over all series [1]
        self.lookups = 0  # series looked up in storage, for the metrics
        self.evictions = 0  # series forgotten to stay within max_bytes, for the metrics

    def __len__(self) -> int:
        return len(self._series)

    @property
    def cache_bytes(self) -> int:
        """Upper estimate of the cache's memory (:data:`SERIES_BYTES`, :data:`READING_BYTES`). [B]"""
        return len(self._series) * SERIES_BYTES + self._points * READING_BYTES

    def apply(self, readings: list[RegisterReading]) -> list[DerivedUpdate]:
        """Take a batch of readings (arrival order) and return the updates it implies."""
        if not readings:
            return []
        missing: dict[Hashable, tuple[str, int, int]] = {}
        for r in readings:
            s = self._series.get(r.key)
            if s is None:
                s = self._series[r.key] = _Series(r.series, r.interval_field, r.display_factor, r.max_rate_per_h,
                                                  r.replaced_ms)
            else:
                self._series.move_to_end(r.key)
                s.series = r.series
                s.max_rate_per_h = r.max_rate_per_h
                s.replaced_ms = r.replaced_ms
            if s.window_of(r.ts_ms) is None:
                _, lo, hi = missing.get(r.key, (r.interval_field, r.ts_ms, r.ts_ms))
                missing[r.key] = (r.interval_field, min(lo, r.ts_ms), max(hi, r.ts_ms))
        if missing:
            self.lookups += len(missing)
            found = self._lookup(missing)
            for key in missing:
                res = found.get(key, LookupResult([], [], []))
                pts = [*res.before, *res.inside, *res.after]
                w = Window([p[0] for p in pts], [p[1] for p in pts], [False] * len(pts),
                           open_start=len(res.before) < CONTEXT, open_end=len(res.after) < CONTEXT)
                self._series[key].merge(w)
        touched: dict[tuple[Hashable, int], None] = {}
        for r in readings:
            s = self._series[r.key]
            w = s.window_of(r.ts_ms) or s.window_holding(r.ts_ms)
            if w is None:  # the lookup failed to cover it: should not happen, keep the reading anyway
                w = Window([], [], [], False, False)
                s.windows.append(w)
            t, v = w.ts, w.values
            # The judged values of its neighbours before it comes (the live tail: the last value,
            # the end of the window, not judged).
            if not t or r.ts_ms > t[-1]:
                prev_was, next_was = (v[-1] if v else None), None
            else:
                at = bisect_left(t, r.ts_ms)
                later = at + 1 if t[at] == r.ts_ms else at
                prev_was = _clean_at(s, w, at - 1) if at > 0 else None
                next_was = _clean_at(s, w, later) if later < len(t) else None
            i, changed = w.put(r.ts_ms, r.value, r.explicit)
            # The reading's own line is written again in any case, so it carries its interval too.
            touched[(r.key, r.ts_ms)] = None
            if changed:
                n = len(t)
                # A neighbour judged anew: its interval too (fast check first: it was taken as read
                # and still lies between its neighbours).
                if i > 0 and not (i > 1 and prev_was == v[i - 1] and v[i - 2] <= v[i - 1] <= v[i]) \
                        and _clean_at(s, w, i - 1) != prev_was:
                    touched[(r.key, t[i - 1])] = None
                if i + 1 < n:
                    touched[(r.key, t[i + 1])] = None  # its step now starts here
                    if i + 2 < n and _clean_at(s, w, i + 1) != next_was:
                        touched[(r.key, t[i + 2])] = None
        out = [u for key_ts in touched if (u := self._derive(*key_ts)) is not None]
        self._trim({r.key for r in readings})
        return out

    def _derive(self, key: Hashable, ts: int) -> DerivedUpdate | None:
        s = self._series[key]
        found = s.index_of(ts)
        if found is None:
            return None
        w, i = found
        if i == 0 or w.explicit[i]:
            return None  # first reading (or neighbour unknown), or the device sent its own value
        if (i == 1 and not w.open_start) or (i == len(w.ts) - 1 and not w.open_end):
            return None  # a neighbour's judged value needs a reading outside the window (not asked for)
        rep = s.replaced_ms
        v = w.values
        # Judged values, with the common cases inline (the live tail; a value between its neighbours).
        value = v[i] if i + 1 == len(v) or v[i - 1] <= v[i] <= v[i + 1] else _clean_at(s, w, i)
        before = v[i - 1] if i == 1 or v[i - 2] <= v[i - 1] <= v[i] else _clean_at(s, w, i - 1)
        iv = interval_between(w.ts[i - 1], before, ts, value, s.display_factor, s.max_rate_per_h,
                              replaced=rep is not None and w.ts[i - 1] < rep <= ts)
        misread = v[i] - value
        if iv.delta is None:  # held out (contract.registers.HELD_OUT)
            return DerivedUpdate(key, s.series, ts, {"interval_s": iv.interval_s}, iv.step, iv.apparent, misread)
        return DerivedUpdate(key, s.series, ts, {s.interval_field: iv.delta, "interval_s": iv.interval_s},  # type: ignore[dict-item]
                             iv.step, iv.apparent, misread)

    def forget(self, keys: set[Hashable]) -> None:
        """Drop the cached readings of ``keys`` (they are looked up in storage when next needed):
        after a failed batch the cache may hold readings that were never stored."""
        for key in keys:
            s = self._series.pop(key, None)
            if s is not None:
                self._points -= s.points

    def _trim(self, keys: set[Hashable]) -> None:
        for key in keys:
            s = self._series[key]
            if len(s.windows) > 2:
                # Keep the live tail and the most recent other window (an ongoing backfill).
                tail = [w for w in s.windows if w.open_end][-1:]
                others = [w for w in s.windows if not w.open_end][-1:]
                s.windows = others + tail
            n = 0
            for w in s.windows:
                w.trim(self._max_points)
                n += len(w.ts)
            self._points += n - s.points
            s.points = n
        while self._series and self.cache_bytes > self._max_bytes:
            _key, s = self._series.popitem(last=False)
            self._points -= s.points
            self.evictions += 1
