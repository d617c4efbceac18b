"""Interval values across a restart and a backfill: neighbours come from the real InfluxDB."""

from __future__ import annotations

import uuid

import pytest

from ingest.service import IngestService
from ingest.settings import IngestSettings
from storage.influx import InfluxHTTP
from tests.ingest.helpers import STEP_MS, T0_MS, Publisher, meter_msg, meter_topic, wait_until

pytestmark = pytest.mark.servers


def _run(mosquitto, influxd, db, client_id, group, messages, expect_acked):
    s = IngestSettings(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=db, metrics_port=0,
                       client_id=client_id, share_group=group, flush_interval_ms=100)
    svc = IngestService(s).start()
    try:
        wait_until(lambda: svc.subscribed, 10, "subscribed")
        pub = Publisher(mosquitto.port)
        for topic, payload in messages:
            pub.publish(topic, payload)
        pub.close()
        wait_until(lambda: svc.acked >= expect_acked, 20, "acked")
    finally:
        svc.stop()
    return svc


def test_intervals_after_restart_and_backfill_use_stored_neighbours(mosquitto, influxd, fresh_db):
    cid, group = f"iv-{uuid.uuid4().hex[:6]}", f"g{uuid.uuid4().hex[:6]}"
    t = [T0_MS + i * STEP_MS for i in range(5)]
    first = [(meter_topic("E-9"), meter_msg("E-9", [(t[0], {"register": 100.0}), (t[4], {"register": 110.0})]))]
    _run(mosquitto, influxd, fresh_db, cid, group, first, 1)
    # A new process (empty cache): a live reading after t4 and a backfill between t0 and t4.
    second = [(meter_topic("E-9"), meter_msg("E-9", [(t[4] + STEP_MS, {"register": 111.0})])),
              (meter_topic("E-9"), meter_msg("E-9", [(t[2], {"register": 104.0})]))]
    svc = _run(mosquitto, influxd, fresh_db, cid, group, second, 2)
    assert svc.metrics.lookups._value.get() >= 1  # the neighbours did come from InfluxDB
    db = InfluxHTTP(influxd.url, fresh_db)
    rows = db.query("SELECT register_kwh, consumption_kwh, interval_s FROM meter WHERE device_id = 'E-9'")
    got = {r[0]: (r[1], r[2], r[3]) for r in rows[0]["values"]}
    assert got[t[0]] == (100.0, None, None)  # first reading ever
    assert got[t[2]][1] == pytest.approx(4.0) and got[t[2]][2] == 1800  # 104 - 100 over 30 min
    assert got[t[4]][1] == pytest.approx(6.0) and got[t[4]][2] == 1800  # rewritten: 110 - 104 (was 10)
    assert got[t[4] + STEP_MS][1] == pytest.approx(1.0) and got[t[4] + STEP_MS][2] == 900  # 111 - 110


def test_a_misread_is_judged_after_a_restart_with_three_stored_readings_before(mosquitto, influxd, fresh_db):
    """The misread's next reading reaches a new process (empty cache): the lookup must bring the
    three stored readings before it, or the misread (the newest stored one) stays counted."""
    cid, group = f"iv-{uuid.uuid4().hex[:6]}", f"g{uuid.uuid4().hex[:6]}"
    t = [T0_MS + i * STEP_MS for i in range(4)]
    first = [(meter_topic("E-8"), meter_msg("E-8", [(t[0], {"register": 100_000.0}), (t[1], {"register": 100_010.0}),
                                                    (t[2], {"register": 101_030.0})]))]  # t2 misread 1,000 high
    _run(mosquitto, influxd, fresh_db, cid, group, first, 1)
    db = InfluxHTTP(influxd.url, fresh_db)
    q = "SELECT consumption_kwh FROM meter WHERE device_id = 'E-8'"
    assert dict(db.query(q)[0]["values"])[t[2]] == pytest.approx(1020.0)  # newest: judged in pairs for now
    second = [(meter_topic("E-8"), meter_msg("E-8", [(t[3], {"register": 100_030.0})]))]
    svc = _run(mosquitto, influxd, fresh_db, cid, group, second, 1)
    assert svc.metrics.lookups._value.get() >= 1  # its neighbours came from InfluxDB
    got = dict(db.query(q)[0]["values"])
    # 101 030 lies above [100 010, 100 030]: it stands for 100 030. t2: 100 030 - 100 010 = 20; t3: 0.
    assert got[t[2]] == pytest.approx(20.0) and got[t[3]] == 0.0
    assert sum(v for v in got.values() if v is not None) == pytest.approx(30.0)  # 100 030 - 100 000
    found = db.query("SELECT value FROM data_quality WHERE code = 'register_misread' AND device_id = 'E-8'")
    assert found and found[0]["values"][0][1] == pytest.approx(1000.0)  # 101 030 - 100 030
