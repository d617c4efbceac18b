"""Publish to Mosquitto with MQTT v5, QoS 1, and a bounded window of unacknowledged messages.

The window is what makes a backfill run "as fast as the broker and ingest accept" and lose
nothing: ``publish`` blocks while ``window`` messages wait for their PUBACK, and paho re-sends
unacknowledged messages after a reconnect. A PUBACK with a failure reason code is counted and
reported by :meth:`Publisher.close`, never ignored.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.broker import MqttConnection, make_client

DEFAULT_WINDOW = 500
#: How often a blocked publish logs, and how long it waits for room in the window before failing. [s]
STALL_REPORT_S = 30.0
DEFAULT_STALL_TIMEOUT_S = 900.0
log = logging.getLogger("simulators.publisher")
#: The broker keeps the session (and paho's unacknowledged messages stay valid) this long
#: after a disconnect. [s]
SESSION_EXPIRY_S = 3600


class PublishError(RuntimeError):
    pass


class Publisher:
    """A paho-mqtt 2.x client that publishes with QoS 1 and waits for PUBACKs.

    Parameters
    ----------
    broker : MqttConnection
        Broker address, credentials and TLS files (contract/broker.py).
    window : int
        Maximum messages published but not yet acknowledged. [messages]
    client_id : str, optional
        MQTT client id; a random one by default.
    connect_timeout_s : float
        Time allowed for the first connection. [s]
    stall_timeout_s : float
        How long a publish may wait for a PUBACK to free the window before failing. [s]
    """

    def __init__(self, broker: MqttConnection, *, window: int = DEFAULT_WINDOW, client_id: str | None = None,
                 connect_timeout_s: float = 10.0, stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S):
        if window < 1:
            raise ValueError(f"window={window} must be >= 1")
        self.window = window
        self.stall_timeout_s = stall_timeout_s
        self.published = 0
        self.acked = 0
        self.failures: list[tuple[int, str]] = []
        self._sem = threading.Semaphore(window)
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._connect_error: str | None = None
        self.client = make_client(broker, client_id or f"sim-{uuid.uuid4().hex[:10]}")
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)  # bounded by our own window instead
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        try:
            self.client.connect(broker.mqtt_host, broker.mqtt_port, keepalive=30,
                                clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY, properties=props)
        except OSError as e:  # ssl.SSLError is one: an untrusted or misnamed broker certificate
            raise PublishError(f"cannot connect to the MQTT broker at {broker.url}: {e}") from None
        self.client.loop_start()
        if not self._connected.wait(connect_timeout_s):
            self.client.loop_stop()
            raise PublishError(f"no CONNACK from {broker.url} within {connect_timeout_s} s"
                               + (f" ({self._connect_error})" if self._connect_error else ""))

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._connect_error = str(reason_code)
            return
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self.acked += 1
            # 0x10 "no matching subscribers" is a success code; >= 0x80 is a refusal.
            if reason_code.is_failure:
                self.failures.append((mid, str(reason_code)))
        self._sem.release()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish one message, blocking while the window is full (at most ``stall_timeout_s``)."""
        waited = 0.0
        while not self._sem.acquire(timeout=STALL_REPORT_S):
            waited += STALL_REPORT_S
            log.warning("publisher: %d messages unacknowledged for %.0f s (broker down or slow?)",
                        self.in_flight, waited)
            if waited >= self.stall_timeout_s:
                raise PublishError(f"no PUBACK for {waited:.0f} s with {self.in_flight} messages in flight; "
                                   f"is the broker reachable?")
        info = self.client.publish(topic, payload, qos=1)
        # NO_CONN means queued for the reconnect; anything else is a caller or client error.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self._sem.release()
            raise PublishError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self.published += 1

    @property
    def in_flight(self) -> int:
        return self.published - self.acked

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every published message is acknowledged."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight > 0:
            if time.monotonic() > deadline:
                raise PublishError(f"{self.in_flight} messages still unacknowledged after {timeout_s} s")
            time.sleep(0.005)

    def close(self, timeout_s: float = 60.0) -> None:
        """Flush, disconnect, and raise if the broker refused any message."""
        try:
            self.flush(timeout_s)
        finally:
            self.client.disconnect()
            self.client.loop_stop()
        if self.failures:
            mid, why = self.failures[0]
            raise PublishError(f"broker refused {len(self.failures)} messages (first: mid {mid}: {why})")

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.client.disconnect()
            self.client.loop_stop()
