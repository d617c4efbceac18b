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
from storage.influx import InfluxError, InfluxHTTP

log = logging.getLogger("ingest.writer")


class Aborted(Exception):
    """The service is shutting down and gave up waiting for InfluxDB; nothing was acknowledged."""


def backoff_ms(attempt: int, initial_ms: float, max_ms: float, rng: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with jitter: a delay in ``[d/2, d]``, ``d = min(max, initial * 2**attempt)``.

    Parameters
    ----------
    attempt : int
        Failed attempts so far, from 0. [1]
    initial_ms, max_ms : float
        First delay and cap. [ms]
    rng : callable
        Uniform [0, 1) source; pass a constant in tests for a deterministic delay.
    """
    d = min(max_ms, initial_ms * (2 ** min(attempt, 30)))
    return d * (0.5 + 0.5 * rng())


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
        attempt = 0
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
                    refused.append((lo, err.body.strip()[:500]))
                    return
                mid = (lo + hi) // 2
                self._write_range(lines, lo, mid, refused)
                self._write_range(lines, mid, hi, refused)
                return
            self._metrics.retries.inc()
            if attempt == 0 or attempt % 20 == 0:
                log.warning("write failed, retrying", extra={"status": err.status, "error": str(err)[:300],
                                                             "attempt": attempt, "lines": hi - lo})
            delay_s = backoff_ms(attempt, self._initial_ms, self._max_ms, self._rng) / 1000
            attempt += 1
            if self._abort.wait(delay_s):
                raise Aborted()

    def _try(self, fn) -> None:
        try:
            fn()
        except InfluxError as e:
            log.warning("InfluxDB call failed", extra={"error": str(e)[:300]})
