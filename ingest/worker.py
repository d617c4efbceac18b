"""The worker process: decode, check, convert, batch and write (everything but MQTT).

The MQTT connection lives in the parent (:mod:`ingest.service`), whose network thread would
otherwise share one interpreter lock with this CPU-heavy work; in its own process it runs on the
other core. Protocol over two one-way pipes: the typed records of :mod:`ingest.messages`, pickled.

parent -> worker
    ``Deliver([Inbound, ...])`` in arrival order; ``Stop()``.
worker -> parent
    ``Commit(acks, deadletters, snapshot)`` once a batch is written: the parent publishes the dead
    letters, waits for the broker, then acks in order; ``Ready()`` once started (and the database
    created, if InfluxDB answered); ``Stats(snapshot)`` every second; ``Stopped(snapshot)`` at the end;
    ``Failed(text)`` on a bug.

Memory: a batch is sealed at ``batch_size_lines`` or when its messages' payloads reach a share of
the memory budget (:data:`BUDGET_SHARE`); after a backlog the freed memory is returned.
Redelivered messages (MQTT DUP) are handled one at a time with a delivery count on disk
(:mod:`ingest.deliveries`), so that a message that kills the worker is dead-lettered
(``poison_message``) after a bounded number of deliveries.

The worker exits when the parent's pipe closes (the parent crashed): unacknowledged messages are
the broker's to redeliver.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import signal
import threading
import time
from multiprocessing.connection import Connection

from contract.plausibility import Limits
from ingest import memory
from ingest.deliveries import GROUP_MESSAGES, DeliveryLog, Verdict, default_dir
from ingest.findings import FindingRules
from ingest.intervals import RegisterTracker
from ingest.lookup import InfluxLookup
from ingest.messages import Ack, Commit, Deliver, Failed, Inbound, OutboundDeadLetter, Ready, Stats, Stop, Stopped
from ingest.metrics import Metrics
from ingest.pipeline import POISON_MESSAGE, WRITE_REJECTED, Batch, BatchBuilder, DeadLetter
from ingest.registry_check import FleetIndex, RegistryCheck, UnknownDevices
from ingest.settings import IngestSettings
from ingest.transform import TimeRules, Transformer
from ingest.writer import Writer
from storage import logs
from storage.clip import clip
from storage.influx import InfluxError
from storage.retry import Aborted

log = logging.getLogger("ingest.worker")
_STOP = object()
#: Share of the memory budget one batch's payloads may take before it is sealed. Up to four
#: batches live at once (open, two sealed waiting, one being written), and their decoded points
#: and lines take ~8x the JSON they came from (measured: tests/ingest/test_memory.py). [1]
BUDGET_SHARE = 1 / 40
#: After this much payload since the last release, an idle worker returns free memory. [B]
RELEASE_AFTER_BYTES = 8 * 1024 * 1024


def fleet_index(settings: IngestSettings) -> FleetIndex | None:
    if settings.fleet_file is None:
        return None
    from registry.fleet import Fleet

    return FleetIndex.from_fleet(Fleet.load(settings.fleet_file))


class Worker:
    def __init__(self, s: IngestSettings, inbox: Connection, outbox: Connection):
        self.s = s
        self._in = inbox
        self._out = outbox
        self._out_lock = threading.Lock()
        self.metrics = Metrics()
        self._abort = threading.Event()
        self._batches: queue.Queue = queue.Queue(maxsize=2)
        self._writer_busy = False
        self._influx = s.influx()
        self._lookup = InfluxLookup(s.influx(), self._abort, initial_ms=s.retry_initial_ms, max_ms=s.retry_max_ms,
                                    on_retry=self.metrics.retries.inc)
        self.tracker = RegisterTracker(self._lookup_written, max_points=s.register_cache_points,
                                       max_bytes=s.register_cache_mib * 1024 * 1024)
        fleet = fleet_index(s)
        rules = TimeRules(future_tolerance_ms=int(s.future_tolerance_s * 1000), floor_ms=s.ts_floor_ms,
                          installed_ms=fleet.installed_ms if fleet else None)
        self._builder = BatchBuilder(
            rules=rules, tracker=self.tracker, metrics=self.metrics, client_id=s.client_id,
            transformer=Transformer(Limits(s.plausible_limits), fleet.rated_kw if fleet else None,
                                    fleet.replaced_ms if fleet else None),
            registry=RegistryCheck(fleet, UnknownDevices(s.unknown_devices)) if fleet else None,
            finding_rules=FindingRules(gap_s=s.gap_s, stuck_s=s.stuck_s, clock_skew_s=s.clock_skew_s))
        self.deliveries = DeliveryLog(s.delivery_state_dir or default_dir(s.client_id))
        self._batch_bytes = int(s.memory_budget_mib * 1024 * 1024 * BUDGET_SHARE)
        self._since_release = 0
        self._writer = Writer(self._influx, self.metrics, initial_ms=s.retry_initial_ms, max_ms=s.retry_max_ms,
                              abort=self._abort)
        self.newest_ts_ms = 0

    def send(self, obj: Ready | Commit | Stats | Stopped | Failed) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        with self._out_lock:
            self._out.send_bytes(data)

    def snapshot(self) -> dict:
        return {**self.metrics.snapshot(), "newest_ts_ms": self.newest_ts_ms,
                "cache_bytes": self.tracker.cache_bytes}

    def run(self) -> None:
        try:
            self._influx.create_database()
        except InfluxError as e:  # the writer creates it when InfluxDB comes up
            log.warning("could not create the database yet", extra={"error": clip(e)})
        self.send(Ready())
        writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        writer.start()
        stats = threading.Thread(target=self._stats_loop, name="ingest-worker-stats", daemon=True)
        stats.start()
        self._process_loop()
        writer.join()
        if not self._abort.is_set():
            self.send(Stopped(self.snapshot()))

    # -- processor: the main thread of the worker ---------------------------------------------

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
                msg: Deliver | Stop | None = pickle.loads(self._in.recv_bytes()) if self._in.poll(wait) else None
                if isinstance(msg, Stop):
                    if b.batch.messages:
                        self._batches.put(b.seal())
                    break
                if msg is not None:
                    for m in msg.messages:
                        if m.dup:
                            self._redelivered(b, m)
                            continue
                        if not b.batch.messages:
                            b.batch.opened_s = time.monotonic()
                        b.add(m)
                        self._since_release += len(m.payload)
                        if len(b.batch) >= s.batch_size_lines or b.batch.payload_bytes >= self._batch_bytes:
                            self._seal(b)
                if not b.batch.messages:
                    if msg is None and self._since_release >= RELEASE_AFTER_BYTES and self._batches.empty() \
                            and not self._writer_busy:
                        memory.release()  # a backlog is over: give its memory back
                        self._since_release = 0
                    continue
                # Size and age bound a batch; besides, when nothing waits and the writer is idle,
                # waiting longer would only add latency, not throughput.
                age_s = time.monotonic() - b.batch.opened_s
                if age_s >= flush_s or (age_s >= idle_seal_s and not self._writer_busy and self._batches.empty()
                                        and not self._in.poll(0)):
                    self._seal(b)
        except (EOFError, OSError):
            log.error("the parent process is gone; exiting without acknowledging anything")
            os._exit(3)
        except Aborted:
            pass
        except Exception as e:  # a bug must not look like a healthy service that silently stopped
            log.exception("processor failed")
            self._fail(e)
        finally:
            self._batches.put(_STOP)

    def _redelivered(self, b: BatchBuilder, m: Inbound) -> None:
        """A message the broker delivered before (DUP): counted on disk before it is handled, in a
        group or alone, so that one that kills the worker is found out (ingest/deliveries.py)."""
        key = self.deliveries.key(m)
        deaths, alone = self.deliveries.state(key)
        if deaths and not alone:
            # It will be handled alone: nothing else may be in the worker's hands, so what came
            # before is written first, and only then is it marked.
            if b.batch.messages:
                self._seal(b)
            self._wait_written()
        verdict, delivery = self.deliveries.begin(key)
        if not b.batch.messages:
            b.batch.opened_s = time.monotonic()
        if verdict is Verdict.poison:
            log.error("poison message dead-lettered", extra={"topic": m.topic, "delivery": delivery})
            b.reject(m, POISON_MESSAGE, f"delivery {delivery}: the worker died while handling this message, "
                     "in a group of redelivered messages and then alone")
        else:
            b.add(m)
        b.batch.delivery_keys.append(key)  # its file is removed once the batch is written
        if verdict is Verdict.alone:
            self._seal(b)
            self._wait_written()
        elif len(b.batch.delivery_keys) >= GROUP_MESSAGES or len(b.batch) >= self.s.batch_size_lines \
                or b.batch.payload_bytes >= self._batch_bytes:
            self._seal(b)

    def _lookup_written(self, missing: dict) -> dict:
        """The interval cache's storage lookup, asked once every batch sealed before is written.

        The cache keeps the last ``register_cache_points`` readings of a series, pending ones too; a
        reading before those is looked up in InfluxDB. Its neighbours may sit in a sealed batch the
        writer has not stored yet (a collector's day of 96 readings, InfluxDB slow or down): read
        then, storage would hand back an older neighbour and the interval would count that stretch
        twice. Lookups are rare once a series is cached (first contact, late data), so waiting for
        the writer then costs little."""
        self._wait_written()
        return self._lookup(missing)

    def _wait_written(self) -> None:
        while self._batches.unfinished_tasks and not self._abort.is_set():
            time.sleep(0.001)

    def _seal(self, b: BatchBuilder) -> None:
        t0 = time.perf_counter()
        sealed = b.seal()
        log.debug("batch sealed", extra={"lines": len(sealed.lines), "seal_s": round(time.perf_counter() - t0, 4)})
        self._batches.put(sealed)

    # -- writer thread ---------------------------------------------------------------------------

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
                    self._batches.task_done()
        except Aborted:
            pass
        except Exception as e:
            log.exception("writer failed")
            self._fail(e)

    def _commit(self, batch: Batch) -> None:
        t0 = time.perf_counter()
        refused = self._writer.write(batch.lines)
        log.debug("batch written", extra={"lines": len(batch.lines), "messages": len(batch.messages),
                                          "write_s": round(time.perf_counter() - t0, 4)})
        for index, error in refused:
            origin = batch.line_origin[index]
            m = batch.messages[origin] if origin >= 0 else None
            dl = DeadLetter(WRITE_REJECTED, f"InfluxDB refused line {clip(batch.lines[index])!r}: {error}",
                            m.topic if m else "", m.payload if m else batch.lines[index].encode(),
                            m.received_ms if m else int(time.time() * 1000))
            batch.deadletters.append(dl)
            self.metrics.rejected.labels(WRITE_REJECTED).inc()
            log.warning("line refused by InfluxDB", extra={"error": clip(error)})
        if refused:
            # Bookkeeping of the refused lines for the dashboard; their dead letters are what counts.
            self._writer.write([self._builder.deadletter_line(d) for d in batch.deadletters[-len(refused):]])
        for key in batch.delivery_keys:  # written: no longer in the worker's hands
            self.deliveries.done(key)
        if batch.newest_ts_ms > self.newest_ts_ms:
            self.newest_ts_ms = batch.newest_ts_ms
        self.metrics.readings.inc(batch.readings)
        self.send(Commit([Ack(m.gen, m.mid, m.qos) for m in batch.messages],
                         [OutboundDeadLetter(d.topic_out, d.to_json()) for d in batch.deadletters], self.snapshot()))

    def _stats_loop(self) -> None:
        while not self._abort.wait(1.0):
            try:
                self.send(Stats(self.snapshot()))
            except OSError:
                return

    def _fail(self, e: Exception) -> None:
        self._abort.set()
        try:
            self.send(Failed(f"{type(e).__name__}: {e}"))
        except OSError:
            pass


def _exit_with_parent(parent_pid: int) -> None:
    # A blocked thread may never see the pipe close; the parent's death is checked here too.
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            log.error("the parent process is gone; exiting without acknowledging anything")
            os._exit(3)


def worker_main(settings: IngestSettings, inbox: Connection, outbox: Connection) -> None:
    """Entry point of the worker process (``multiprocessing`` spawn target)."""
    logs.setup(settings.log_level)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    worker = Worker(settings, inbox, outbox)
    memory.tune_gc()

    def _terminated(signum, frame) -> None:
        # The service stops us while writes are pending (SIGTERM after its close timeout): an
        # orderly stop, not a death caused by the messages in hand (ingest/deliveries.py).
        worker.deliveries.release_all()
        os._exit(0)

    signal.signal(signal.SIGTERM, _terminated)
    worker.run()
    worker.deliveries.release_all()
