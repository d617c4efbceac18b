"""Extra cost of re-deriving interval values from the registers before the rollup sums a day.

Run: ``python -m bench.rollup_rederive [--devices 2000 10000] [--stale-share 0.05]``. Starts its own
InfluxDB under ``var/bench/``, writes one local day of 15-minute electricity register readings per
device (97 points: 00:00 of the day closes the day before) with ingest's derived fields, a share
of them stale as a second ingest worker leaves them, then times side by side in one run, per
device count:

* ``rollup_day`` alone (what ``--no-rederive`` does);
* ``rederive_window`` over the same day (first pass: rewrites the stale points);
* ``rederive_window`` again (nothing to rewrite: the steady-state cost of every run);

and prints Markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from analytics import rederive, rollup
from contract.localtime import local_midnight
from deploy.localservers import Influxd
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2025, 3, 1)
STEP_MS = 900_000


def _lines(devices: range, start_ms: int, stale_share: float, rnd: random.Random) -> list[str]:
    out = []
    for d in devices:
        # 10 devices per building, like the simulated fleet's meters
        tags = {"building_code": f"{510402 + d // 10_000:06d}A{(d // 10) % 1000:03d}",
                "device_id": f"E-{d}", "device_kind": "meter", "carrier": "electricity", "sub_item": "hvac"}
        reg = 1000.0 + d
        out.append(encode_line("meter", tags, {"register_kwh": reg}, start_ms))
        prev = reg
        for i in range(1, 97):
            reg = round(reg + rnd.uniform(0.5, 3.0), 3)
            delta, secs = reg - prev, 900.0
            if rnd.random() < stale_share:
                delta, secs = delta + 1.0, 1800.0  # as if computed from the reading before the previous
            out.append(encode_line("meter", tags, {"register_kwh": reg, "consumption_kwh": delta,
                                                   "interval_s": secs}, start_ms + i * STEP_MS))
            prev = reg
    return out


def _write(db: InfluxHTTP, lines: list[str]) -> None:
    batches = [lines[i:i + 5000] for i in range(0, len(lines), 5000)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(db.write_lines, batches))


def run_one(url: str, n_devices: int, stale_share: float) -> dict:
    db = InfluxHTTP(url, f"bench_rederive_{n_devices}", timeout_s=600)
    db.create_database()
    start_ms = int(local_midnight(DAY).timestamp() * 1000)
    end_ms = int(local_midnight(DAY + dt.timedelta(days=1)).timestamp() * 1000)
    rnd = random.Random(n_devices)
    for lo in range(0, n_devices, 1000):
        _write(db, _lines(range(lo, min(lo + 1000, n_devices)), start_ms, stale_share, rnd))
    t = time.perf_counter()
    rollup.rollup_day(db, DAY)
    t_rollup = time.perf_counter() - t
    t = time.perf_counter()
    first = rederive.rederive_window(db, start_ms, end_ms)
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    second = rederive.rederive_window(db, start_ms, end_ms)
    t_second = time.perf_counter() - t
    db.close()
    return {"devices": n_devices, "points": n_devices * 96, "rollup_s": t_rollup, "first_s": t_first,
            "first_rewritten": first.rewritten, "second_s": t_second, "second_rewritten": second.rewritten,
            "checked": first.checked}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--stale-share", type=float, default=0.05)
    args = ap.parse_args(argv)
    state = ROOT / "var" / "bench" / "rollup_rederive"
    shutil.rmtree(state, ignore_errors=True)
    server = Influxd(state)
    server.start()
    try:
        rows = [run_one(server.url, n, args.stale_share) for n in args.devices]
    finally:
        server.stop()
    print(f"One local day of 15-minute register points, {args.stale_share:.0%} of interval values stale.\n")
    print("| devices | interval points | rollup_day [s] | re-derive, first pass [s] (rewritten) "
          "| re-derive, nothing to fix [s] | rollup + re-derive vs rollup alone |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = (r["rollup_s"] + r["second_s"]) / r["rollup_s"]
        print(f"| {r['devices']:,} | {r['points']:,} | {r['rollup_s']:.2f} | {r['first_s']:.2f} "
              f"({r['first_rewritten']:,}) | {r['second_s']:.2f} ({r['second_rewritten']}) | {ratio:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
