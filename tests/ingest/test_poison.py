"""A message that kills the worker, on real Mosquitto + InfluxDB: dead-lettered after a bounded
number of deliveries, everything else stored, no crash loop (ingest/deliveries.py).

No input kills the worker through Python (every stage is isolated, tests/ingest/test_pipeline.py),
so the fault is injected: a ``sitecustomize`` on the subprocess's path makes ``decode`` end the
process (``os._exit``, as a segfault or the OOM killer would) on a payload holding ``POISON``.
Python imports ``sitecustomize`` at start in the service and in its spawned worker alike.
"""

from __future__ import annotations

import uuid

import pytest

from ingest.deliveries import POISON_DELIVERY
from storage.influx import InfluxHTTP
from tests.ingest.helpers import (
    STEP_MS,
    T0_MS,
    Collector,
    IngestProcess,
    Publisher,
    count_and_sum,
    ingest_argv,
    meter_msg,
    meter_topic,
    wait_until,
)

pytestmark = [pytest.mark.servers, pytest.mark.slow]

SITECUSTOMIZE = '''
import os

import contract.fastdecode as _fastdecode

_decode = _fastdecode.decode  # ingest's entry (it hands refused payloads to contract.payloads.decode)


def _dying_decode(topic, payload):
    if b"POISON" in payload:
        os._exit(70)  # the worker dies here, outside any Python exception handling
    return _decode(topic, payload)


_fastdecode.decode = _dying_decode
'''
GOOD = 60  # messages of E-GOOD, one reading each, register k at the k-th quarter hour


def test_poison_message_is_dead_lettered_after_bounded_deliveries(mosquitto, influxd, fresh_db, tmp_path):
    fault = tmp_path / "fault"
    fault.mkdir()
    (fault / "sitecustomize.py").write_text(SITECUSTOMIZE)
    argv = ingest_argv(mosquitto.port, influxd.url, fresh_db, "--share-group", f"g{uuid.uuid4().hex[:6]}",
                       "--delivery-state-dir", str(tmp_path / "deliveries"),
                       client_id=f"poison-{uuid.uuid4().hex[:6]}")
    dead = Collector(mosquitto.port, "ep/v1/deadletter/#")
    ingest = IngestProcess(argv, tmp_path / "ingest.log", pythonpath=(fault,)).start()
    ingest.wait_connected()
    pub = Publisher(mosquitto.port)
    for k in range(GOOD):
        if k == GOOD // 2:
            pub.publish(meter_topic("E-POISON"), meter_msg("E-POISON", [(T0_MS, {"register": 1.0})]))
        pub.publish(meter_topic("E-GOOD"), meter_msg("E-GOOD", [(T0_MS + k * STEP_MS, {"register": float(k)})]))
    pub.close()
    db = InfluxHTTP(influxd.url, fresh_db)
    crashes = 0
    try:
        while True:
            # Either the worker dies (the service exits 1 so that a supervisor restarts it), or
            # everything is settled.
            done = wait_until(lambda: ingest.proc.poll() is not None or count_and_sum(db, "meter", "register_kwh")[0]
                              >= GOOD, 90, "ingest to crash or to store everything")
            if ingest.proc.poll() is None:
                break
            assert ingest.proc.returncode == 1, ingest.log_tail()
            crashes += 1
            assert crashes < POISON_DELIVERY, f"crash loop:\n{ingest.log_tail()}"
            ingest.start()  # the supervisor's restart
            ingest.wait_connected()
        assert done
        letters = dead.wait_for(1, 60)
    finally:
        dead.close()
    # Delivery 1 (first, not counted), delivery 2 (in a group of redelivered messages) and delivery
    # 3 (alone) killed the worker; delivery 4 was dead-lettered without being handled.
    assert crashes == POISON_DELIVERY - 1
    assert [(t, b["reason"], b["topic"]) for t, b in letters] == [
        ("ep/v1/deadletter/poison_message", "poison_message", meter_topic("E-POISON"))]
    assert "delivery 4" in letters[0][1]["detail"]
    n, total = count_and_sum(db, "meter", "register_kwh")
    assert (n, total) == (GOOD, GOOD * (GOOD - 1) / 2)  # every good reading once: 0 + 1 + ... + 59 = 1770
    assert db.query("SELECT count(register_kwh) FROM meter WHERE device_id = 'E-POISON'") == []
    # No loop: the service stays up, and nothing more is dead-lettered.
    assert ingest.proc.poll() is None
    assert len(dead.messages) == 1
    assert ingest.terminate() == 0
