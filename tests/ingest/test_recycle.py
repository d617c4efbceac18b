"""The worker is replaced by a fresh process once idle after a backlog (real Mosquitto + InfluxDB).

What malloc_trim cannot return (test_memory.py: 24-34 MiB of ~38) comes back with a new process.
The swap must lose nothing, write nothing twice, and derive the same interval values as a worker
that was never replaced: the new one starts with an empty register cache and looks up stored
neighbours, as after a crash.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from ingest.memory import rss_bytes
from storage.influx import InfluxHTTP
from tests.ingest.helpers import (
    STEP_MS,
    T0_MS,
    IngestProcess,
    Publisher,
    acked_messages,
    count_and_sum,
    ingest_argv,
    meter_msg,
    meter_topic,
    metric_value,
    wait_acked,
    wait_until,
    with_metrics,
    worker_pid,
    worker_pid_or_none,
)

pytestmark = [pytest.mark.servers, pytest.mark.slow]

MIB = 1024 * 1024
BUDGET_MIB = 64
RECYCLE_BYTES = 8 * MIB
DEVICES = 40
READINGS = 10_000  # per backlog message: ~0.8 MB of JSON, 40 of them grow the worker by ~38 MiB
AFTER = 10  # readings per device after the backlog, one of them out of order


def _register(k: int) -> float:
    """Register value of the k-th quarter hour: steps of 1 and 2 kWh, integers so sums are exact."""
    return float(k + k // 3)


def _recycles(log_path: Path) -> list[dict]:
    out = []
    for line in log_path.read_text(errors="replace").splitlines():
        if '"worker recycled"' in line:
            out.append(json.loads(line))
    return out


def _backlog_run(mosquitto, influxd, db: str, tmp_path: Path, recycle_bytes: int) -> dict:
    """Idle size, a backlog queued while ingest is down, idle again, then readings that need the
    backlog's last ones as neighbours (one out of order). Returns what was measured and stored."""
    argv, port = with_metrics(ingest_argv(
        mosquitto.port, influxd.url, db, "--share-group", f"g{uuid.uuid4().hex[:6]}", "--memory-budget-mib",
        str(BUDGET_MIB), "--worker-recycle-rss-bytes", str(recycle_bytes), client_id=f"rec-{uuid.uuid4().hex[:6]}"))
    log_path = tmp_path / f"ingest-{db}.log"
    ingest = IngestProcess(argv, log_path).start()
    ingest.wait_connected()
    time.sleep(1)
    idle = rss_bytes(worker_pid(ingest.proc.pid))
    assert ingest.terminate() == 0  # the persistent session queues the backlog for us
    pub = Publisher(mosquitto.port)
    for d in range(DEVICES):
        dev = f"E-{d:02d}"
        pub.publish(meter_topic(dev), meter_msg(dev, [(T0_MS + k * STEP_MS, {"register": _register(k)})
                                                      for k in range(READINGS)]))
        if d % 10 == 9:
            pub.wait()
    ingest.start()
    first_worker = wait_until(lambda: worker_pid_or_none(ingest.proc.pid), 30, "the worker process", interval_s=0.01)
    ingest.wait_connected()
    influx = InfluxHTTP(influxd.url, db)
    wait_until(lambda: count_and_sum(influx, "meter", "register_kwh")[0] >= DEVICES * READINGS, 300,
               "the backlog to be stored")
    out: dict = {"idle": idle}
    if recycle_bytes:
        t0 = time.monotonic()
        new = wait_until(lambda: (p := worker_pid_or_none(ingest.proc.pid)) not in (None, first_worker) and p, 60,
                         f"the worker replaced:\n{ingest.log_tail()}")
        out["replaced_after_s"] = time.monotonic() - t0
        time.sleep(2)  # idle: the new worker settled
        out["after"] = rss_bytes(new)
    else:
        time.sleep(3)  # as long as a swap would take, so both runs get the same treatment
        assert worker_pid(ingest.proc.pid) == first_worker
        out["after"] = rss_bytes(first_worker)
    # After the backlog: each device's next readings, the 5th of them late (neighbours rewritten).
    late = READINGS + 5
    for d in range(DEVICES):
        dev = f"E-{d:02d}"
        pub.publish(meter_topic(dev), meter_msg(dev, [(T0_MS + k * STEP_MS, {"register": _register(k)})
                                                      for k in range(READINGS, READINGS + AFTER) if k != late]))
    pub.wait()
    for d in range(DEVICES):
        dev = f"E-{d:02d}"
        pub.publish(meter_topic(dev), meter_msg(dev, [(T0_MS + late * STEP_MS, {"register": _register(late)})]))
    pub.close()
    wait_acked(port, 3 * DEVICES)  # the backlog's message, the later readings, the late one, per device
    out["register"] = count_and_sum(influx, "meter", "register_kwh")
    out["consumption"] = count_and_sum(influx, "meter", "consumption_kwh")
    since_ms = T0_MS + (READINGS - 2) * STEP_MS  # the backlog's last two readings and all after
    rows = influx.query(f"SELECT consumption_kwh, interval_s FROM meter WHERE time >= {since_ms}ms GROUP BY device_id")
    out["tail"] = {s["tags"]["device_id"]: s["values"] for s in rows}
    out["recycles"] = _recycles(log_path)
    out["written"] = metric_value(port, "ep_ingest_written_lines_total")  # a line written twice counts twice
    out["acked"] = acked_messages(port)
    out["recycles_metric"] = metric_value(port, "ep_ingest_worker_recycles_total")
    assert ingest.terminate() == 0
    return out


def test_worker_replaced_after_a_backlog_returns_to_its_idle_size(mosquitto, influxd, fresh_db, tmp_path):
    got = _backlog_run(mosquitto, influxd, fresh_db, tmp_path, RECYCLE_BYTES)
    ref_db = f"{fresh_db}_ref"
    try:
        ref = _backlog_run(mosquitto, influxd, ref_db, tmp_path, 0)
    finally:
        InfluxHTTP(influxd.url, ref_db).query_raw(f'DROP DATABASE "{ref_db}"', post=True)
    n = DEVICES * (READINGS + AFTER)
    last = READINGS + AFTER - 1
    # Exactly once: 40 devices x 10 010 readings; registers sum to 40 x sum(k + k // 3).
    assert got["register"] == (n, DEVICES * sum(_register(k) for k in range(last + 1)))
    # Every interval but each device's first: the steps add up to the last register value.
    assert got["consumption"] == (DEVICES * last, DEVICES * _register(last))
    # The same interval values as a worker that was never replaced, to the last reading.
    assert got["tail"] == ref["tail"] and got["consumption"] == ref["consumption"]
    # Nothing written twice, nothing delivered again: the counters of the replaced worker carry over.
    assert got["written"] == ref["written"] and got["acked"] == ref["acked"] == 3 * DEVICES
    assert ref["recycles"] == [] and ref["recycles_metric"] == 0
    assert len(got["recycles"]) == got["recycles_metric"] >= 1
    kept_mib = (got["after"] - got["idle"]) / MIB
    ref_kept_mib = (ref["after"] - ref["idle"]) / MIB
    r = got["recycles"][0]
    print(f"idle worker {got['idle'] / MIB:.0f} MiB; kept after the backlog: replaced {kept_mib:.1f} MiB, "
          f"not replaced {ref_kept_mib:.1f} MiB; recycle line {r}; replaced {got['replaced_after_s']:.1f} s "
          "after the backlog was stored")
    assert got["after"] - got["idle"] <= RECYCLE_BYTES, kept_mib
    assert r["rss_before_mib"] - r["rss_after_mib"] > RECYCLE_BYTES / MIB


CONT_DEVICES = 20
BURSTS = 20
PER_BURST = 20  # readings per device and burst
BURST_EVERY_S = 1.2  # shorter than a swap (a process spawn): messages arrive during swaps


def _publish_bursts(port: int) -> None:
    pub = Publisher(port)
    for b in range(BURSTS):
        for d in range(CONT_DEVICES):
            dev = f"C-{d:02d}"
            pub.publish(meter_topic(dev), meter_msg(dev, [(T0_MS + k * STEP_MS, {"register": _register(k)})
                                                          for k in range(b * PER_BURST, (b + 1) * PER_BURST)]))
        pub.wait()
        time.sleep(BURST_EVERY_S)
    pub.close()


def test_recycles_during_continuous_input_lose_nothing(mosquitto, influxd, fresh_db, tmp_path):
    # 1 byte, no pause between swaps: replaced at every idle moment, so that many swaps meet
    # arriving messages.
    argv, port = with_metrics(ingest_argv(mosquitto.port, influxd.url, fresh_db, "--share-group",
                                          f"g{uuid.uuid4().hex[:6]}", "--worker-recycle-rss-bytes", "1",
                                          "--worker-recycle-min-interval-s", "0",
                                          client_id=f"recc-{uuid.uuid4().hex[:6]}"))
    ingest = IngestProcess(argv, tmp_path / "ingest.log").start()
    ingest.wait_connected()
    publisher = threading.Thread(target=_publish_bursts, args=(mosquitto.port,))
    publisher.start()
    influx = InfluxHTTP(influxd.url, fresh_db)
    per_device = BURSTS * PER_BURST
    try:
        publisher.join(300)
        wait_acked(port, BURSTS * CONT_DEVICES)
        written = metric_value(port, "ep_ingest_written_lines_total")
        recycles_metric = metric_value(port, "ep_ingest_worker_recycles_total")
    finally:
        assert ingest.terminate() == 0
    # Read after the stop: swaps go on at every idle moment, so a log read while it runs can miss
    # one the metric (read later) counts. Each swap logs after it counts, so the log holds at least
    # as many as the metric showed, and more only for swaps between that read and the stop.
    recycles = _recycles(ingest.log_path)
    last = per_device - 1
    # 20 devices x 400 readings, each once; intervals across every swap: the steps add up.
    assert count_and_sum(influx, "meter", "register_kwh") == (
        CONT_DEVICES * per_device, CONT_DEVICES * sum(_register(k) for k in range(per_device)))
    assert count_and_sum(influx, "meter", "consumption_kwh") == (CONT_DEVICES * last, CONT_DEVICES * _register(last))
    held = [r["held_messages"] for r in recycles]
    print(f"{len(recycles)} recycles, messages held during each: {held}, swap_s: {[r['swap_s'] for r in recycles]}")
    assert len(recycles) >= recycles_metric >= 2 and sum(held) > 0, recycles
    # In order, no finding, no dead letter: one line per reading, so a line written twice shows.
    assert written == CONT_DEVICES * per_device
