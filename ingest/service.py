"""The ingest service: MQTT (QoS 1, persistent session, manual ack) -> batches -> InfluxDB.

Threads:

* paho's network thread puts each message, tagged with the connection generation, on the inbox;
* the processor decodes, checks, converts and batches (:mod:`ingest.pipeline`);
* the writer stores a batch (:mod:`ingest.writer`), publishes its dead letters and waits for the
  broker to confirm them, then acknowledges the batch's messages in arrival order;
* a stats thread writes ``ingest_stats`` every ``stats_interval_s``.

Push-back: the broker sends at most ``receive_maximum`` unacknowledged messages (MQTT v5), and
nothing is acknowledged before it is written, so a slow or absent InfluxDB stops the flow at the
broker, which queues for our persistent session. The inbox and batch queue never overflow.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.influx import InfluxError, InfluxHTTP
from ingest.intervals import RegisterTracker
from ingest.lineproto import encode_line
from ingest.lookup import InfluxLookup
from ingest.metrics import Metrics
from ingest.pipeline import WRITE_REJECTED, Batch, BatchBuilder, DeadLetter, Inbound
from ingest.settings import IngestSettings
from ingest.transform import TimeRules, installed_on_ms
from ingest.writer import Aborted, Writer

log = logging.getLogger("ingest.service")

STATS_MEASUREMENT = "ingest_stats"
_STOP = object()

#: How long to wait for the broker to confirm a dead letter before publishing it again. [s]
DEADLETTER_CONFIRM_S = 30.0


class IngestService:
    """Start with :meth:`start`, stop with :meth:`stop` (flushes, acks what is written)."""

    def __init__(self, settings: IngestSettings):
        self.s = settings
        self.metrics = Metrics()
        self._abort = threading.Event()  # shutdown gave up waiting: leave the rest to the broker
        self._stopping = threading.Event()
        self._gen = 0
        self._gen_lock = threading.Lock()
        self._writer_busy = False
        self._inbox: queue.Queue = queue.Queue(maxsize=2 * settings.receive_maximum + 100)
        self._batches: queue.Queue = queue.Queue(maxsize=2)
        self._influx = self._new_influx()
        rules = TimeRules(future_tolerance_ms=int(settings.future_tolerance_s * 1000),
                          floor_ms=settings.ts_floor_ms, installed_ms=self._installed())
        self._lookup = InfluxLookup(self._new_influx(), self._abort, initial_ms=settings.retry_initial_ms,
                                    max_ms=settings.retry_max_ms, on_retry=self.metrics.retries.inc)
        self.tracker = RegisterTracker(self._lookup, max_points=settings.register_cache_points)
        self._builder = BatchBuilder(rules=rules, tracker=self.tracker, metrics=self.metrics,
                                     client_id=settings.client_id)
        self._writer = Writer(self._influx, self.metrics, initial_ms=settings.retry_initial_ms,
                              max_ms=settings.retry_max_ms, abort=self._abort)
        self._threads: list[threading.Thread] = []
        self._metrics_server = None
        self.client = self._new_client()
        self.newest_written_ms = 0
        self.subscribed = False
        self.received = 0  # written by the network thread only
        self.settled = 0  # messages done with (acked, or left to the broker); writer thread only
        self.acked = 0

    # -- set-up ------------------------------------------------------------------------------

    def _new_influx(self) -> InfluxHTTP:
        s = self.s
        return InfluxHTTP(s.influx_url, s.influx_db, s.influx_rp, s.influx_username, s.influx_password,
                          s.influx_token)

    def _installed(self) -> dict[tuple[str, str], int] | None:
        if self.s.fleet_file is None:
            return None
        from registry.fleet import Fleet

        fleet = Fleet.load(self.s.fleet_file)
        return {k: installed_on_ms(d) for k, d in fleet.device_installed_on().items()}

    def _new_client(self) -> mqtt.Client:
        s = self.s
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=mqtt.MQTTv5,
                        manual_ack=True)
        if s.mqtt_username:
            c.username_pw_set(s.mqtt_username, s.mqtt_password)
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
        try:
            self._influx.create_database()
        except InfluxError as e:  # the writer creates it when InfluxDB comes up
            log.warning("could not create the database yet", extra={"error": str(e)[:300]})
        if s.metrics_port:
            self._metrics_server = self.metrics.serve(s.metrics_port)
        for name, target in (("processor", self._process_loop), ("writer", self._write_loop),
                             ("stats", self._stats_loop)):
            t = threading.Thread(target=target, name=f"ingest-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = s.session_expiry_s
        props.ReceiveMaximum = s.receive_maximum
        self.client.connect_async(s.mqtt_host, s.mqtt_port, keepalive=s.keepalive_s, clean_start=False,
                                  properties=props)
        self.client.loop_start()
        log.info("started", extra={"client_id": s.client_id, "subscription": s.subscription,
                                   "influx_url": s.influx_url, "db": s.influx_db})
        return self

    # -- MQTT callbacks (network thread) -----------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection", extra={"reason": str(reason_code)})
            return
        with self._gen_lock:
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
        # Hot path: only the network thread counts here; metrics are updated per batch.
        self.received += 1
        self._inbox.put(Inbound(self._gen, msg.mid, msg.qos, msg.topic, msg.payload, int(time.time() * 1000)))

    # -- processor thread --------------------------------------------------------------------

    def _process_loop(self) -> None:
        s = self.s
        flush_s = s.flush_interval_ms / 1000
        idle_seal_s = min(flush_s, s.idle_seal_ms / 1000)
        b = self._builder
        try:
            while True:
                # With a batch open, poll briefly: an idle writer takes it at once (below).
                wait = min(0.01, max(0.0, b.batch.opened_s + flush_s - time.monotonic())) \
                    if b.batch.messages else 0.2
                try:
                    m = self._inbox.get(timeout=wait)
                except queue.Empty:
                    m = None
                if m is _STOP:
                    if b.batch.messages:
                        self._hand_over(b)
                    break
                if m is not None:
                    if not b.batch.messages:
                        b.batch.opened_s = time.monotonic()
                    b.add(m)
                if not b.batch.messages:
                    continue
                # Size and age bound a batch; besides, when nothing waits in the inbox and the
                # writer is idle, waiting longer would only add latency, not throughput.
                age_s = time.monotonic() - b.batch.opened_s
                if (len(b.batch) >= s.batch_size_lines or age_s >= flush_s
                        or (age_s >= idle_seal_s and self._inbox.empty() and not self._writer_busy
                            and self._batches.empty())):
                    self._hand_over(b)
        except Aborted:
            pass
        except Exception:  # a bug must not look like a healthy service that silently stopped
            log.exception("processor failed; stopping")
            self._abort.set()
        finally:
            self._batches.put(_STOP)

    def _hand_over(self, b: BatchBuilder) -> None:
        n = len(b.batch.messages)
        readings = b.batch.readings
        self._batches.put(b.seal())
        self.metrics.received.inc(n)
        self.metrics.readings.inc(readings)

    # -- writer thread -----------------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            while True:
                batch = self._batches.get()
                if batch is _STOP:
                    break
                self._writer_busy = True
                try:
                    self._commit(batch)
                finally:
                    self._writer_busy = False
        except Aborted:
            log.warning("shutdown: pending batches left unacknowledged (the broker redelivers them)")
        except Exception:
            log.exception("writer failed; stopping")
            self._abort.set()

    def _commit(self, batch: Batch) -> None:
        refused = self._writer.write(batch.lines)
        for index, error in refused:
            origin = batch.line_origin[index]
            m = batch.messages[origin] if origin >= 0 else None
            dl = DeadLetter(WRITE_REJECTED, f"InfluxDB refused line {batch.lines[index][:300]!r}: {error}",
                            m.topic if m else "", m.payload if m else batch.lines[index].encode(),
                            m.received_ms if m else int(time.time() * 1000))
            batch.deadletters.append(dl)
            self.metrics.rejected.labels(WRITE_REJECTED).inc()
            log.warning("line refused by InfluxDB", extra={"error": error[:300]})
        if refused:
            # Best effort bookkeeping of the refused lines; their dead letters below are what counts.
            self._writer.write([self._builder.deadletter_line(d) for d in batch.deadletters[-len(refused):]])
        self._confirm_deadletters(batch.deadletters)
        self._ack(batch.messages)
        if batch.newest_ts_ms > self.newest_written_ms:
            self.newest_written_ms = batch.newest_ts_ms
        self.metrics.lag.set(self.lag_s())

    def _confirm_deadletters(self, deadletters: list[DeadLetter]) -> None:
        pending = [(dl, self.client.publish(dl.topic_out, dl.to_json(), qos=1)) for dl in deadletters]
        while pending:
            deadline = time.monotonic() + DEADLETTER_CONFIRM_S
            while time.monotonic() < deadline and not all(i.is_published() for _, i in pending):
                if self._abort.wait(0.005):
                    raise Aborted()
            # Not confirmed in time (e.g. the publish failed while disconnected): publish again.
            pending = [(dl, self.client.publish(dl.topic_out, dl.to_json(), qos=1))
                       for dl, i in pending if not i.is_published()]

    def _ack(self, messages: list[Inbound]) -> None:
        gen = self._gen
        done = 0
        for m in messages:
            # A message of an earlier connection is redelivered by the broker; its mid now
            # means nothing (or another message), so it must not be acked.
            if m.gen == gen and m.qos > 0:
                rc = self.client.ack(m.mid, m.qos)
                if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    done += 1
            elif m.qos == 0:
                done += 1
        self.settled += len(messages)
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
            "received": int(m.received._value.get()), "written": int(m.written._value.get()),
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
                    log.debug("stats write failed", extra={"error": str(e)[:200]})
        finally:
            influx.close()

    # -- shutdown ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Flush the open batch, write and ack what can be written within ``close_timeout_s``."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        deadline = time.monotonic() + self.s.close_timeout_s
        try:
            self._inbox.put(_STOP, timeout=self.s.close_timeout_s)
        except queue.Full:
            self._abort.set()
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            self._abort.set()
            for t in self._threads:
                t.join(5)
        self.client.disconnect()
        self.client.loop_stop()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        self._influx.close()
        log.info("stopped", extra={"received": self.received, "acked": self.acked})
