"""Shared helpers of the ingest tests: message builders, a confirming publisher, the service as a
real subprocess, and InfluxQL read-back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from contract.broker import MqttConnection, make_client
from contract.topics import device_topic, gateway_topic
from storage.influx import InfluxError, InfluxHTTP

ROOT = Path(__file__).resolve().parents[2]
BUILDING = "510402A001"
T0_MS = 1_767_196_800_000  # 2026-01-01T00:00:00+08:00: in the past, after every floor
STEP_MS = 15 * 60 * 1000


def meter_msg(device_id: str, readings: list[tuple[int, dict]], *, units: dict | None = None,
              carrier: str = "electricity", sub_item: str | None = "hvac", building: str = BUILDING) -> dict:
    return {"schema_version": 1, "building_code": building, "device_kind": "meter", "device_id": device_id,
            "carrier": carrier, "sub_item": sub_item if carrier == "electricity" else None,
            "units": units if units is not None else {"register": "kWh", "power": "kW"},
            "readings": [{"ts_ms": ts, "values": v} for ts, v in readings]}


def meter_topic(device_id: str, building: str = BUILDING) -> str:
    return device_topic(building, "meter", device_id)


def gateway(gateway_id: str, messages: list[dict], building: str = BUILDING) -> tuple[str, dict]:
    return gateway_topic(building, gateway_id), {"schema_version": 1, "building_code": building,
                                                 "gateway_id": gateway_id, "messages": messages}


class Publisher:
    """A paho publisher that waits until the broker has every QoS 1 message; to a plain port on
    127.0.0.1, or as ``conn`` says (TLS, credentials)."""

    def __init__(self, port: int | MqttConnection, client_id: str | None = None):
        conn = port if isinstance(port, MqttConnection) else MqttConnection(mqtt_port=port)
        self.c = make_client(conn, client_id or f"pub-{uuid.uuid4().hex[:8]}")
        self.c.max_inflight_messages_set(1000)
        self.c.max_queued_messages_set(0)
        self.c.connect(conn.mqtt_host, conn.mqtt_port)
        self.c.loop_start()
        self._infos = []

    def publish(self, topic: str, payload: dict | list | bytes | str, qos: int = 1) -> None:
        if isinstance(payload, dict | list):
            payload = json.dumps(payload)
        self._infos.append(self.c.publish(topic, payload, qos=qos))

    def wait(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        for i in self._infos:
            while not i.is_published():
                if time.monotonic() > deadline:
                    raise TimeoutError("broker did not confirm all publishes")
                time.sleep(0.01)
        self._infos.clear()

    def close(self) -> None:
        self.wait()
        self.c.disconnect()
        self.c.loop_stop()


class Collector:
    """Subscribes (QoS 1) and keeps every message: the dead-letter topic in the tests."""

    def __init__(self, port: int, topic: str):
        self.messages: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"col-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda *a: self._ready.set()
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(topic, qos=1)
        self.c.loop_start()
        assert self._ready.wait(10), "subscription not confirmed"

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, json.loads(msg.payload)))

    def wait_for(self, n: int, timeout_s: float = 60) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise TimeoutError(f"got {len(self.messages)} of {n} messages")

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def ingest_argv(mqtt_port: int, influx_url: str, db: str, *extra: str, client_id: str | None = None) -> list[str]:
    return [sys.executable, "-m", "ingest", "--mqtt-port", str(mqtt_port), "--influx-url", influx_url,
            "--influx-db", db, "--metrics-port", "0", "--client-id", client_id or f"ingest-{uuid.uuid4().hex[:6]}",
            "--flush-interval-ms", "200", "--retry-max-ms", "1000", *extra]


#: Every ingest subprocess a test started; tests/ingest/conftest.py kills what a failing test left.
STARTED: list[IngestProcess] = []


class IngestProcess:
    """``python -m ingest`` as a real subprocess; logs go to a file for the failure message."""

    def __init__(self, argv: list[str], log_path: Path, pythonpath: tuple[Path, ...] = ()):
        self.argv = argv
        self.log_path = log_path
        self.pythonpath = pythonpath  # before the repository: e.g. a sitecustomize that injects a fault
        self.proc: subprocess.Popen | None = None
        self._subscribed_seen = 0

    def start(self) -> IngestProcess:
        if self.log_path.exists():
            self._subscribed_seen = self.log_path.read_text(errors="replace").count('"msg": "subscribed"')
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (*self.pythonpath, ROOT))}
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        STARTED.append(self)
        return self

    def wait_connected(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ingest exited {self.proc.returncode}:\n{self.log_tail()}")
            if self.log_path.read_text(errors="replace").count('"msg": "subscribed"') > self._subscribed_seen:
                self._subscribed_seen += 1
                return
            time.sleep(0.05)
        raise TimeoutError(f"ingest did not connect:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout_s: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)


def with_metrics(argv: list[str]) -> tuple[list[str], int]:
    """``argv`` with a free metrics port (the later ``--metrics-port`` wins), and that port."""
    from deploy.localservers import free_port

    port = free_port()
    return [*argv, "--metrics-port", str(port)], port


def metric_value(metrics_port: int, name: str) -> float:
    """A sample of ingest's Prometheus endpoint, e.g. ``ep_ingest_written_lines_total``; 0 if absent."""
    import httpx

    try:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


def acked_messages(metrics_port: int) -> float:
    """Messages ingest has acknowledged: written to InfluxDB or dead-lettered, never before."""
    return metric_value(metrics_port, "ep_ingest_acked_messages_total")


def wait_acked(metrics_port: int, messages: int, timeout_s: float = 180) -> None:
    """Wait until ingest has acknowledged ``messages`` messages. Exact where a stored-point count is
    not: a gateway batch is one message carrying many readings."""
    wait_until(lambda: acked_messages(metrics_port) >= messages, timeout_s, f"ingest to ack {messages} messages")


def count_and_sum(influx: InfluxHTTP, measurement: str, field: str) -> tuple[int, float]:
    try:
        rows = influx.query(f'SELECT count("{field}"), sum("{field}") FROM "{measurement}"')
    except InfluxError as e:
        if "database not found" in e.body:
            return 0, 0.0
        raise
    if not rows:
        return 0, 0.0
    _t, n, total = rows[0]["values"][0]
    return int(n), float(total)


def wait_until(check, timeout_s: float, what: str, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise TimeoutError(f"{what}: last value {last!r}")


def worker_pid(service_pid: int) -> int:
    """The worker among the service's children (spawn also starts a resource tracker). Children are
    listed per thread, and a replacement worker is the feeder thread's child (ingest/workerproc.py)."""
    children = [c for task in Path(f"/proc/{service_pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    workers = [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert len(workers) == 1, children
    return workers[0]


def worker_pid_or_none(service_pid: int) -> int | None:
    try:
        return worker_pid(service_pid)
    except (AssertionError, OSError):
        return None
