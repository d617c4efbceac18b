"""End-to-end ingest throughput, MQTT -> InfluxDB, beside a ceiling and a naive pipeline.

Run: ``python -m bench.ingest_throughput`` (about 2.5 minutes). Starts its own Mosquitto and
InfluxDB under ``var/bench/``. For each message shape (1 reading per message; a gateway batch of
50 device messages with 1 reading each) the same messages are first queued at the broker for a
persistent session, then drained by:

* ceiling (a): a minimal paho subscriber, QoS 1, auto-ack, no parsing (and ``mosquitto_sub``);
* ingest: :class:`ingest.service.IngestService`, QoS 1, ack after the InfluxDB write;
* naive (b): paho, QoS 1, per message: decode, convert, one ``/write``, then ack;
* InfluxDB's own rate for the lines ingest writes for the same messages, pre-encoded, posted in
  5000-line batches by 1 writer (ingest's count) and by 2 (bench/ingest_ceiling.py).

Rates are readings (InfluxDB: points, one per reading) per second from the moment the consumer
connects until the last message is handled (ingest: acknowledged after its write). Results are printed as Markdown.

``--tls`` measures the cost of MQTT over TLS instead: the broker gets a TLS listener beside the
plain one (the platform CA's certificate, deploy/tls.py), and the paho ceiling and ingest drain the
same queued messages over each, interleaved, in one run (about 1.5 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.ingest_ceiling import INGEST_WRITERS, encoded_bodies, post_rate
from contract.broker import MqttConnection, make_client
from contract.payloads import DeviceMessage, decode
from contract.topics import INGEST_FILTER, device_topic, gateway_topic
from deploy.localservers import Influxd, Mosquitto
from deploy.tls import ensure_server_cert
from ingest.service import IngestService
from ingest.settings import IngestSettings
from ingest.transform import Transformer
from storage.influx import InfluxHTTP
from storage.lineproto import format_fields

ROOT = Path(__file__).resolve().parents[1]
T0_MS = 1_767_196_800_000
BUILDINGS = 20


def make_messages(n_readings: int, per_message: int) -> list[tuple[str, bytes]]:
    """``n_readings`` meter readings as device messages (per_message=1) or gateway batches."""
    out = []
    devices_per_building = 50
    k = 0
    while k < n_readings:
        b = f"510402A{(k // devices_per_building) % BUILDINGS:03d}"
        msgs = []
        for _ in range(per_message):
            d = k % devices_per_building
            step = k // (devices_per_building * BUILDINGS)
            msgs.append({"schema_version": 1, "building_code": b, "device_kind": "meter", "device_id": f"E-{d:02d}",
                         "carrier": "electricity", "sub_item": "hvac", "units": {"register": "kWh", "power": "kW"},
                         "readings": [{"ts_ms": T0_MS + step * 900_000,
                                       "values": {"register": 1000.0 + step * 1.25, "power": 5.0}}]})
            k += 1
        if per_message == 1:
            out.append((device_topic(b, "meter", msgs[0]["device_id"]), json.dumps(msgs[0]).encode()))
        else:
            out.append((gateway_topic(b, "GW1"), json.dumps({"schema_version": 1, "building_code": b,
                                                             "gateway_id": "GW1", "messages": msgs}).encode()))
    return out


def _client(port: int | MqttConnection, client_id: str, manual_ack: bool, receive_max: int = 20_000) -> mqtt.Client:
    c = make_client(_conn(port), client_id, manual_ack=manual_ack)
    c._bench_props = Properties(PacketTypes.CONNECT)  # type: ignore[attr-defined]
    c._bench_props.SessionExpiryInterval = 3600  # type: ignore[attr-defined]
    c._bench_props.ReceiveMaximum = receive_max  # type: ignore[attr-defined]
    return c


def _conn(port: int | MqttConnection) -> MqttConnection:
    return port if isinstance(port, MqttConnection) else MqttConnection(mqtt_port=port)


def prepare_session(port: int, client_id: str, topic_filter: str) -> None:
    """Create a persistent session with a subscription, then leave: the broker queues for it."""
    c = _client(port, client_id, False)
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.connect("127.0.0.1", port, clean_start=True, properties=c._bench_props)  # type: ignore[attr-defined]
    c.subscribe(topic_filter, qos=1)
    c.loop_start()
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bpub-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    # In chunks: paho's outgoing queue costs O(queued) per acknowledgement.
    for start in range(0, len(messages), 1000):
        infos = [c.publish(t, p, qos=1) for t, p in messages[start:start + 1000]]
        for i in infos:
            while not i.is_published():
                time.sleep(0.001)
    c.disconnect()
    c.loop_stop()


def _timed_drain(c, port: int | MqttConnection, done: threading.Event) -> float:
    """Seconds from connecting ``c`` (resuming its queued session) until ``done`` is set; the TLS
    handshake, when there is one, is inside the time."""
    conn = _conn(port)
    t0 = time.perf_counter()
    c.connect(conn.mqtt_host, conn.mqtt_port, clean_start=False, properties=c._bench_props)  # type: ignore[attr-defined]
    c.loop_start()
    done.wait(600)
    dt = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return dt


def drain_paho(port: int | MqttConnection, client_id: str, n_messages: int) -> float:
    """Ceiling: seconds for a minimal paho subscriber (QoS 1, auto-ack) to take the queue."""
    got = 0
    done = threading.Event()

    def on_message(cl, u, m):
        nonlocal got
        got += 1
        if got >= n_messages:
            done.set()

    c = _client(port, client_id, False)
    c.on_message = on_message
    return _timed_drain(c, port, done)


def drain_mosquitto_sub(port: int, client_id: str, n_messages: int) -> float | None:
    exe = shutil.which("mosquitto_sub")
    if not exe:
        return None
    t0 = time.perf_counter()
    subprocess.run([exe, "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-i", client_id, "-c", "-q", "1",
                    "-t", INGEST_FILTER, "-C", str(n_messages), "-x", "3600"], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def drain_ingest(port: int | MqttConnection, influx_url: str, db: str, client_id: str, n_messages: int) -> float:
    """Seconds for IngestService to drain ``n_messages`` queued messages."""
    return drain_ingest_counted(port, influx_url, db, client_id, n_messages)[0]


def drain_ingest_counted(port: int | MqttConnection, influx_url: str, db: str, client_id: str, n_messages: int,
                         **settings) -> tuple[float, dict]:
    """As :func:`drain_ingest`, with the service's counters at the end (``lookups``, ``evictions``,
    ...); ``settings``: other IngestSettings fields (e.g. ``register_cache_mib``)."""
    s = IngestSettings(**_conn(port).model_dump(), influx_url=influx_url, influx_db=db, client_id=client_id,
                       share_group="", metrics_port=0, session_expiry_s=3600, **settings)
    svc = IngestService(s)
    svc.start()  # spawns the worker process, then connects
    while svc.acked < n_messages:
        time.sleep(0.01)
    # From the MQTT connect, as for the other consumers: the worker's start-up is a one-off.
    dt = time.perf_counter() - svc.connecting_at_s
    svc.stop()
    return dt, svc.metrics.snapshot()


def drain_naive(port: int, influx_url: str, db: str, client_id: str, n_messages: int) -> float:
    """Naive pipeline: each message decoded, converted and written on its own, then acked."""
    http = httpx.Client(base_url=influx_url)
    tr = Transformer()
    got = 0
    done = threading.Event()

    def on_message(cl, u, m):
        nonlocal got
        _addr, parts = decode(m.topic, m.payload)
        lines = []
        for part in parts:
            if isinstance(part, DeviceMessage):
                points, _ = tr.points(part)
                lines += [f"{p.series} {format_fields(p.fields)} {p.ts_ms}" for p in points]
        r = http.post("/write", params={"db": db, "precision": "ms"}, content="\n".join(lines).encode())
        r.raise_for_status()
        cl.ack(m.mid, m.qos)
        got += 1
        if got >= n_messages:
            done.set()

    c = _client(port, client_id, True)
    c.on_message = on_message
    try:
        return _timed_drain(c, port, done)
    finally:
        http.close()


def _broker_cpu_s(mq: Mosquitto) -> float:
    """CPU seconds (user + system) the broker process has used so far."""
    fields = Path(f"/proc/{mq.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime [ticks]


def _measure(name: str, mq: Mosquitto, ix: Influxd, batch: list[tuple[str, bytes]], per_message: int,
             tls: bool = False, cpu: dict | None = None) -> float:
    """Readings per second of one consumer draining ``batch`` from its persistent session (paho and
    ingest: over the broker's TLS listener when ``tls``; the messages are queued in plain MQTT).
    With ``cpu``, also the CPU microseconds per reading of the drain: the broker's (``broker_us``)
    and, for paho, this process's (``client_us``; ingest's worker start-up would swamp its own),
    which a loaded machine disturbs far less than the wall-clock rate."""
    drain_from = mq.connection() if tls else mq.port
    if name == "mosquitto_sub" and not shutil.which("mosquitto_sub"):
        return float("nan")
    cid = f"b-{name}-{uuid.uuid4().hex[:6]}"
    db = f"bench_{uuid.uuid4().hex[:6]}"
    if name in ("ingest", "naive"):
        InfluxHTTP(ix.url, db).create_database()
    prepare_session(mq.port, cid, INGEST_FILTER)
    publish_all(mq.port, batch)
    broker0, client0 = _broker_cpu_s(mq), time.process_time()
    if name == "paho":
        dt = drain_paho(drain_from, cid, len(batch))
    elif name == "mosquitto_sub":
        dt = drain_mosquitto_sub(mq.port, cid, len(batch))
    elif name == "ingest":
        dt = drain_ingest(drain_from, ix.url, db, cid, len(batch))
        stored = InfluxHTTP(ix.url, db).query("SELECT count(register_kwh) FROM meter")
        assert stored[0]["values"][0][1] == len(batch) * per_message, "ingest lost readings"
    else:
        dt = drain_naive(mq.port, ix.url, db, cid, len(batch))
    readings = len(batch) * per_message
    if cpu is not None:
        cpu["broker_us"] = (_broker_cpu_s(mq) - broker0) / readings * 1e6
        cpu["client_us"] = (time.process_time() - client0) / readings * 1e6 if name == "paho" else float("nan")
    rate = readings / dt
    print(f"  {per_message:>2} readings/msg {name:>13}{' TLS' if tls else ''}: {len(batch):>7} msgs in {dt:6.2f} s = "
          f"{rate:>10,.0f} readings/s", flush=True)
    return rate


def run(n_readings: int, naive_messages: int, rounds: int) -> str:
    """Each consumer ``rounds`` times, interleaved, best rate kept: the machine is shared, and the
    best of a few runs is the one least disturbed by others."""
    state = ROOT / "var" / "bench" / f"ingest-{uuid.uuid4().hex[:6]}"
    mq = Mosquitto(state / "mosquitto").start()
    ix = Influxd(state / "influxdb").start()
    rows = []
    try:
        for per_message in (1, 50):
            msgs = make_messages(n_readings, per_message)
            naive_msgs = msgs[:naive_messages]
            size = sum(len(p) for _, p in msgs) / len(msgs)
            bodies = encoded_bodies(msgs)  # before any clock runs
            res: dict[str, float] = {}
            for _ in range(rounds):
                for name in ("paho", "mosquitto_sub", "ingest", "naive"):
                    rate = _measure(name, mq, ix, naive_msgs if name == "naive" else msgs, per_message)
                    res[name] = max(res.get(name, 0.0), rate)
                for writers in sorted({1, INGEST_WRITERS, 2}):
                    rate, points = post_rate(ix.url, bodies, writers)
                    assert points == len(msgs) * per_message, "ingest's lines are not one per reading"
                    print(f"  {per_message:>2} readings/msg InfluxDB x{writers}: {points} points, {rate:,.0f} points/s",
                          flush=True)
                    res[f"influx{writers}"] = max(res.get(f"influx{writers}", 0.0), rate)
            rows.append((per_message, size, len(msgs), res))
    finally:
        mq.stop()
        ix.stop()
        shutil.rmtree(state, ignore_errors=True)
    out = ["| readings/msg | bytes/msg | messages | ceiling: paho [readings/s] | mosquitto_sub [readings/s] | "
           "ingest [readings/s] | naive [readings/s] | InfluxDB 1 writer [points/s] | InfluxDB 2 writers [points/s] | "
           "ingest / paho ceiling | ingest / naive | ingest / InfluxDB (1 writer) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for per_message, size, n, r in rows:
        out.append(f"| {per_message} | {size:.0f} | {n} | {r['paho']:,.0f} | {r['mosquitto_sub']:,.0f} | "
                   f"{r['ingest']:,.0f} | {r['naive']:,.0f} | {r['influx1']:,.0f} | {r['influx2']:,.0f} | "
                   f"{r['ingest'] / r['paho']:.2f} | {r['ingest'] / r['naive']:.1f} | "
                   f"{r['ingest'] / r[f'influx{INGEST_WRITERS}']:.2f} |")
    return "\n".join(out)


def run_tls(n_readings: int, rounds: int) -> str:
    """The paho ceiling and ingest, each over plain MQTT and over TLS, interleaved; best of ``rounds``
    (an even number keeps the order balanced)."""
    state = ROOT / "var" / "bench" / f"ingest-tls-{uuid.uuid4().hex[:6]}"
    mq = Mosquitto(state / "mosquitto", tls=ensure_server_cert(state / "ca")).start()
    ix = Influxd(state / "influxdb").start()
    rows = []
    try:
        for per_message in (1, 50):
            msgs = make_messages(n_readings, per_message)
            res: dict[tuple[str, bool], float] = {}
            cpu: dict[tuple[str, bool], list[dict]] = {}
            for r in range(rounds):
                for name in ("paho", "ingest"):
                    # Plain first in even rounds, TLS first in odd ones: neither gains from going second.
                    for tls in ((False, True) if r % 2 == 0 else (True, False)):
                        used: dict = {}
                        rate = _measure(name, mq, ix, msgs, per_message, tls=tls, cpu=used)
                        res[name, tls] = max(res.get((name, tls), 0.0), rate)
                        cpu.setdefault((name, tls), []).append(used)
                        print(f"      CPU: broker {used['broker_us']:.1f} us/reading, client "
                              f"{used['client_us']:.1f} us/reading", flush=True)
            rows.append((per_message, len(msgs), res, cpu))
    finally:
        mq.stop()
        ix.stop()
        shutil.rmtree(state, ignore_errors=True)
    out = ["| readings/msg | messages | paho plain [readings/s] | paho TLS [readings/s] | ingest plain [readings/s] "
           "| ingest TLS [readings/s] | paho TLS / plain | ingest TLS / plain |", "|---|---|---|---|---|---|---|---|"]
    for per_message, n, r, _ in rows:
        out.append(f"| {per_message} | {n} | {r['paho', False]:,.0f} | {r['paho', True]:,.0f} | "
                   f"{r['ingest', False]:,.0f} | {r['ingest', True]:,.0f} | "
                   f"{r['paho', True] / r['paho', False]:.2f} | {r['ingest', True] / r['ingest', False]:.2f} |")
    # CPU per reading: the median of the rounds (least disturbed by the odd outlier).
    out += ["", "| readings/msg | consumer | broker CPU plain [us/reading] | broker CPU TLS [us/reading] | "
            "client CPU plain [us/reading] | client CPU TLS [us/reading] |", "|---|---|---|---|---|---|"]
    for per_message, _, _, cpu in rows:
        for name in ("paho", "ingest"):
            med = {(tls, k): statistics.median(c[k] for c in cpu[name, tls]) for tls in (False, True)
                   for k in ("broker_us", "client_us")}
            out.append(f"| {per_message} | {name} | {med[False, 'broker_us']:.1f} | {med[True, 'broker_us']:.1f} | "
                       f"{med[False, 'client_us']:.1f} | {med[True, 'client_us']:.1f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=40_000, help="readings per message shape")
    ap.add_argument("--naive-messages", type=int, default=1_000,
                    help="messages for the (slow) naive pipeline: the first of the same list")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each consumer; the best is kept")
    ap.add_argument("--tls", action="store_true", help="paho and ingest over plain MQTT vs over TLS, side by side")
    args = ap.parse_args()
    print(run_tls(args.readings, args.rounds) if args.tls else run(args.readings, args.naive_messages, args.rounds))


if __name__ == "__main__":
    main()
