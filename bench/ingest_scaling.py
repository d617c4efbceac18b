"""Ingest with 1, 2 and 4 processes on one shared subscription (docs/scaling.md), side by side.

Run: ``python -m bench.ingest_scaling [--workers 1,2,4] [--readings 100000] [--per-message 50]``.
Starts its own Mosquitto and InfluxDB under ``var/bench/``. For each worker count N, N ingest
services (each its own OS process with its own worker process, as N deployed ``python -m ingest``
would be; one share group, distinct client ids) are started and subscribed; then the benchmark's
messages (bench/ingest_throughput.py) are published, and the rate is readings per second from the
first publish until every message is acknowledged (after its write) by some member of the group.
Every reading is checked to be stored once (count query). Each N runs ``--rounds`` times,
interleaved; the best round is kept (the machine is shared).

In the same rounds, InfluxDB's own rate for the lines ingest writes for these messages
(bench/ingest_ceiling.py: pre-encoded 5000-line batches into a fresh database) is measured with 1
writer and with N writers, so that N ingest processes (N writers) are compared with what InfluxDB
takes from as many writers (goal 1 of issue 13, docs/benchmarks/ingest-issue13.md).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import time
import uuid

from bench.ingest_ceiling import encoded_bodies, post_rate
from bench.ingest_throughput import ROOT, make_messages, publish_all
from deploy.localservers import Influxd, Mosquitto
from storage.influx import InfluxHTTP


def _member(port: int, influx_url: str, db: str, group: str, acked, ready, stop) -> None:
    from ingest.service import IngestService
    from ingest.settings import IngestSettings

    s = IngestSettings(mqtt_port=port, influx_url=influx_url, influx_db=db, client_id=f"scale-{uuid.uuid4().hex[:6]}",
                       share_group=group, metrics_port=0, session_expiry_s=0)
    svc = IngestService(s).start()
    time.sleep(1.0)  # the subscription is sent after the connect; give the broker time to register it
    ready.set()
    while not stop.is_set():
        acked.value = svc.acked
        time.sleep(0.01)
    svc.stop()


def run_once(mq: Mosquitto, ix: Influxd, msgs: list[tuple[str, bytes]], readings: int, workers: int) -> float:
    ctx = mp.get_context("spawn")
    db, group = f"scale_{uuid.uuid4().hex[:6]}", f"g{uuid.uuid4().hex[:6]}"
    InfluxHTTP(ix.url, db).create_database()
    stop = ctx.Event()
    members = []
    for _ in range(workers):
        acked, ready = ctx.Value("q", 0, lock=False), ctx.Event()
        p = ctx.Process(target=_member, args=(mq.port, ix.url, db, group, acked, ready, stop))
        p.start()
        members.append((p, acked, ready))
    for _p, _a, ready in members:
        if not ready.wait(120):
            raise RuntimeError("an ingest member did not start")
    t0 = time.perf_counter()
    publish_all(mq.port, msgs)
    while sum(a.value for _p, a, _r in members) < len(msgs):
        time.sleep(0.01)
    dt = time.perf_counter() - t0
    stop.set()
    for p, _a, _r in members:
        p.join(60)
    stored = InfluxHTTP(ix.url, db).query("SELECT count(register_kwh) FROM meter")
    assert stored[0]["values"][0][1] == readings, "ingest lost or duplicated readings"
    return readings / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--readings", type=int, default=100_000)
    ap.add_argument("--per-message", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    msgs = make_messages(args.readings, args.per_message)
    bodies = encoded_bodies(msgs)
    state = ROOT / "var" / "bench" / f"scaling-{uuid.uuid4().hex[:6]}"
    mq = Mosquitto(state / "mosquitto").start()
    ix = Influxd(state / "influxdb").start()
    best: dict[int, float] = {}
    ceiling: dict[int, float] = {}  # writers -> InfluxDB's best points/s for the same lines
    try:
        for _ in range(args.rounds):
            for n in counts:
                with open("/proc/loadavg") as fh:
                    load = fh.read().split()[0]
                rate = run_once(mq, ix, msgs, args.readings, n)
                print(f"  {n} worker(s): {rate:,.0f} readings/s (load {load})", flush=True)
                best[n] = max(best.get(n, 0.0), rate)
            for n in sorted({1, *counts}):
                rate, points = post_rate(ix.url, bodies, n)
                assert points == args.readings, "every line is one reading"
                print(f"  InfluxDB, {n} writer(s): {rate:,.0f} points/s", flush=True)
                ceiling[n] = max(ceiling.get(n, 0.0), rate)
    finally:
        mq.stop()
        ix.stop()
        shutil.rmtree(state, ignore_errors=True)
    print(f"\n{args.readings} readings, {args.per_message} per message, best of {args.rounds}\n")
    print("| ingest processes | readings/s | x one process | InfluxDB, as many writers [points/s] | "
          "ingest / InfluxDB (as many writers) | ingest / InfluxDB (1 writer) |\n|---|---|---|---|---|---|")
    for n in counts:
        print(f"| {n} | {best[n]:,.0f} | {best[n] / best[counts[0]]:.2f} | {ceiling[n]:,.0f} | "
              f"{best[n] / ceiling[n]:.2f} | {best[n] / ceiling[1]:.2f} |")


if __name__ == "__main__":
    main()
