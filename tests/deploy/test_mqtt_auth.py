"""Per-device credentials and ACLs, enforced by a real Mosquitto."""

import csv
import queue
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contract.topics import device_topic
from deploy.localservers import Mosquitto
from deploy.mqtt_auth import INGEST_USER, write_auth
from registry.fleet import BuildingSpec, Fleet, MeterSpec

FLEET = Fleet(buildings=[
    BuildingSpec(building_code=code, name=code, floor_area_m2=1000, district="511102", latitude_deg=29.5,
                 longitude_deg=103.7, meters=[MeterSpec(device_id="E1", carrier="electricity", sub_item="main")])
    for code in ("511102A001", "511102A002")
])


def _client(port: int, user: str, password: str, rc_box: queue.Queue | None = None) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    if rc_box is not None:
        c.on_connect = lambda cl, ud, flags, rc, props: rc_box.put(rc)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


@pytest.fixture
def secured_broker(state_root):
    out = state_root / f"auth-{uuid.uuid4().hex[:6]}"
    write_auth(FLEET, out)
    with open(out / "credentials.csv") as f:
        creds = {row["username"]: row["password"] for row in csv.DictReader(f)}
    broker = Mosquitto(out / "broker", password_file=out / "passwords", acl_file=out / "acl").start()
    yield broker, creds, out
    broker.stop()


def test_device_publishes_only_its_own_topics(secured_broker):
    broker, creds, _ = secured_broker
    got: queue.Queue = queue.Queue()
    sub = _client(broker.port, INGEST_USER, creds[INGEST_USER])
    sub.on_message = lambda c, u, m: got.put(m.topic)
    ready: queue.Queue = queue.Queue()
    sub.on_subscribe = lambda *a: ready.put(True)
    sub.subscribe("ep/v1/+/+/+/+", qos=1)
    ready.get(timeout=5)

    dev = _client(broker.port, "511102A001.E1", creds["511102A001.E1"])
    own = device_topic("511102A001", "meter", "E1")
    foreign = device_topic("511102A002", "meter", "E1")  # same device id, other building
    dev.publish(foreign, b"{}", qos=1).wait_for_publish(5)
    dev.publish(own, b"{}", qos=1).wait_for_publish(5)
    # The broker keeps order per publisher: the foreign message, had it passed, would come first.
    assert got.get(timeout=5) == own
    assert got.empty()
    for c in (dev, sub):
        c.loop_stop()
        c.disconnect()


def test_wrong_password_is_refused(secured_broker):
    broker, _, _ = secured_broker
    rc: queue.Queue = queue.Queue()
    c = _client(broker.port, "511102A001.E1", "not-the-password", rc)
    assert rc.get(timeout=5).is_failure
    c.loop_stop()


def test_credentials_are_unique_and_private(secured_broker):
    _, creds, out = secured_broker
    # 2 meters + ingest + api accounts, each with its own password.
    assert len(creds) == 4 and len(set(creds.values())) == 4
    assert (out / "credentials.csv").stat().st_mode & 0o077 == 0
    # The broker's file holds hashes, never the plaintext.
    assert not any(p in (out / "passwords").read_text() for p in creds.values())
