"""SIGKILL mid-stream of 100 000 readings, then restart: every reading stored exactly once."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from storage.influx import InfluxHTTP
from tests.ingest.helpers import (
    STEP_MS,
    T0_MS,
    IngestProcess,
    Publisher,
    count_and_sum,
    ingest_argv,
    meter_msg,
    meter_topic,
    wait_until,
)

pytestmark = [pytest.mark.servers, pytest.mark.slow]

DEVICES = 100
READINGS_PER_DEVICE = 1000
PER_MESSAGE = 10  # 10 000 messages of 10 readings


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(c) for c in text.split()]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _publish_all(port: int) -> None:
    pub = Publisher(port)
    for start in range(0, READINGS_PER_DEVICE, PER_MESSAGE):
        for d in range(DEVICES):
            dev = f"E-{d:03d}"
            # register k at the k-th quarter hour: integers, so float sums are exact
            pub.publish(meter_topic(dev), meter_msg(dev, [(T0_MS + k * STEP_MS, {"register": float(k)})
                                                          for k in range(start, start + PER_MESSAGE)]))
        if start % 100 == 0:
            pub.wait()
    pub.close()


def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(mosquitto, influxd, fresh_db, tmp_path):
    argv = ingest_argv(mosquitto.port, influxd.url, fresh_db, "--share-group", f"g{uuid.uuid4().hex[:6]}",
                       client_id=f"crash-{uuid.uuid4().hex[:6]}")
    ingest = IngestProcess(argv, tmp_path / "ingest.log").start()
    ingest.wait_connected()
    publisher = threading.Thread(target=_publish_all, args=(mosquitto.port,))
    publisher.start()
    db = InfluxHTTP(influxd.url, fresh_db)
    total = DEVICES * READINGS_PER_DEVICE
    try:
        # Kill when a good part, but not all, is stored: mid-stream, with batches in flight.
        wait_until(lambda: count_and_sum(db, "meter", "register_kwh")[0] >= total // 4, 120,
                   "a quarter stored before the kill")
        workers = _children(ingest.proc.pid)
        assert workers, "the ingest process has no worker process"
        ingest.kill()
        stored_at_kill = count_and_sum(db, "meter", "register_kwh")[0]
        # The orphaned worker notices and exits; it cannot acknowledge anything anyway.
        wait_until(lambda: not any(Path(f"/proc/{w}").exists() and _state(w) != "Z" for w in workers), 10,
                   "the orphaned worker exited")
        assert stored_at_kill < total, "the stream ended before the kill; the test proves nothing"
        ingest.start()
        ingest.wait_connected()
        publisher.join(300)
        n, s = wait_until(lambda: (c := count_and_sum(db, "meter", "register_kwh"))[0] >= total and c, 240,
                          "every reading stored")
    finally:
        if ingest.proc.poll() is None:
            assert ingest.terminate() == 0, ingest.log_tail()
        publisher.join(60)
    assert n == total  # 100 devices x 1000 readings, no more, no less
    assert s == DEVICES * READINGS_PER_DEVICE * (READINGS_PER_DEVICE - 1) / 2  # 100 x (0 + ... + 999)
    # Interval values survive the crash too: each device consumed 999 kWh over 999 intervals.
    n_c, s_c = count_and_sum(db, "meter", "consumption_kwh")
    assert n_c == DEVICES * (READINGS_PER_DEVICE - 1)
    assert s_c == pytest.approx(DEVICES * (READINGS_PER_DEVICE - 1))  # 100 x 999 x 1 kWh
