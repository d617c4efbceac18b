"""Fitting the baselines of a city: 1,000 buildings x 3 carriers, a year of daily data each.

Run: ``python -m bench.baselines [--buildings 1000] [--carriers 3] [--workers 1 2] [--opendsm 12]``. The daily series
are the simulator's (an 8-building fleet, 2025 on an hourly grid, ``tests/analytics/simdaily.py``),
each reused with its own scale and 5 % day-to-day noise: the fit's cost depends on the number of
days and candidate forms, not on the values. Times ``fit_baseline`` for every series (the refit
job's CPU part; its InfluxDB reads are the rollup reads of docs/benchmarks/analytics.md) in one
process and in a process pool, and prints Markdown. Then, in the same run, OpenDSM's daily model
(``analytics.opendsm_baseline.fit_daily_baseline``) on the first ``--opendsm`` of the same series
(one warm-up fit first: importing OpenDSM and numba's compilation are paid once per process) and
projects the city's 3,000 fits from the measured CPU time per fit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from analytics.baseline import fit_baseline

START, END = dt.date(2025, 1, 1), dt.date(2026, 1, 1)
#: The city the projection is for: 1,000 buildings x 3 carriers.
CITY_FITS = 3000


def _series(n: int) -> list[pd.DataFrame]:
    from tests.analytics.simdaily import year_2025

    _, daily = year_2025()
    base = list(daily.values())
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        d = base[i % len(base)].copy()
        d["use"] = d["use"] * rng.uniform(0.2, 3.0) * (1 + 0.05 * rng.standard_normal(len(d)))
        out.append(d)
    return out


def _fit_many(frames: list[pd.DataFrame]) -> tuple[int, int]:
    ok = meets = 0
    for d in frames:
        f = fit_baseline(d, start=START, end=END)
        ok += f.ok
        meets += f.guideline14 == "meets"
    return ok, meets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--buildings", type=int, default=1000)
    ap.add_argument("--carriers", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--opendsm", type=int, default=12, help="OpenDSM fits to time (0: none)")
    args = ap.parse_args()
    frames = _series(args.buildings * args.carriers)
    print(f"{len(frames)} fits of 365 days; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| workers | wall [s] | CPU [s] (this process) | ms per fit (wall) | ok | meets G14 |")
    print("|---|---|---|---|---|---|")
    for w in args.workers:
        t0, c0 = time.perf_counter(), time.process_time()
        if w == 1:
            ok, meets = _fit_many(frames)
        else:
            parts = [frames[i::w] for i in range(w)]
            with ProcessPoolExecutor(max_workers=w) as pool:
                res = list(pool.map(_fit_many, parts))
            ok, meets = sum(r[0] for r in res), sum(r[1] for r in res)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"| {w} | {wall:.1f} | {cpu:.1f} | {1000 * wall / len(frames):.1f} | {ok} | {meets} |")
    if args.opendsm:
        _opendsm(frames[:args.opendsm])


def _opendsm(frames: list[pd.DataFrame]) -> None:
    from analytics.opendsm_baseline import OPENDSM, fit_daily_baseline

    t0, c0 = time.perf_counter(), time.process_time()
    fit_daily_baseline(frames[0], start=START, end=END)
    warm_wall, warm_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    fits = [fit_daily_baseline(d, start=START, end=END) for d in frames]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(frames)
    kinds = sum(f.model_kind == OPENDSM for f in fits)
    meets = sum(f.guideline14 == "meets" for f in fits)
    print(f"\nOpenDSM daily model, load average {os.getloadavg()[0]:.1f}: warm-up fit (import + numba) "
          f"{warm_wall:.1f} s wall, {warm_cpu:.1f} s CPU")
    print("| fits | wall [s] | CPU [s] | s per fit (wall) | s per fit (CPU) | OpenDSM kind | meets G14 |"
          " projected CPU for 3,000 fits [h] |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {n} | {wall:.1f} | {cpu:.1f} | {wall / n:.2f} | {cpu / n:.2f} | {kinds} | {meets} | "
          f"{cpu / n * CITY_FITS / 3600:.1f} |")


if __name__ == "__main__":
    main()
