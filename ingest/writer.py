"""Durable writes: retry without end on 429/5xx/no answer, split on 400 to isolate bad lines.

Nothing is dropped here: a batch leaves :meth:`Writer.write` only when every line is stored or,
refused by InfluxDB on its own (400 for that single line), handed back to be dead-lettered.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from ingest.metrics import Metrics
from storage.clip import clip
from storage.influx import InfluxError, InfluxHTTP
from storage.retry import Backoff

log = logging.getLogger("ingest.writer")


class Writer:
    def __init__(self, influx: InfluxHTTP, metrics: Metrics, *, initial_ms: float, max_ms: float,
                 abort: threading.Event, rng: Callable[[], float] = random.random):
        self._influx = influx
        self._metrics = metrics
        self._initial_ms = initial_ms
        self._max_ms = max_ms
        self._abort = abort
        self._rng = rng

    def write(self, lines: list[str]) -> list[tuple[int, str]]:
        """Store ``lines``; return ``(index, influx error)`` of the lines InfluxDB refused one by one."""
        refused: list[tuple[int, str]] = []
        self._write_range(lines, 0, len(lines), refused)
        return refused

    def _write_range(self, lines: list[str], lo: int, hi: int, refused: list[tuple[int, str]]) -> None:
        if lo >= hi:
            return
        backoff = Backoff(self._initial_ms, self._max_ms, self._abort, self._rng)
        body = "\n".join(lines[lo:hi]).encode("utf-8")
        while True:
            try:
                self._influx.write_lines(body)
                self._metrics.written.inc(hi - lo)
                return
            except InfluxError as e:
                err = e
            if err.database_not_found:
                log.warning("database missing, creating it", extra={"db": self._influx.database})
                self._try(self._influx.create_database)
            elif err.status in (400, 413):
                # A partial write stored the good lines already; writing them again is harmless
                # (same series and time overwrite), so halving finds the refused ones.
                if hi - lo == 1:
                    refused.append((lo, clip(err.body.strip(), 500)))
                    return
                mid = (lo + hi) // 2
                self._write_range(lines, lo, mid, refused)
                self._write_range(lines, mid, hi, refused)
                return
            self._metrics.retries.inc()
            if backoff.should_log:
                log.warning("write failed, retrying", extra={"status": err.status, "error": clip(err),
                                                             "attempt": backoff.attempt, "lines": hi - lo})
            backoff.wait()

    def _try(self, fn) -> None:
        try:
            fn()
        except InfluxError as e:
            log.warning("InfluxDB call failed", extra={"error": clip(e)})
