"""Fitting the baselines of a city: 1,000 buildings x 3 carriers, a year of daily data each.

Run: ``python -m bench.baselines [--buildings 1000] [--carriers 3] [--workers 1 2]``. The daily series
are the simulator's (an 8-building fleet, 2025 on an hourly grid, ``tests/analytics/simdaily.py``),
each reused with its own scale and 5 % day-to-day noise: the fit's cost depends on the number of
days and candidate forms, not on the values. Times ``fit_baseline`` for every series (the refit
job's CPU part; its InfluxDB reads are the rollup reads of docs/benchmarks/analytics.md) in one
process and in a process pool, and prints Markdown.
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


if __name__ == "__main__":
    main()
