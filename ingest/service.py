"""The ingest service: MQTT (QoS 1, persistent session, manual ack) -> worker -> InfluxDB.

This process owns the MQTT connection; a worker process (:mod:`ingest.worker`) decodes, checks,
converts, batches and writes, so that paho's network thread and that CPU-heavy work do not share
one interpreter lock. Threads here:

* paho's network thread appends each message, tagged with the connection generation, to a deque;
* the feeder sends what accumulated to the worker in chunks;
* the acker receives "batch written" from the worker, publishes the batch's dead letters, waits for
  the broker's PUBACK, and acknowledges the batch's messages in arrival order;
* the stats thread writes ``ingest_stats`` every ``stats_interval_s``.

Push-back: the broker sends at most ``receive_maximum`` unacknowledged messages (MQTT v5), and
nothing is acknowledged before it is written, so a slow or absent InfluxDB stops the flow at the
broker, which queues for our persistent session. Nothing here grows without bound.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import pickle
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract.broker import make_client
from ingest import memory
from ingest.messages import (
    Ack,
    Commit,
    Deliver,
    Failed,
    Inbound,
    OutboundDeadLetter,
    Ready,
    Stats,
    Stop,
    Stopped,
    topic_text,
)
from ingest.metrics import Metrics
from ingest.settings import IngestSettings
from ingest.worker import RELEASE_AFTER_BYTES, worker_main
from storage.clip import clip
from storage.influx import InfluxError, InfluxHTTP
from storage.lineproto import encode_line

log = logging.getLogger("ingest.service")

STATS_MEASUREMENT = "ingest_stats"
#: How long to wait for the broker to confirm a dead letter before publishing it again. [s]
DEADLETTER_CONFIRM_S = 30.0
#: Messages per chunk sent to the worker; the feeder also sends whatever arrived within 2 ms. [1]
CHUNK_MESSAGES = 2000
#: How long start() waits for the worker process to report ready. [s]
WORKER_START_S = 60.0
#: Share of the memory budget the messages waiting for the worker may take; above it paho's network
#: thread waits (TCP push-back: the broker keeps the rest). [1]
QUEUE_BUDGET_SHARE = 0.25
#: Longest wait of the network thread for room in the queue: keep-alives must still go out. [s]
QUEUE_WAIT_MAX_S = 5.0


class IngestService:
    """Start with :meth:`start`, stop with :meth:`stop` (flushes, acks what is written)."""

    def __init__(self, settings: IngestSettings):
        self.s = settings
        self.metrics = Metrics()
        self._worker_ready = threading.Event()
        self.failed = threading.Event()  # the worker died or reported a bug: exit and restart
        self._stopping = threading.Event()
        self._gen = 0
        self._arrived: collections.deque[Inbound] = collections.deque()
        # Payload bytes into and out of _arrived, each written by one thread only (no lock needed).
        self._bytes_in = 0  # network thread
        self._bytes_out = 0  # feeder thread
        self._queue_budget = int(settings.memory_budget_mib * 1024 * 1024 * QUEUE_BUDGET_SHARE)
        self._room = threading.Event()
        self._threads: list[threading.Thread] = []
        self._metrics_server = None
        self._worker: multiprocessing.process.BaseProcess | None = None
        self._last_snapshot: dict = {}
        self.client = self._new_client()
        self.newest_written_ms = 0
        self.subscribed = False
        self.received = 0  # written by the network thread only
        self.settled = 0  # messages done with (acked, or left to the broker); acker thread only
        self.acked = 0
        self.connecting_at_s = 0.0

    # -- set-up ------------------------------------------------------------------------------

    def _new_influx(self) -> InfluxHTTP:
        return self.s.influx()

    def _new_client(self) -> mqtt.Client:
        c = make_client(self.s, self.s.client_id, manual_ack=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.reconnect_delay_set(min_delay=1, max_delay=5)
        # Dead letters are few; let many be in flight so that confirming them is quick.
        c.max_inflight_messages_set(1000)
        return c

    def start(self) -> IngestService:
        s = self.s
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
        to_worker_r, to_worker_w = ctx.Pipe(duplex=False)
        from_worker_r, from_worker_w = ctx.Pipe(duplex=False)
        self._worker = ctx.Process(target=worker_main, args=(s, to_worker_r, from_worker_w),
                                   name=f"ingest-worker-{s.client_id}", daemon=True)
        self._worker.start()
        to_worker_r.close()
        from_worker_w.close()
        self._to_worker, self._from_worker = to_worker_w, from_worker_r
        if s.metrics_port:
            self._metrics_server = self.metrics.serve(s.metrics_port)
        for name, target in (("feeder", self._feed_loop), ("acker", self._ack_loop), ("stats", self._stats_loop)):
            t = threading.Thread(target=target, name=f"ingest-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        # Subscribe only once the worker can take messages (and has created the database).
        deadline = time.monotonic() + WORKER_START_S
        while not self._worker_ready.wait(0.05):
            if self.failed.is_set() or not self._worker.is_alive() or time.monotonic() > deadline:
                self._worker.kill()
                raise RuntimeError("the ingest worker process did not start (see its log above); in a script, "
                                   "start the service under `if __name__ == \"__main__\":` (multiprocessing spawn)")
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = s.session_expiry_s
        props.ReceiveMaximum = s.receive_maximum
        self.connecting_at_s = time.perf_counter()  # for the benchmark: throughput from here
        self.client.connect_async(s.mqtt_host, s.mqtt_port, keepalive=s.keepalive_s, clean_start=False,
                                  properties=props)
        self.client.loop_start()
        log.info("started", extra={"client_id": s.client_id, "subscription": s.subscription, "broker": s.url,
                                   "influx_url": s.influx_url, "db": s.influx_db})
        return self

    # -- MQTT callbacks (network thread) -----------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection", extra={"reason": str(reason_code)})
            return
        self._gen += 1
        self.metrics.connected.set(1)
        # Subscribing again is harmless with a present session and needed without one.
        client.subscribe(self.s.subscription, options=SubscribeOptions(qos=1))
        log.info("connected", extra={"generation": self._gen, "session_present": flags.session_present})

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("subscription refused", extra={"reasons": failed, "subscription": self.s.subscription})
        else:
            self.subscribed = True
            log.info("subscribed", extra={"subscription": self.s.subscription})

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.metrics.connected.set(0)
        self.subscribed = False
        if not self._stopping.is_set():
            log.warning("disconnected from the broker, reconnecting", extra={"reason": str(reason_code)})

    def _on_message(self, client, userdata, msg) -> None:
        # Hot path: a deque append is atomic and wakes nobody.
        self.received += 1
        payload = msg.payload
        self._arrived.append(Inbound(self._gen, msg.mid, msg.qos, topic_text(msg._topic), payload,
                                     int(time.time() * 1000), bool(msg.dup)))
        self._bytes_in += len(payload)
        if self._bytes_in - self._bytes_out > self._queue_budget:
            # Memory bound in bytes: stop reading the socket until the worker caught up.
            self._room.clear()
            if self._bytes_in - self._bytes_out > self._queue_budget:
                self._room.wait(QUEUE_WAIT_MAX_S)

    # -- feeder: arrived messages -> worker --------------------------------------------------

    def _feed_loop(self) -> None:
        arrived = self._arrived
        since_release = 0
        # One chunk is pickled whole (a copy) and the pipe holds one: a small share of the budget.
        chunk_bytes = max(1, self._queue_budget // 8)
        try:
            while True:
                stopping = self._stopping.is_set()
                chunk: list[Inbound] = []
                size = 0
                while arrived and len(chunk) < CHUNK_MESSAGES and size < chunk_bytes:
                    m = arrived.popleft()
                    chunk.append(m)
                    size += len(m.payload)
                if chunk:
                    self.metrics.received.inc(len(chunk))
                    data = pickle.dumps(Deliver(chunk), protocol=pickle.HIGHEST_PROTOCOL)
                    del chunk
                    self._to_worker.send_bytes(data)
                    del data
                    self._bytes_out += size
                    since_release += size
                    if self._bytes_in - self._bytes_out <= self._queue_budget:
                        self._room.set()
                    continue
                self._room.set()
                if since_release >= RELEASE_AFTER_BYTES:
                    memory.release()  # a backlog is over: give its memory back
                    since_release = 0
                if stopping:
                    # Messages arriving after this are not handed over: never acked, redelivered.
                    self._to_worker.send_bytes(pickle.dumps(Stop()))
                    return
                time.sleep(0.002)
        except OSError:
            log.error("the worker process is gone")
            self.failed.set()

    # -- acker: worker reports -> dead letters, acks -------------------------------------------

    def _ack_loop(self) -> None:
        try:
            while True:
                msg: Commit | Ready | Stats | Stopped | Failed = pickle.loads(self._from_worker.recv_bytes())
                if isinstance(msg, Commit):
                    self._apply(msg.snapshot)
                    self._confirm_deadletters(msg.deadletters)
                    self._ack(msg.acks)
                elif isinstance(msg, Ready):
                    self._worker_ready.set()
                elif isinstance(msg, Stats):
                    self._apply(msg.snapshot)
                elif isinstance(msg, Stopped):
                    return
                elif isinstance(msg, Failed):
                    log.error("worker failed", extra={"error": msg.error})
                    self.failed.set()
                    return
        except (EOFError, OSError):
            if not self._stopping.is_set():
                log.error("the worker process exited unexpectedly")
            self.failed.set()

    def _apply(self, snap: dict) -> None:
        self.metrics.apply_snapshot(snap, self._last_snapshot)
        self._last_snapshot = snap
        self.newest_written_ms = max(self.newest_written_ms, snap.get("newest_ts_ms", 0))
        self.metrics.lag.set(self.lag_s())

    def _confirm_deadletters(self, deadletters: list[OutboundDeadLetter]) -> None:
        """Publish (QoS 1) and wait for the broker's PUBACK of each; publish again what a lost
        connection swallowed. A dead letter may so arrive twice, never zero times."""
        pending: list[list] = [[t, p, None, 0.0] for t, p in deadletters]  # topic, payload, info, sent at
        while pending:
            now = time.monotonic()
            for item in pending:
                info = item[2]
                if (info is None or info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS
                        or now - item[3] > DEADLETTER_CONFIRM_S) and self.client.is_connected():
                    item[2], item[3] = self.client.publish(item[0], item[1], qos=1), now
            pending = [i for i in pending if not _published(i[2])]
            if pending and self.failed.wait(0.005):
                return

    def _ack(self, acks: list[Ack]) -> None:
        gen = self._gen
        done = 0
        for m_gen, mid, qos in acks:
            # A message of an earlier connection is redelivered by the broker; its mid now
            # means nothing (or another message), so it must not be acked.
            if m_gen == gen and qos > 0:
                if self.client.ack(mid, qos) == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    done += 1
            elif qos == 0:
                done += 1
        self.settled += len(acks)
        self.acked += done
        self.metrics.acked.inc(done)
        self.metrics.queue_depth.set(self.unacked)

    # -- stats -------------------------------------------------------------------------------

    @property
    def unacked(self) -> int:
        """Messages received and not yet settled: the queue depth."""
        return self.received - self.settled

    def lag_s(self) -> float:
        return max(0.0, time.time() - self.newest_written_ms / 1000) if self.newest_written_ms else 0.0

    def stats_line(self, now_ms: int) -> str:
        m = self.metrics
        return encode_line(STATS_MEASUREMENT, {"client_id": self.s.client_id}, {
            "received": int(self.received), "written": int(m.written._value.get()),
            "rejected": int(m.rejected_total()), "queue_depth": int(self.unacked), "lag_s": float(self.lag_s()),
        }, now_ms)

    def _stats_loop(self) -> None:
        influx = self._new_influx()
        try:
            while not self._stopping.wait(self.s.stats_interval_s):
                self.metrics.queue_depth.set(self.unacked)
                self.metrics.lag.set(self.lag_s())
                try:
                    influx.write_lines([self.stats_line(int(time.time() * 1000))])
                except InfluxError as e:  # stats are a view, not data: skip a beat
                    log.debug("stats write failed", extra={"error": clip(e)})
        finally:
            influx.close()

    # -- shutdown ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Flush the open batch, write and ack what can be written within ``close_timeout_s``."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        deadline = time.monotonic() + self.s.close_timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._worker is not None:
            if self._worker.is_alive() and any(t.is_alive() for t in self._threads):
                log.warning("shutdown: pending batches left unacknowledged (the broker redelivers them)")
                self._worker.terminate()
            self._worker.join(5)
        self.client.disconnect()
        self.client.loop_stop()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        for conn in (self._to_worker, self._from_worker):
            conn.close()
        log.info("stopped", extra={"received": self.received, "acked": self.acked})


def _published(info: mqtt.MQTTMessageInfo | None) -> bool:
    if info is None or info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        return False  # never sent (no connection): is_published() would raise
    return info.is_published()
