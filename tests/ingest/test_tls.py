"""Ingest over TLS with per-device accounts: a SIGKILL mid-stream, then a restart, and every
reading is stored exactly once, as in plain MQTT (tests/ingest/test_crash.py)."""

from __future__ import annotations

import threading
import uuid

import pytest

from deploy.localservers import Mosquitto
from deploy.mqtt_auth import INGEST_USER, read_credentials, write_auth
from deploy.tls import ensure_server_cert
from registry.fleet import BuildingSpec, Fleet, MeterSpec
from storage.influx import InfluxHTTP
from tests.ingest.helpers import (
    BUILDING,
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

DEVICES = 10
READINGS_PER_DEVICE = 1000
PER_MESSAGE = 10  # 1000 messages of 10 readings
FLEET = Fleet(buildings=[BuildingSpec(
    building_code=BUILDING, name=BUILDING, floor_area_m2=1000, district="510402", latitude_deg=26.6,
    longitude_deg=101.7,
    meters=[MeterSpec(device_id=f"E-{d:03d}", carrier="electricity", sub_item="hvac") for d in range(DEVICES)])])


@pytest.fixture
def tls_broker(state_root):
    d = state_root / f"ingest-tls-{uuid.uuid4().hex[:6]}"
    server = ensure_server_cert(d / "ca")
    write_auth(FLEET, d / "auth")
    creds = {a.username: a.password for a in read_credentials(d / "auth")}
    broker = Mosquitto(d / "broker", tls=server, plain=False, password_file=d / "auth" / "passwords",
                       acl_file=d / "auth" / "acl").start()
    yield broker, creds
    broker.stop()


def _publish_all(broker: Mosquitto, creds: dict, killed: threading.Event) -> None:
    # Each meter with its own account, as in the field: the ACL lets it publish its topics only.
    pubs = {}
    for d in range(DEVICES):
        user = f"{BUILDING}.E-{d:03d}"
        pubs[d] = Publisher(broker.connection(mqtt_username=user, mqtt_password=creds[user]))
    for start in range(0, READINGS_PER_DEVICE, PER_MESSAGE):
        if start == READINGS_PER_DEVICE // 2:
            # The second half waits for the kill, so the stream cannot end before it, however
            # fast this machine is; it then queues at the broker for the dead ingest's session.
            killed.wait(120)
        for d, pub in pubs.items():
            dev = f"E-{d:03d}"
            # register k at the k-th quarter hour: integers, so float sums are exact
            pub.publish(meter_topic(dev), meter_msg(dev, [(T0_MS + k * STEP_MS, {"register": float(k)})
                                                          for k in range(start, start + PER_MESSAGE)]))
        if start % 100 == 0:
            for pub in pubs.values():
                pub.wait()
    for pub in pubs.values():
        pub.close()


def test_ingest_over_tls_sigkill_stores_exactly_once(tls_broker, influxd, fresh_db, tmp_path, monkeypatch):
    broker, creds = tls_broker
    # The password through the environment, not the command line where `ps` shows it.
    monkeypatch.setenv("EP_MQTT_PASSWORD", creds[INGEST_USER])
    argv = ingest_argv(broker.tls_port, influxd.url, fresh_db, "--share-group", f"g{uuid.uuid4().hex[:6]}",
                       "--mqtt-tls", "--mqtt-ca-file", str(broker.tls.ca), "--mqtt-username", INGEST_USER,
                       client_id=f"tls-{uuid.uuid4().hex[:6]}")
    ingest = IngestProcess(argv, tmp_path / "ingest.log").start()
    ingest.wait_connected()
    killed = threading.Event()
    publisher = threading.Thread(target=_publish_all, args=(broker, creds, killed))
    publisher.start()
    db = InfluxHTTP(influxd.url, fresh_db)
    total = DEVICES * READINGS_PER_DEVICE
    try:
        wait_until(lambda: count_and_sum(db, "meter", "register_kwh")[0] >= total // 4, 120,
                   "a quarter stored before the kill")
        ingest.kill()
        killed.set()
        ingest.start()
        ingest.wait_connected()
        publisher.join(300)
        n, s = wait_until(lambda: (c := count_and_sum(db, "meter", "register_kwh"))[0] >= total and c, 240,
                          "every reading stored")
    finally:
        killed.set()
        if ingest.proc.poll() is None:
            assert ingest.terminate() == 0, ingest.log_tail()
        publisher.join(60)
    assert n == total  # 10 devices x 1000 readings, no more, no less
    assert s == DEVICES * READINGS_PER_DEVICE * (READINGS_PER_DEVICE - 1) / 2  # 10 x (0 + ... + 999)
    n_c, s_c = count_and_sum(db, "meter", "consumption_kwh")
    assert n_c == DEVICES * (READINGS_PER_DEVICE - 1)  # the first reading of each device has no interval
    assert s_c == pytest.approx(DEVICES * (READINGS_PER_DEVICE - 1))  # 10 x 999 x 1 kWh
    # Nothing was refused on the way: no dead letter.
    assert db.query('SELECT count("topic") FROM "ingest_deadletter"') == []
    # The password never reached the log.
    assert creds[INGEST_USER] not in ingest.log_path.read_text()
