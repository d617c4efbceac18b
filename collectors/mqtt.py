"""The gateway's MQTT side: one paho client, and publishing that an asyncio task can await until
the broker has acknowledged (PUBACK) every message, the condition for acknowledging a collector."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.broker import MqttConnection, make_client

log = logging.getLogger("collectors.mqtt")


def make_mqtt_client(conn: MqttConnection | None = None, *, client_id: str) -> mqtt.Client:
    """The gateway's paho client (MQTT v5) from the platform's one factory (contract/broker.py:
    credentials and TLS), tuned for many packets awaiting their PUBACKs at once."""
    c = make_client(conn or MqttConnection(), client_id)
    c.reconnect_delay_set(min_delay=1, max_delay=5)
    # Every connection awaits its own packet's PUBACKs: many may be in flight at once.
    c.max_inflight_messages_set(5000)
    c.max_queued_messages_set(0)
    return c


class AckingPublisher:
    """Publishes QoS 1 and resolves an asyncio future when the broker acknowledges.

    paho calls ``on_publish`` from its network thread while holding its own lock, possibly before
    ``publish()`` has returned the message id to us; an early acknowledgement is parked in
    ``_early`` and claimed right after ``publish()`` returns.
    """

    def __init__(self, client: mqtt.Client, loop: asyncio.AbstractEventLoop):
        self.client = client
        self.loop = loop
        self._lock = threading.Lock()
        self._pending: dict[int, asyncio.Future] = {}
        self._early: dict[int, bool] = {}
        self.connected = threading.Event()
        client.on_publish = self._on_publish
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect

    def connect(self, host: str, port: int, *, keepalive_s: int = 30, session_expiry_s: int = 3600) -> None:
        props = Properties(PacketTypes.CONNECT)
        # A session that outlives a broker restart, so paho re-sends what was not acknowledged.
        props.SessionExpiryInterval = session_expiry_s
        self.client.connect_async(host, port, keepalive=keepalive_s, clean_start=False, properties=props)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT connection refused", extra={"reason": str(reason_code)})
            return
        self.connected.set()
        log.info("MQTT connected")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.warning("MQTT disconnected", extra={"reason": str(reason_code)})

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        ok = not reason_code.is_failure
        with self._lock:
            fut = self._pending.pop(mid, None)
            if fut is None:
                self._early[mid] = ok
                return
        self.loop.call_soon_threadsafe(_resolve, fut, ok)

    async def publish_all(self, messages: list[tuple[str, bytes]], timeout_s: float) -> bool:
        """Publish every (topic, payload) at QoS 1; True when the broker acknowledged them all in time."""
        futs, mids = [], []
        for topic, payload in messages:
            fut = self.loop.create_future()
            info = self.client.publish(topic, payload, qos=1)
            with self._lock:
                early = self._early.pop(info.mid, None)
                if early is None:
                    self._pending[info.mid] = fut
            if early is not None:
                fut.set_result(early)
            futs.append(fut)
            mids.append(info.mid)
        if not futs:
            return True
        try:
            results = await asyncio.wait_for(asyncio.gather(*futs), timeout_s)
        except TimeoutError:
            with self._lock:  # forget them: a late PUBACK then lands in _early, bounded below
                for mid, f in zip(mids, futs, strict=True):
                    if self._pending.get(mid) is f:
                        del self._pending[mid]
                if len(self._early) > 100_000:
                    self._early.clear()
            return False
        return all(results)


def _resolve(fut: asyncio.Future, ok: bool) -> None:
    if not fut.done():
        fut.set_result(ok)


def default_client_id() -> str:
    return f"collectors-{uuid.uuid4().hex[:8]}"
