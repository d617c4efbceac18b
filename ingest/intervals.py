"""Interval quantities from cumulative registers, correct for out-of-order and batched data.

For every register series (a device's ``register``, ``generation_register``, ...) ingest keeps a
bounded cache of recent readings, pending and written alike, as *windows*: sorted runs of
readings that are known to hold every stored reading between their first and last one
(``open_start``: nothing stored before; ``open_end``: nothing stored after). A reading inside a
window finds its neighbours in memory; one outside (first reading after a restart, an old
backfill) is looked up in InfluxDB first, all series of a batch in one request (see
:meth:`RegisterTracker.apply`).

When a reading lands between two known readings, the next reading's interval value changes too,
and an update for it is emitted. The first reading of a series gets no interval value.
Arithmetic: :mod:`contract.registers`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from contract.registers import Step, interval_between

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
    """Stored readings around ``[first_ts, last_ts]``: the one before, those inside, the one after."""

    before: tuple[int, float] | None
    inside: list[tuple[int, float]]
    after: tuple[int, float] | None


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
        for w in self.windows:
            # Window.covers, inlined: this runs twice per register reading (hot path).
            t = w.ts
            if (w.open_start or (t and t[0] < ts)) and (w.open_end or (t and ts < t[-1])):
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
    ``apparent`` (the register difference) tell the data-quality finding what happened."""

    key: Hashable
    series: str
    ts_ms: int
    fields: dict[str, float]
    step: Step = Step.normal
    apparent: float = 0.0


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
                res = found.get(key, LookupResult(None, [], None))
                pts = ([res.before] if res.before else []) + list(res.inside) + ([res.after] if res.after else [])
                w = Window([p[0] for p in pts], [p[1] for p in pts], [False] * len(pts),
                           open_start=res.before is None, open_end=res.after is None)
                self._series[key].merge(w)
        touched: dict[tuple[Hashable, int], None] = {}
        for r in readings:
            s = self._series[r.key]
            w = s.window_of(r.ts_ms) or s.window_holding(r.ts_ms)
            if w is None:  # the lookup failed to cover it: should not happen, keep the reading anyway
                w = Window([], [], [], False, False)
                s.windows.append(w)
            i, changed = w.put(r.ts_ms, r.value, r.explicit)
            # The reading's own line is written again in any case, so it carries its interval too.
            touched[(r.key, r.ts_ms)] = None
            if changed and i + 1 < len(w.ts):
                touched[(r.key, w.ts[i + 1])] = None
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
        rep = s.replaced_ms
        iv = interval_between(w.ts[i - 1], w.values[i - 1], ts, w.values[i], s.display_factor, s.max_rate_per_h,
                              replaced=rep is not None and w.ts[i - 1] < rep <= ts)
        if iv.delta is None:  # held out (contract.registers.HELD_OUT)
            return DerivedUpdate(key, s.series, ts, {"interval_s": iv.interval_s}, iv.step, iv.apparent)
        return DerivedUpdate(key, s.series, ts, {s.interval_field: iv.delta, "interval_s": iv.interval_s},  # type: ignore[dict-item]
                             iv.step, iv.apparent)

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
