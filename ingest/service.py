"""The ingest service: MQTT (QoS 1, persistent session, manual ack) -> worker -> InfluxDB.

This process owns the MQTT connection; a worker process (:mod:`ingest.worker`) decodes, checks,
converts, batches and writes, so that paho's network thread and that CPU-heavy work do not share
one interpreter lock. Threads here:

* paho's network thread appends each message, tagged with the connection generation, to a deque;
* the feeder sends what accumulated to the worker in chunks, and replaces an idle worker that kept
  too much memory after a backlog (:meth:`IngestService._replace_worker`);
* the acker (one per worker process) receives "batch written" from the worker, publishes the
  batch's dead letters, waits for the broker's PUBACK, and acknowledges the batch's messages in
  arrival order;
* the stats thread writes ``ingest_stats`` every ``stats_interval_s``.

Push-back: the broker sends at most ``receive_maximum`` unacknowledged messages (MQTT v5), and
nothing is acknowledged before it is written, so a slow or absent InfluxDB stops the flow at the
broker, which queues for our persistent session. Nothing here grows without bound.
"""

from __future__ import annotations

import collections
import logging
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
from ingest.acks import ack_qos1, flush
from ingest.deadletters import confirm_deadletters
from ingest.messages import (
    Ack,
    Commit,
    Deliver,
    Failed,
    Inbound,
    Ready,
    Stats,
    Stopped,
    topic_text,
)
from ingest.metrics import Metrics
from ingest.settings import IngestSettings
from ingest.worker import RELEASE_AFTER_BYTES
from ingest.workerproc import RecyclePolicy, WorkerProcess
from storage.clip import clip
from storage.influx import InfluxError, InfluxHTTP
from storage.lineproto import encode_line

log = logging.getLogger("ingest.service")

STATS_MEASUREMENT = "ingest_stats"
#: Messages per chunk sent to the worker; the feeder also sends whatever arrived within 2 ms. [1]
CHUNK_MESSAGES = 2000
#: Share of the memory budget the messages waiting for the worker may take; above it paho's network
#: thread waits (TCP push-back: the broker keeps the rest). [1]
QUEUE_BUDGET_SHARE = 0.25
#: Longest wait of the network thread for room in the queue: keep-alives must still go out. [s]
QUEUE_WAIT_MAX_S = 5.0
MIB = 1024 * 1024
#: At shutdown, how long the broker may take to confirm it read the last acks, even past the close
#: timeout (ingest/acks.py, ``flush``). [s]
ACK_FLUSH_MIN_S = 2.0


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
        self._threads: list[threading.Thread] = []  # feeder and stats; the acker is per worker
        self._acker: threading.Thread | None = None
        self._metrics_server = None
        self._worker: WorkerProcess | None = None
        self._recycle = RecyclePolicy(settings.worker_recycle_rss_bytes, settings.worker_recycle_min_interval_s)
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

    def _start_worker(self) -> None:
        """Spawn a worker and its acker thread; return once it reported ready."""
        self._worker_ready.clear()
        self._last_snapshot = {}  # a new worker's counters start at 0
        self._worker = w = WorkerProcess(self.s)
        self._acker = threading.Thread(target=self._ack_loop, args=(w,), name="ingest-acker", daemon=True)
        self._acker.start()
        w.wait_ready(self._worker_ready, self.failed)

    def start(self) -> IngestService:
        s = self.s
        if s.metrics_port:
            self._metrics_server = self.metrics.serve(s.metrics_port)
        # Subscribe only once the worker can take messages (and has created the database).
        self._start_worker()
        for name, target in (("feeder", self._feed_loop), ("stats", self._stats_loop)):
            t = threading.Thread(target=target, name=f"ingest-{name}", daemon=True)
            t.start()
            self._threads.append(t)
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
                    self._worker.deliver(data)
                    self._recycle.busy()
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
                    self._worker.stop()
                    return
                rss = self._recycle.due(self._worker, idle=not arrived and self.unacked == 0)
                if rss is not None and not self._replace_worker(rss):
                    return
                time.sleep(0.002)
        except OSError:
            log.error("the worker process is gone")
            self.failed.set()

    def _replace_worker(self, rss_before: int) -> bool:
        """Swap the idle worker for a fresh one (feeder thread); False when the service failed.

        The feeder is the only sender to the worker, so nothing is handed to the old worker after
        its Stop: what arrives meanwhile waits in ``_arrived`` (bounded by the queue budget, as any
        backlog) and goes, in arrival order, to the new one. The old worker writes and commits
        whatever it still holds before its Stopped, and the old acker acks that before it returns:
        no message is lost, acked early or written twice. Interval state: the new worker's register
        cache starts empty and looks up stored neighbours in InfluxDB, as after a crash."""
        t0 = time.monotonic()
        old, old_acker = self._worker, self._acker
        old.stop()
        old_acker.join()  # returns at Stopped (everything acked), or at the worker's death (failed)
        if self.failed.is_set():
            return False
        old.process.join(10)
        if old.process.is_alive():  # everything is committed: nothing of value is left in it
            old.process.kill()
        old.close()
        try:
            self._start_worker()
        except RuntimeError as e:
            log.error("the new worker did not start; exiting so that a supervisor restarts us",
                      extra={"error": str(e)})
            self.failed.set()
            return False
        self._recycle.replaced()
        self.metrics.recycles.inc()
        log.info("worker recycled", extra={"rss_before_mib": round(rss_before / MIB, 1),
                                           "rss_after_mib": round(self._worker.idle_rss_bytes / MIB, 1),
                                           "swap_s": round(time.monotonic() - t0, 2),
                                           "held_messages": len(self._arrived)})
        return True

    # -- acker: worker reports -> dead letters, acks -------------------------------------------

    def _ack_loop(self, worker: WorkerProcess) -> None:
        outbox = worker.outbox
        try:
            while True:
                msg: Commit | Ready | Stats | Stopped | Failed = pickle.loads(outbox.recv_bytes())
                if isinstance(msg, Commit):
                    self._apply(msg.snapshot)
                    confirm_deadletters(self.client, msg.deadletters, self.failed)
                    self._ack(msg.acks)
                elif isinstance(msg, Ready):
                    self._worker_ready.set()
                elif isinstance(msg, Stats):
                    self._apply(msg.snapshot)
                    # Live data the worker keeps on purpose, not what a backlog left (RecyclePolicy).
                    worker.cache_bytes = msg.snapshot.get("cache_bytes", 0)
                    self.metrics.cache_bytes.set(worker.cache_bytes)
                elif isinstance(msg, Stopped):
                    self._apply(msg.snapshot)
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

    def _ack(self, acks: list[Ack]) -> None:
        gen = self._gen
        done = 0
        qos1: list[int] = []
        for m_gen, mid, qos in acks:
            # A message of an earlier connection is redelivered by the broker; its mid now
            # means nothing (or another message), so it must not be acked.
            if m_gen == gen and qos == 1:
                qos1.append(mid)
            elif m_gen == gen and qos > 1:  # not subscribed for; in order all the same
                done += ack_qos1(self.client, qos1)
                qos1 = []
                if self.client.ack(mid, qos) == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    done += 1
            elif qos == 0:
                done += 1
        done += ack_qos1(self.client, qos1)  # one socket write for the batch (ingest/acks.py)
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
        acker = self._acker  # read once the feeder ended: a worker swap in progress replaces it
        threads = [*self._threads, acker] if acker is not None else list(self._threads)
        if acker is not None:
            acker.join(max(0.0, deadline - time.monotonic()))
        if self._worker is not None:
            p = self._worker.process
            if p.is_alive() and any(t.is_alive() for t in threads):
                log.warning("shutdown: pending batches left unacknowledged (the broker redelivers them)")
                p.terminate()
            p.join(5)
        # The last batch's PUBACKs are queued, not yet read by the broker, which drops what it has
        # not read when we disconnect: those messages would come back and be written again.
        if self.client.is_connected() and not flush(self.client, max(ACK_FLUSH_MIN_S, deadline - time.monotonic())):
            log.warning("shutdown: the broker did not confirm reading the last acknowledgements (it may redeliver "
                        "those messages; writing them again stores the same points)")
        self.client.disconnect()
        self.client.loop_stop()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        if self._worker is not None:
            self._worker.close()
        log.info("stopped", extra={"received": self.received, "acked": self.acked})

