"""CPU per reading of each process while ingest drains gateway batches: where the wall time goes.

Run: ``python -m bench.ingest_cpu [--readings 200000] [--rounds 2]``. Starts its own Mosquitto and
InfluxDB under ``var/bench/``. Each round queues the messages of bench/ingest_throughput.py for a
persistent session, drains them with :class:`ingest.service.IngestService`, and reads the CPU time
(user + system, ``/proc/<pid>/stat``) that the worker process, the service process (this one),
influxd and Mosquitto used over the drain (the service figure includes this
benchmark's own polling loop, a sleep of 5 ms per check); then the lines ingest wrote for the same messages
(bench/ingest_ceiling.py) are posted by one writer, with influxd's CPU for them alone. CPU time is
far less disturbed by a loaded machine than wall time, so it says which process bounds the rate.

``--acks both`` alternates rounds that acknowledge a batch with one joined write (ingest/acks.py)
and rounds that ack message by message through paho's ``Client.ack``: the two side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
import uuid
from pathlib import Path

from bench.ingest_ceiling import encoded_bodies, post_rate
from bench.ingest_throughput import ROOT, make_messages, prepare_session, publish_all
from contract.topics import INGEST_FILTER
from deploy.localservers import Influxd, Mosquitto
from ingest import acks
from ingest.service import IngestService
from ingest.settings import IngestSettings
from storage.influx import InfluxHTTP

JOINED_AVAILABLE = acks.JOINED


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime [ticks]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--per-message", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--acks", choices=("joined", "per-message", "both"), default="joined",
                    help="how the service acknowledges a batch (both: alternating rounds)")
    args = ap.parse_args()
    n = args.readings
    msgs = make_messages(n, args.per_message)
    bodies = encoded_bodies(msgs)
    state = ROOT / "var" / "bench" / f"cpu-{uuid.uuid4().hex[:6]}"
    mq = Mosquitto(state / "mosquitto").start()
    ix = Influxd(state / "influxdb").start()
    print("| round | acks | load | ingest [readings/s] | worker CPU [us/reading] | service | influxd | mosquitto | "
          "InfluxDB alone [points/s] | influxd CPU alone [us/point] |\n|---|---|---|---|---|---|---|---|---|---|")
    try:
        for r in range(args.rounds):
            mode = args.acks if args.acks != "both" else ("joined", "per-message")[r % 2]
            acks.JOINED = mode == "joined" and JOINED_AVAILABLE
            cid, db = f"cpu-{uuid.uuid4().hex[:6]}", f"cpu_{uuid.uuid4().hex[:6]}"
            InfluxHTTP(ix.url, db).create_database()
            prepare_session(mq.port, cid, INGEST_FILTER)
            publish_all(mq.port, msgs)
            svc = IngestService(IngestSettings(mqtt_port=mq.port, influx_url=ix.url, influx_db=db, client_id=cid,
                                               share_group="", metrics_port=0, session_expiry_s=3600))
            svc.start()
            pids = {"worker": svc._worker.pid, "service": os.getpid(), "influxd": ix.proc.pid,
                    "mosquitto": mq.proc.pid}
            before = {k: cpu_s(p) for k, p in pids.items()}
            while svc.acked < len(msgs):
                time.sleep(0.005)
            dt = time.perf_counter() - svc.connecting_at_s
            used = {k: (cpu_s(p) - before[k]) / n * 1e6 for k, p in pids.items()}
            svc.stop()
            with open("/proc/loadavg") as fh:
                load = fh.read().split()[0]
            influx0 = cpu_s(ix.proc.pid)
            rate, points = post_rate(ix.url, bodies, 1)
            alone = (cpu_s(ix.proc.pid) - influx0) / points * 1e6
            print(f"| {r + 1} | {mode} | {load} | {n / dt:,.0f} | {used['worker']:.1f} | {used['service']:.1f} | "
                  f"{used['influxd']:.1f} | {used['mosquitto']:.1f} | {rate:,.0f} | {alone:.1f} |", flush=True)
    finally:
        mq.stop()
        ix.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
