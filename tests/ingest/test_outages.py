"""Outages while a stream runs: InfluxDB stopped for 30 s, the broker restarted, two workers."""

from __future__ import annotations

import json
import threading
import time
import uuid

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


def _stream(port: int, devices: int, readings: int, per_message: int, pause_s: float = 0.0,
            first_reading: int = 0) -> None:
    """Publish ``readings`` per device (register k at quarter hour k), pausing between rounds."""
    pub = Publisher(port)
    for start in range(first_reading, first_reading + readings, per_message):
        for d in range(devices):
            dev = f"E-{d:03d}"
            pub.publish(meter_topic(dev), meter_msg(dev, [(T0_MS + k * STEP_MS, {"register": float(k)})
                                                          for k in range(start, start + per_message)]))
        pub.wait()
        time.sleep(pause_s)
    pub.close()


def _expected_sum(devices: int, readings: int) -> float:
    return devices * readings * (readings - 1) / 2  # devices x (0 + 1 + ... + readings-1)


def test_influxdb_down_30s_nothing_lost_and_recovers(mosquitto, own_influxd, tmp_path):
    db_name = "energy"
    devices, readings = 50, 400  # 20 000 readings over about 40 s
    ingest = IngestProcess(ingest_argv(mosquitto.port, own_influxd.url, db_name, "--share-group",
                                       f"g{uuid.uuid4().hex[:6]}"), tmp_path / "ingest.log").start()
    ingest.wait_connected()
    stream = threading.Thread(target=_stream, args=(mosquitto.port, devices, readings, 5, 0.5))
    stream.start()
    db = InfluxHTTP(own_influxd.url, db_name)
    try:
        wait_until(lambda: count_and_sum(db, "meter", "register_kwh")[0] > 0, 30, "first readings stored")
        own_influxd.stop()
        time.sleep(30)
        assert ingest.proc.poll() is None, ingest.log_tail()
        own_influxd.start()
        stream.join(120)
        n, s = wait_until(lambda: (c := count_and_sum(db, "meter", "register_kwh"))[0] >= devices * readings
                          and c, 120, "every reading stored after the outage")
        assert n == devices * readings
        assert s == _expected_sum(devices, readings)
        log = ingest.log_path.read_text()
        assert "write failed, retrying" in log  # it did see the outage, and got over it by itself
    finally:
        assert ingest.terminate() == 0, ingest.log_tail()
        stream.join(30)


def test_broker_restart_reconnects_and_resubscribes(own_mosquitto, influxd, fresh_db, tmp_path):
    devices = 50
    ingest = IngestProcess(ingest_argv(own_mosquitto.port, influxd.url, fresh_db), tmp_path / "ingest.log").start()
    ingest.wait_connected()
    db = InfluxHTTP(influxd.url, fresh_db)
    try:
        _stream(own_mosquitto.port, devices, 200, 5)  # confirmed by the broker, ingest still busy
        own_mosquitto.restart()
        ingest.wait_connected(60)  # a second "subscribed" in its log: it came back by itself
        _stream(own_mosquitto.port, devices, 200, 5, first_reading=200)
        n, s = wait_until(lambda: (c := count_and_sum(db, "meter", "register_kwh"))[0] >= devices * 400 and c,
                          120, "every reading stored across the broker restart")
        assert n == devices * 400
        assert s == _expected_sum(devices, 400)
    finally:
        assert ingest.terminate() == 0, ingest.log_tail()


def _stopped_counts(log_text: str) -> dict:
    for line in log_text.splitlines():
        if '"msg": "stopped"' in line:
            return json.loads(line)
    raise AssertionError("no 'stopped' line in the log")


def test_two_workers_share_the_load_exactly_once(mosquitto, influxd, fresh_db, tmp_path):
    group = f"g{uuid.uuid4().hex[:6]}"
    workers = [IngestProcess(ingest_argv(mosquitto.port, influxd.url, fresh_db, "--share-group", group,
                                         client_id=f"w{i}-{uuid.uuid4().hex[:6]}"), tmp_path / f"w{i}.log").start()
               for i in range(2)]
    for w in workers:
        w.wait_connected()
    devices, readings = 40, 500
    db = InfluxHTTP(influxd.url, fresh_db)
    try:
        _stream(mosquitto.port, devices, readings, 5)  # 4000 messages, 20 000 readings
        n, s = wait_until(lambda: (c := count_and_sum(db, "meter", "register_kwh"))[0] >= devices * readings
                          and c, 120, "every reading stored")
    finally:
        for w in workers:
            assert w.terminate() == 0, w.log_tail()
    assert n == devices * readings
    assert s == _expected_sum(devices, readings)
    received = [_stopped_counts(w.log_path.read_text())["received"] for w in workers]
    assert sum(received) == devices * readings // 5  # each message went to exactly one worker
    assert min(received) > 0  # both took part


def test_sigterm_while_influxdb_down_leaves_everything_to_the_broker(mosquitto, own_influxd, tmp_path):
    devices, readings = 20, 50
    argv = ingest_argv(mosquitto.port, own_influxd.url, "energy", "--share-group", f"g{uuid.uuid4().hex[:6]}",
                       "--close-timeout-s", "2", client_id=f"term-{uuid.uuid4().hex[:6]}")
    ingest = IngestProcess(argv, tmp_path / "ingest.log").start()
    try:
        ingest.wait_connected()
        own_influxd.stop()
        _stream(mosquitto.port, devices, readings, 5)  # received, but cannot be written
        # The first batch needs its register neighbours (a lookup) before the write: either one fails.
        wait_until(lambda: "failed, retrying" in ingest.log_path.read_text(), 30, "a failed InfluxDB call")
    except BaseException:
        ingest.kill()
        raise
    t0 = time.monotonic()
    assert ingest.terminate() == 0, ingest.log_tail()
    assert time.monotonic() - t0 < 15  # the close wait is bounded, not a hang on the outage
    assert '"acked": 0' in ingest.log_path.read_text()  # nothing written, so nothing acknowledged
    own_influxd.start()
    ingest.start()  # same client id: the broker still holds every message for its session
    ingest.wait_connected()
    db = InfluxHTTP(own_influxd.url, "energy")
    try:
        n, s = wait_until(lambda: (c := count_and_sum(db, "meter", "register_kwh"))[0] >= devices * readings
                          and c, 60, "every reading stored after the restart")
    finally:
        assert ingest.terminate() == 0, ingest.log_tail()
    assert n == devices * readings
    assert s == _expected_sum(devices, readings)
