"""One joined write acknowledges a batch (ingest/acks.py), against the installed paho and a real
Mosquitto: exactly the acknowledged messages are settled, the rest come back on reconnect."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.broker import MqttConnection, make_client
from ingest import acks
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.ingest.helpers import T0_MS, Publisher, meter_msg, meter_topic, wait_until

pytestmark = pytest.mark.servers


class _Session:
    """A persistent-session subscriber with manual acks that keeps (mid, payload) in arrival order."""

    def __init__(self, port: int, client_id: str, topic: str):
        self.got: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.c = make_client(MqttConnection(mqtt_port=port), client_id, manual_ack=True)
        self.c.on_message = lambda c, u, m: self._keep(m.mid, m.payload)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda *a: subscribed.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        self.c.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.c.loop_start()
        assert subscribed.wait(10), "subscription not confirmed"

    def _keep(self, mid: int, payload: bytes) -> None:
        with self._lock:
            self.got.append((mid, payload))

    def wait_for(self, n: int, timeout_s: float = 30) -> list[tuple[int, bytes]]:
        def enough() -> list[tuple[int, bytes]] | None:
            with self._lock:
                return list(self.got) if len(self.got) >= n else None

        return wait_until(enough, timeout_s, f"{n} messages", 0.02)

    def close(self) -> None:
        assert acks.flush(self.c, 10), "the broker did not answer the barrier"
        self.c.disconnect()
        self.c.loop_stop()


@pytest.mark.parametrize("joined", [True, False], ids=["joined", "paho-ack-each"])
def test_exactly_the_acknowledged_messages_are_settled(mosquitto, monkeypatch, joined):
    if joined and not acks.JOINED:
        pytest.fail("the installed paho has no Client._packet_queue: ingest/acks.py falls back to one ack "
                    "per message; update the module for this paho version")
    monkeypatch.setattr(acks, "JOINED", joined)
    topic, cid = f"test/acks/{uuid.uuid4().hex[:8]}", f"acks-{uuid.uuid4().hex[:8]}"
    first = _Session(mosquitto.port, cid, topic)  # the session exists before anything is published
    pub = Publisher(mosquitto.port)
    for i in range(300):
        pub.publish(topic, str(i).encode())
    pub.close()
    got = first.wait_for(300)
    assert [p for _m, p in got] == [str(i).encode() for i in range(300)]
    # Acknowledge the first 200 in two batches, as the acker does after two writes.
    assert acks.ack_qos1(first.c, [m for m, _p in got[:120]]) == 120
    assert acks.ack_qos1(first.c, [m for m, _p in got[120:200]]) == 80
    first.close()

    again = _Session(mosquitto.port, cid, topic)
    try:
        back = again.wait_for(100)
        time.sleep(0.5)  # anything more would arrive now
        # 300 - 200 acknowledged = 100 redelivered, in order; none of the acknowledged ones.
        assert [p for _m, p in again.got] == [str(i).encode() for i in range(200, 300)]
        assert acks.ack_qos1(again.c, [m for m, _p in back]) == 100
    finally:
        again.close()


def test_an_orderly_stop_leaves_nothing_to_redeliver(own_mosquitto, influxd, fresh_db):
    """A busy broker has not read the last batch's acks when ingest stops: they must be read before
    the disconnect (``acks.flush``), or the broker drops them and redelivers those messages. The
    broker is paused (SIGSTOP) while the acks are sent and resumed while ingest stops."""
    mq = own_mosquitto
    cid = f"stop-{uuid.uuid4().hex[:8]}"
    s = IngestSettings(mqtt_port=mq.port, influx_url=influxd.url, influx_db=fresh_db, metrics_port=0,
                       client_id=cid, share_group="", session_expiry_s=600)
    svc = IngestService(s).start()
    try:
        wait_until(lambda: svc.subscribed, 10, "subscribed")
        pub = Publisher(mq.port)
        for i in range(3000):  # one device each: a PUBACK each
            pub.publish(meter_topic(f"E-{i}"), meter_msg(f"E-{i}", [(T0_MS, {"register": 100.0})]))
        pub.close()
        wait_until(lambda: svc.received >= 3000, 60, "received")
        os.kill(mq.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: svc.acked >= 3000, 60, "acked")  # queued, not read by the paused broker
            stopping = threading.Thread(target=svc.stop)
            stopping.start()
            time.sleep(0.5)  # ingest has sent everything it will send before its disconnect
        finally:
            os.kill(mq.proc.pid, signal.SIGCONT)
        stopping.join(30)
    finally:
        svc.stop()
    after = _Session(mq.port, cid, "ep/v1/+/+/+/+")
    try:
        time.sleep(1.0)  # a redelivery comes at once on connect
        assert len(after.got) == 0
    finally:
        after.close()
