"""Generation speed: one year at 15-minute intervals for 1,000 buildings with all their meters.

Run: ``python -m bench.simulator_generation [--size 1000] [--year 2025]``; the year is generated
once in this process and once in two worker processes (``generate --workers 2``). Prints a JSON report
and a Markdown table for docs/benchmarks/simulators.md. Also measured side by side in the same
run, on a 100-building subset: week-sized chunks (the backfill path) against whole-period
generation, and building + encoding contract messages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time

from contract.localtime import local_midnight_ms
from simulators.fleetgen import generate_fleet
from simulators.fleetsim import FleetSim, Period, generate_parallel
from simulators.groundtruth import GroundTruth
from simulators.messages import time_ordered


def _year(fleet, year: int, chunk: int | None, gt: GroundTruth | None = None) -> tuple[float, int]:
    """(wall seconds, readings); CPU seconds of the last call in ``_year.cpu_s``."""
    period = Period(local_midnight_ms(dt.date(year, 1, 1)), local_midnight_ms(dt.date(year + 1, 1, 1)))
    c0 = time.process_time()
    t0 = time.perf_counter()
    readings = 0
    sim = FleetSim(fleet, 1, period, chunk or period.n)
    chunks = sim.per_building() if chunk is None else (c for fc in sim.chunks() for c in fc)
    for ch in chunks:
        readings += sum(len(f.ts_ms) for f in ch.devices)
        if gt is not None:
            gt.add(ch)
    _year.cpu_s = time.process_time() - c0
    return time.perf_counter() - t0, readings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--year", type=int, default=2025)
    ap.add_argument("--subset", type=int, default=100)
    args = ap.parse_args()
    with open("/proc/loadavg") as fh:
        load_before = fh.read().split()[0]
    fleet = generate_fleet(1, args.size)
    devices = sum(len(b.meters) + 2 * len(b.pv) + len(b.ev_piles) for b in fleet.buildings)
    full_s, readings = _year(fleet, args.year, None)
    full_cpu_s = _year.cpu_s
    period = Period(local_midnight_ms(dt.date(args.year, 1, 1)), local_midnight_ms(dt.date(args.year + 1, 1, 1)))
    t0 = time.perf_counter()
    par_readings, _ = generate_parallel(fleet, 1, period, 2)
    par_s = time.perf_counter() - t0
    assert par_readings == readings
    sub = fleet.model_copy(update={"buildings": fleet.buildings[:args.subset]})
    whole_s, _ = _year(sub, args.year, None)
    weekly_s, _ = _year(sub, args.year, 7 * 96)
    gt_s, _ = _year(sub, args.year, None, GroundTruth())
    # Messages: one week of the subset, built and JSON-encoded (what backfill publishes).
    week = Period(local_midnight_ms(dt.date(args.year, 7, 7)), local_midnight_ms(dt.date(args.year, 7, 14)))
    t0 = time.perf_counter()
    n_msg = 0
    for out in time_ordered(sub.buildings, FleetSim(sub, 1, week).chunks()):
        out.encode()
        n_msg += 1
    msg_s = time.perf_counter() - t0
    report = {
        "machine_cpus": os.cpu_count(), "load_average_at_start": float(load_before),
        "buildings": args.size, "devices": devices, "readings": readings,
        "year_seconds": round(full_s, 2), "year_cpu_seconds": round(full_cpu_s, 2),
        "readings_per_s": round(readings / full_s),
        "year_2_workers_seconds": round(par_s, 2), "one_over_two_workers_ratio": round(full_s / par_s, 2),
        "subset_buildings": args.subset, "subset_whole_period_s": round(whole_s, 2),
        "subset_week_chunks_s": round(weekly_s, 2), "week_chunk_over_whole_ratio": round(weekly_s / whole_s, 2),
        "subset_with_ground_truth_s": round(gt_s, 2), "ground_truth_over_plain_ratio": round(gt_s / whole_s, 2),
        "week_messages": n_msg, "messages_built_and_encoded_per_s": round(n_msg / msg_s),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
