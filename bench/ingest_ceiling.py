"""InfluxDB's own write rate for the lines ingest writes: the ceiling of any ingest (goal 1 of issue 13).

The lines come from ingest's own code (``BatchBuilder.add`` + ``seal``, as the worker runs them, with
an interval cache that finds nothing stored: each benchmark run writes to a fresh database), so they
are byte for byte what ingest would post. They are encoded to bytes before the clock starts and
posted in ``BATCH_LINES`` batches by one writer, and by several writers at once (threads, each with
its own connection), to a fresh database. What remains in the time is InfluxDB's parse, index and
WAL work plus one HTTP round trip per batch: the most any ingest can get from this InfluxDB.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx

from storage.influx import InfluxHTTP

#: Lines per POST: ingest's default ``batch_size_lines`` (ingest/settings.py), so both pay the same
#: number of round trips.
BATCH_LINES = 5000
#: Writers ingest uses: one worker process with one writer thread (ingest/worker.py).
INGEST_WRITERS = 1


def sealed_batches(messages: list[tuple[str, bytes]], batch_lines: int = BATCH_LINES) -> Iterator[list[str]]:
    """The line batches ingest's worker seals for ``messages`` (every series new, nothing stored)."""
    from ingest.intervals import RegisterTracker
    from ingest.metrics import Metrics
    from ingest.pipeline import BatchBuilder, Inbound
    from ingest.transform import TimeRules

    def no_storage(missing: dict) -> dict:
        return {}  # nothing stored: the tracker's own empty result (any revision's, for --ref)

    builder = BatchBuilder(rules=TimeRules(), tracker=RegisterTracker(no_storage), metrics=Metrics(),
                           client_id="bench")
    for i, (topic, payload) in enumerate(messages):
        builder.add(Inbound(0, i, 1, topic, payload, 0))
        if len(builder.batch) >= batch_lines:
            yield builder.seal().lines
    last = builder.seal().lines
    if last:
        yield last


def encoded_bodies(messages: list[tuple[str, bytes]], batch_lines: int = BATCH_LINES) -> list[bytes]:
    """The lines ingest would write for ``messages``, as ``batch_lines`` POST bodies."""
    lines = [ln for batch in sealed_batches(messages, batch_lines) for ln in batch]
    return ["\n".join(lines[i:i + batch_lines]).encode() for i in range(0, len(lines), batch_lines)]


def post_rate(influx_url: str, bodies: list[bytes], writers: int) -> tuple[float, int]:
    """(points per second, points) for ``writers`` threads posting ``bodies`` to a fresh database;
    from the first POST until the last 204."""
    import uuid

    db = f"ceiling_{uuid.uuid4().hex[:6]}"
    InfluxHTTP(influx_url, db).create_database()
    points = sum(b.count(b"\n") + 1 for b in bodies)
    clients = [httpx.Client(base_url=influx_url, timeout=60) for _ in range(writers)]
    params = {"db": db, "precision": "ms"}
    next_body = iter(range(len(bodies)))
    lock = threading.Lock()
    errors: list[str] = []

    def run(c: httpx.Client) -> None:
        while True:
            with lock:
                i = next(next_body, None)
            if i is None:
                return
            r = c.post("/write", params=params, content=bodies[i])
            if r.status_code != 204:
                errors.append(f"{r.status_code} {r.text[:200]}")
                return

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    for c in clients:
        c.close()
    if errors:
        raise RuntimeError(f"InfluxDB refused a ceiling write: {errors[0]}")
    return points / dt, points
