"""The worker process: decode, check, convert, batch and write (everything but MQTT).

The MQTT connection lives in the parent (:mod:`ingest.service`), whose network thread would
otherwise share one interpreter lock with this CPU-heavy work; in its own process it runs on the
other core. Protocol over two one-way pipes (pickled tuples):

parent -> worker
    ``("msgs", [(gen, mid, qos, topic, payload, received_ms), ...])`` in arrival order; ``("stop",)``.
worker -> parent
    ``("commit", [(gen, mid, qos), ...], [(deadletter_topic, json), ...], snapshot)`` once a batch is
    written: the parent publishes the dead letters, waits for the broker, then acks in order;
    ``("ready",)`` once started (and the database created, if InfluxDB answered);
    ``("stats", snapshot)`` every second; ``("stopped",)`` at the end; ``("failed", text)`` on a bug.

The worker exits when the parent's pipe closes (the parent crashed): unacknowledged messages are
the broker's to redeliver.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import threading
import time
from multiprocessing.connection import Connection

from contract.localtime import installed_on_ms
from ingest import logs
from ingest.intervals import RegisterTracker
from ingest.lookup import InfluxLookup
from ingest.metrics import Metrics
from ingest.pipeline import WRITE_REJECTED, Batch, BatchBuilder, DeadLetter, Inbound
from ingest.settings import IngestSettings
from ingest.transform import TimeRules
from ingest.writer import Aborted, Writer
from storage.influx import InfluxError, InfluxHTTP

log = logging.getLogger("ingest.worker")
_STOP = object()


def installed_dates(settings: IngestSettings) -> dict[tuple[str, str], int] | None:
    if settings.fleet_file is None:
        return None
    from registry.fleet import Fleet

    fleet = Fleet.load(settings.fleet_file)
    return {k: installed_on_ms(d) for k, d in fleet.device_installed_on().items()}


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
        self._influx = InfluxHTTP(s.influx_url, s.influx_db, s.influx_rp, s.influx_username, s.influx_password,
                                  s.influx_token)
        lookup = InfluxLookup(InfluxHTTP(s.influx_url, s.influx_db, s.influx_rp, s.influx_username,
                                         s.influx_password, s.influx_token), self._abort,
                              initial_ms=s.retry_initial_ms, max_ms=s.retry_max_ms, on_retry=self.metrics.retries.inc)
        self.tracker = RegisterTracker(lookup, max_points=s.register_cache_points)
        rules = TimeRules(future_tolerance_ms=int(s.future_tolerance_s * 1000), floor_ms=s.ts_floor_ms,
                          installed_ms=installed_dates(s))
        self._builder = BatchBuilder(rules=rules, tracker=self.tracker, metrics=self.metrics, client_id=s.client_id)
        self._writer = Writer(self._influx, self.metrics, initial_ms=s.retry_initial_ms, max_ms=s.retry_max_ms,
                              abort=self._abort)
        self.newest_ts_ms = 0

    def send(self, obj: tuple) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        with self._out_lock:
            self._out.send_bytes(data)

    def snapshot(self) -> dict:
        return {**self.metrics.snapshot(), "newest_ts_ms": self.newest_ts_ms}

    def run(self) -> None:
        try:
            self._influx.create_database()
        except InfluxError as e:  # the writer creates it when InfluxDB comes up
            log.warning("could not create the database yet", extra={"error": str(e)[:300]})
        self.send(("ready",))
        writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        writer.start()
        stats = threading.Thread(target=self._stats_loop, name="ingest-worker-stats", daemon=True)
        stats.start()
        self._process_loop()
        writer.join()
        if not self._abort.is_set():
            self.send(("stopped",))

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
                msg = pickle.loads(self._in.recv_bytes()) if self._in.poll(wait) else None
                if msg is not None and msg[0] == "stop":
                    if b.batch.messages:
                        self._batches.put(b.seal())
                    break
                if msg is not None:
                    for gen, mid, qos, topic, payload, received_ms in msg[1]:
                        if not b.batch.messages:
                            b.batch.opened_s = time.monotonic()
                        b.add(Inbound(gen, mid, qos, topic, payload, received_ms))
                        if len(b.batch) >= s.batch_size_lines:
                            self._seal(b)
                if not b.batch.messages:
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
            dl = DeadLetter(WRITE_REJECTED, f"InfluxDB refused line {batch.lines[index][:300]!r}: {error}",
                            m.topic if m else "", m.payload if m else batch.lines[index].encode(),
                            m.received_ms if m else int(time.time() * 1000))
            batch.deadletters.append(dl)
            self.metrics.rejected.labels(WRITE_REJECTED).inc()
            log.warning("line refused by InfluxDB", extra={"error": error[:300]})
        if refused:
            # Bookkeeping of the refused lines for the dashboard; their dead letters are what counts.
            self._writer.write([self._builder.deadletter_line(d) for d in batch.deadletters[-len(refused):]])
        if batch.newest_ts_ms > self.newest_ts_ms:
            self.newest_ts_ms = batch.newest_ts_ms
        self.metrics.readings.inc(batch.readings)
        self.send(("commit", [(m.gen, m.mid, m.qos) for m in batch.messages],
                   [(d.topic_out, d.to_json()) for d in batch.deadletters], self.snapshot()))

    def _stats_loop(self) -> None:
        while not self._abort.wait(1.0):
            try:
                self.send(("stats", self.snapshot()))
            except OSError:
                return

    def _fail(self, e: Exception) -> None:
        self._abort.set()
        try:
            self.send(("failed", f"{type(e).__name__}: {e}"))
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
    Worker(settings, inbox, outbox).run()
