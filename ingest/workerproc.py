"""The service's handle on one worker process, and when to replace it with a fresh one.

Why replace a healthy worker: after a large backlog the worker keeps 24-34 MiB of the ~40 MiB it
grew by, even after ``malloc_trim`` (ingest/memory.py): CPython's small-object arenas that still
hold a few long-lived objects cannot be returned. A new process starts at its idle size again.
:class:`RecyclePolicy` says when (idle, above the threshold); :mod:`ingest.service` does the swap.
"""

from __future__ import annotations

import multiprocessing
import pickle
import threading
import time

from ingest import memory
from ingest.messages import Stop
from ingest.settings import IngestSettings
from ingest.worker import worker_main

#: How long start() waits for the worker process to report ready. [s]
WORKER_START_S = 60.0
#: A worker is only measured once it has been idle this long: it trims its heap on its first idle
#: poll (0.2 s, ingest/worker.py), and what a trim returns needs no new process. [s]
RECYCLE_IDLE_S = 0.5
#: Period of the RSS check while idle (a read of /proc/<pid>/statm). [s]
RECYCLE_CHECK_S = 0.5


class WorkerProcess:
    """A spawned worker and the service's ends of its two pipes."""

    def __init__(self, s: IngestSettings):
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
        to_worker_r, to_worker_w = ctx.Pipe(duplex=False)
        from_worker_r, from_worker_w = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=worker_main, args=(s, to_worker_r, from_worker_w),
                                   name=f"ingest-worker-{s.client_id}", daemon=True)
        self.process.start()
        to_worker_r.close()
        from_worker_w.close()
        self.inbox, self.outbox = to_worker_w, from_worker_r  # the worker's inbox, its outbox
        #: RSS when it reported ready: the size it returns to only as a new process. [B]
        self.idle_rss_bytes = 0
        #: Its register cache as it last reported it (upper estimate, ingest/intervals.py). [B]
        self.cache_bytes = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def wait_ready(self, ready: threading.Event, failed: threading.Event) -> None:
        """Wait until ``ready`` (set by the acker at the worker's Ready); raise if it never comes."""
        deadline = time.monotonic() + WORKER_START_S
        while not ready.wait(0.05):
            if failed.is_set() or not self.process.is_alive() or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("the ingest worker process did not start (see its log above); in a script, "
                                   "start the service under `if __name__ == \"__main__\":` (multiprocessing spawn)")
        self.idle_rss_bytes = self.rss_bytes()

    def rss_bytes(self) -> int:
        return memory.rss_bytes(self.process.pid)

    def deliver(self, data: bytes) -> None:
        """Send a pickled :class:`Deliver` (pickled by the caller, outside any lock)."""
        self.inbox.send_bytes(data)

    def stop(self) -> None:
        """Ask the worker to write what it holds and exit; it answers Stopped after its last Commit."""
        self.inbox.send_bytes(pickle.dumps(Stop()))

    def close(self) -> None:
        for conn in (self.inbox, self.outbox):
            conn.close()


class RecyclePolicy:
    """Decides, in the feeder thread, when the worker is idle and too large.

    Idle: nothing waits for the worker, and every message handed over is settled (written and
    acknowledged, or left to the broker), so the worker holds no open or pending batch."""

    def __init__(self, limit_bytes: int, min_interval_s: float):
        self.limit_bytes = limit_bytes  # worker_recycle_rss_bytes; 0 = never
        self.min_interval_s = min_interval_s  # worker_recycle_min_interval_s
        self._idle_since: float | None = None
        self._next_check = 0.0
        self._replaced_at = float("-inf")

    def replaced(self) -> None:
        self._replaced_at = time.monotonic()

    def busy(self) -> None:
        self._idle_since = None

    def due(self, worker: WorkerProcess, idle: bool) -> int | None:
        """The worker's RSS when it should be replaced now, else None. [B]"""
        if not self.limit_bytes or not idle:
            self._idle_since = None
            return None
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < RECYCLE_IDLE_S or now < self._next_check \
                or now - self._replaced_at < self.min_interval_s:
            return None
        self._next_check = now + RECYCLE_CHECK_S
        try:
            rss = worker.rss_bytes()
        except OSError:  # it exited: the acker reports that
            return None
        # The register cache is live data, bounded by its own budget: only growth beyond it is
        # what a backlog left behind and a new process would give back.
        return rss if rss - worker.idle_rss_bytes - worker.cache_bytes > self.limit_bytes else None

