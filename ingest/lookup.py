"""Register neighbours from InfluxDB for the interval cache, many series per HTTP request."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable

from ingest.intervals import CONTEXT, LookupResult
from storage.clip import clip
from storage.influx import InfluxError, InfluxHTTP, quote_ident, quote_literal
from storage.retry import Backoff

log = logging.getLogger("ingest.lookup")

#: Series per request: 3 statements each, and InfluxDB answers them in one response.
SERIES_PER_REQUEST = 100


def _statements(key: tuple[str, str, str, str], lo_ms: int, hi_ms: int) -> list[str]:
    measurement, building, device, field = key
    base = (f"SELECT {quote_ident(field)} FROM {quote_ident(measurement)} WHERE "  # noqa: S608 - quoted
            f"\"building_code\" = {quote_literal(building)} AND \"device_id\" = {quote_literal(device)}")
    return [f"{base} AND time < {int(lo_ms)}ms ORDER BY time DESC LIMIT {CONTEXT}",
            f"{base} AND time >= {int(lo_ms)}ms AND time <= {int(hi_ms)}ms",
            f"{base} AND time > {int(hi_ms)}ms ORDER BY time ASC LIMIT {CONTEXT}"]


def _rows(result: dict) -> list[tuple[int, float]]:
    out = []
    for s in result.get("series", []):
        for t, v in s["values"]:
            if v is not None:
                out.append((int(t), float(v)))
    return out


class InfluxLookup:
    """Callable for :class:`ingest.intervals.RegisterTracker`: retries until InfluxDB answers."""

    def __init__(self, influx: InfluxHTTP, abort: threading.Event, *, initial_ms: float = 200,
                 max_ms: float = 10_000, on_retry: Callable[[], None] | None = None):
        self._influx = influx
        self._abort = abort
        self._initial_ms = initial_ms
        self._max_ms = max_ms
        self._on_retry = on_retry

    def __call__(self, wanted: dict[Hashable, tuple[str, int, int]]) -> dict[Hashable, LookupResult]:
        keys = list(wanted)
        out: dict[Hashable, LookupResult] = {}
        for i in range(0, len(keys), SERIES_PER_REQUEST):
            chunk = keys[i:i + SERIES_PER_REQUEST]
            stmts = [s for k in chunk for s in _statements(k, wanted[k][1], wanted[k][2])]
            results = self._query(";".join(stmts))
            by_id = {r.get("statement_id", n): r for n, r in enumerate(results)}
            for j, k in enumerate(chunk):
                before = _rows(by_id.get(3 * j, {}))
                inside = _rows(by_id.get(3 * j + 1, {}))
                after = _rows(by_id.get(3 * j + 2, {}))
                out[k] = LookupResult(sorted(before), inside, after)
        return out

    def _query(self, q: str) -> list[dict]:
        backoff = Backoff(self._initial_ms, self._max_ms, self._abort)
        while True:
            try:
                return self._influx.query_raw(q, post=True)
            except InfluxError as e:
                if e.database_not_found or "database not found" in e.body:
                    return []  # nothing stored yet
                if backoff.should_log:
                    log.warning("register lookup failed, retrying", extra={"error": clip(e)})
                if self._on_retry:
                    self._on_retry()
            backoff.wait()
