"""What the design relies on from Mosquitto: it keeps a whole batch of unacked QoS 1 messages in
flight (max_inflight_messages 0), and honours the client's MQTT v5 receive maximum (push-back)."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.ingest.helpers import Publisher

pytestmark = pytest.mark.servers


def _unacked_delivered(port: int, receive_maximum: int, published: int) -> int:
    topic = f"inflight/{uuid.uuid4().hex[:8]}"
    got = []
    subscribed = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"inf-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5,
                    manual_ack=True)
    c.on_message = lambda cl, u, m: got.append(m.mid)  # never acked
    c.on_subscribe = lambda *a: subscribed.set()
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = receive_maximum
    c.connect("127.0.0.1", port, properties=props)
    c.subscribe(topic, qos=1)
    c.loop_start()
    try:
        assert subscribed.wait(10)
        pub = Publisher(port)
        for i in range(published):
            pub.publish(topic, str(i).encode())
        pub.close()
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 1.0:  # until nothing more arrives for 1 s
            if len(got) != last:
                last, stable_since = len(got), time.monotonic()
            time.sleep(0.05)
        return len(got)
    finally:
        c.disconnect()
        c.loop_stop()


def test_broker_keeps_more_than_a_batch_unacked_in_flight(mosquitto):
    assert _unacked_delivered(mosquitto.port, 20_000, 12_000) == 12_000  # > 5000 lines of a batch


def test_broker_honours_receive_maximum(mosquitto):
    assert _unacked_delivered(mosquitto.port, 100, 500) == 100  # the rest waits at the broker
