"""The publisher against a real Mosquitto: every message arrives, including across a restart."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.broker import MqttConnection, make_client
from simulators.publisher import Publisher, PublishError

pytestmark = pytest.mark.servers


class Subscriber:
    """A persistent-session QoS 1 subscriber that keeps the payloads it receives."""

    def __init__(self, port: int | MqttConnection, topic: str):
        self.got: set[bytes] = set()
        self.count = 0
        self._lock = threading.Lock()
        self._sub = threading.Event()
        conn = port if isinstance(port, MqttConnection) else MqttConnection(mqtt_port=port)
        self.c = make_client(conn, f"sub-{uuid.uuid4().hex[:8]}")
        self.c.on_message = self._msg
        self.c.on_subscribe = lambda *a: self._sub.set()
        self.c.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.c.reconnect_delay_set(min_delay=1, max_delay=2)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        self.c.connect(conn.mqtt_host, conn.mqtt_port, clean_start=False, properties=props)
        self.c.loop_start()
        assert self._sub.wait(10)

    def _msg(self, client, userdata, msg) -> None:
        with self._lock:
            self.got.add(msg.payload)
            self.count += 1

    def wait_for(self, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.got) < n:
            time.sleep(0.05)
        assert len(self.got) == n, f"received {len(self.got)} distinct of {n}"

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_every_message_acknowledged_and_received(mosquitto):
    topic = f"ep/v1/test-{uuid.uuid4().hex[:6]}"
    sub = Subscriber(mosquitto.port, topic)
    with Publisher(mosquitto.connection(), window=50) as pub:
        for i in range(3000):
            pub.publish(topic, f"m{i}".encode())
            assert pub.in_flight <= 50  # the window bounds what the broker has not yet confirmed
    assert pub.acked == pub.published == 3000
    sub.wait_for(3000, 30)
    sub.close()


def test_nothing_lost_across_a_broker_restart(own_mosquitto):
    topic = "ep/v1/restart"
    sub = Subscriber(own_mosquitto.port, topic)
    n = 4000
    pub = Publisher(own_mosquitto.connection(), window=100)
    restarted = threading.Event()

    def restart_midway():
        while pub.published < n // 3:
            time.sleep(0.005)
        own_mosquitto.restart()
        restarted.set()

    t = threading.Thread(target=restart_midway)
    t.start()
    for i in range(n):
        pub.publish(topic, f"r{i}".encode())
    t.join(60)
    assert restarted.is_set()
    pub.close(timeout_s=60)
    assert pub.acked >= n  # re-sent messages may be acknowledged twice
    sub.wait_for(n, 60)
    sub.close()


def test_publishes_over_tls(own_tls_mosquitto):
    topic = f"ep/v1/test-{uuid.uuid4().hex[:6]}"
    sub = Subscriber(own_tls_mosquitto.connection(), topic)
    with Publisher(own_tls_mosquitto.connection(), window=10) as pub:
        for i in range(100):
            pub.publish(topic, str(i).encode())
    assert pub.acked == 100
    sub.wait_for(100, 30)
    sub.close()


def test_untrusted_broker_certificate_is_a_clear_error(own_tls_mosquitto, tmp_path):
    from deploy.tls import ensure_ca

    other_ca, _ = ensure_ca(tmp_path / "other-ca")
    with pytest.raises(PublishError, match="mqtts://127.0.0.1:.*CERTIFICATE_VERIFY_FAILED"):
        Publisher(own_tls_mosquitto.connection(mqtt_ca_file=other_ca), connect_timeout_s=2)


def test_unreachable_broker_is_a_clear_error():
    with pytest.raises(PublishError, match="127.0.0.1:1"):
        Publisher(MqttConnection(mqtt_port=1), connect_timeout_s=1)


def test_live_ticks_arrive_at_the_broker(mosquitto):
    import datetime as dt

    from contract.localtime import local_midnight_ms
    from simulators.live import run_live
    from tests.simulators.helpers import small_fleet

    fleet = small_fleet(3)
    sub = Subscriber(mosquitto.port, "ep/v1/#")
    start = local_midnight_ms(dt.date(2025, 7, 14)) + 10 * 3_600_000
    with Publisher(mosquitto.connection()) as pub:
        # 1-minute readings at 300x: a tick every 0.2 s.
        stats = run_live(fleet, pub, seed=2, start_ms=start, step_ms=60_000, speed=300, max_ticks=10)
    assert stats.ticks == 10  # lateness is measured in bench/simulator_live.py, not asserted here
    sub.wait_for(stats.messages, 30)
    sub.close()
    stamps = set()
    for payload in sub.got:
        body = json.loads(payload)
        for m in body.get("messages", [body]):
            stamps.update(r["ts_ms"] for r in m["readings"] if m.get("stream", "telemetry") == "telemetry")
    assert stamps == {start + i * 60_000 for i in range(10)}  # every tick, on the 1-minute grid
