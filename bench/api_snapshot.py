"""One building's indicators and the audit list served from the rollup job's indicator snapshot
(analytics/snapshot.py) with the API's frame cache off, at 1,000 and at 100,000 buildings.

Run: ``python -m bench.api_snapshot [--scale city|province|both]`` (city about 3 minutes,
province about 10). City: bench/api_load.py's set-up (1,000 buildings, daily rollups in InfluxDB
from 1 January of last year, this year's figures). Province: bench/analytics_province.py's
(100,000 buildings in a SQLite registry, the SQL balance of a completed year). For each:

1. :func:`analytics.snapshot.refresh`, timed: computing the city frames (what one request of the
   present no-cache path costs) and writing the snapshot;
2. the API (``python -m api``, one and then two uvicorn workers (``--workers``),
   ``EP_INDICATOR_CACHE_TTL_S=0``) driven from a second process (wrk when installed, repeated;
   bench/api_load.py's bare-asyncio client, which keeps up with one worker, and its httpx
   client, which does not): one random building's indicators at 50 clients, the
   audit list (first page of 100) at 50 clients;
3. in the same server, the snapshot deleted: the present no-cache path (each request builds the
   city's frames) at 5 clients at city scale, 1 client at province scale (a few requests).

Prints Markdown with the load average before and after each row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
from pathlib import Path

from sqlalchemy import delete

from analytics import rollup, snapshot
from analytics.balance_store import write_month
from api.security import Role, create_user
from bench.api_load import _drive, _drive_wrk, _serve, city_setup
from deploy.localservers import Influxd, free_port
from registry.db import session_scope
from storage.influx import InfluxHTTP

ROOT = Path(__file__).resolve().parents[1]


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def province_setup(state: Path, buildings: int, seed: int, influx_url: str, year: int) -> dict:
    """bench/analytics_province.py's registry and SQL balance of ``year``, an auditor, and the
    rollup policy the API reads (empty: every month of the year is in the SQL table)."""
    from bench.analytics_city import make_fleet
    from bench.analytics_province import bulk_registry, month_frames

    t0 = time.perf_counter()
    fleet, kinds = make_fleet(buildings, seed)
    engine = bulk_registry(state / "registry.db", fleet)
    for first, frame in month_frames(kinds, year):
        write_month(engine, first, frame)
    with session_scope(engine) as s:
        _, key = create_user(s, name="bench-auditor", role=Role.auditor)
    db = InfluxHTTP(influx_url, "bench", timeout_s=600)
    db.create_database()
    rollup.ensure_rollup_rp(db, "rollup", "52w")
    env = {**os.environ, "EP_ENV": "development", "EP_DATABASE_URL": f"sqlite:///{state / 'registry.db'}",
           "EP_INFLUX_URL": influx_url, "EP_INFLUX_DB": "bench", "EP_ROLLUP_RP": "rollup",
           "EP_WEBHOOK_SIGNING_KEY": "bench-signing-key"}
    print(f"{buildings:,} buildings: registry and 12 months of SQL balance in {time.perf_counter() - t0:.0f} s",
          flush=True)
    return {"year": year, "engine": engine, "key": key, "codes": [b.building_code for b in fleet.buildings],
            "env": env}


def measure(name: str, setup: dict, state: Path, influx_url: str, args, uncached_clients: int,
            uncached_requests: int) -> list[tuple]:
    year, engine, key, codes = setup["year"], setup["engine"], setup["key"], setup["codes"]
    rollups = InfluxHTTP(influx_url, "bench", retention_policy="rollup", timeout_s=600)
    load_before = _load()
    stats = snapshot.refresh(engine, rollups, rollup_ms=int(time.time() * 1000), year=year)
    print(f"\n{name}: snapshot of {stats.buildings:,} buildings and {stats.audit_rows:,} audit rows: frames "
          f"{stats.frames_s:.1f} s, write {stats.write_s:.1f} s (load average {load_before} -> {_load()})",
          flush=True)
    rows = []
    ind_paths = [f"/buildings/{c}/indicators?year={year}" for c in codes]
    # wrk (C) when installed: the httpx client saturates its own core near 300-400 req/s
    # (docs/benchmarks/api.md), so its latencies are mostly its own queue. Interleaved repeats.
    tools = ["wrk"] * args.repeats if shutil.which("wrk") else []
    for workers in args.workers:
        port = free_port()
        proc = _serve({**setup["env"], "EP_INDICATOR_CACHE_TTL_S": "0"}, port, state / "api.log", workers=workers)
        url = f"http://127.0.0.1:{port}"
        try:
            for tool in [*tools, "asyncio", "httpx"]:
                for label, paths in (("building indicators, snapshot", ind_paths),
                                     ("audit list, page of 100, snapshot", [f"/audit?year={year}&limit=100"])):
                    before = _load()
                    if tool == "wrk":
                        r = _drive_wrk(url, key, paths, state, args.concurrency, args.duration)
                    else:
                        r = _drive(url, key, paths, state, args.concurrency, args.duration, raw=tool == "asyncio")
                    rows.append((name, f"{label}, {tool}, {workers} worker{'s' if workers > 1 else ''}",
                                 args.concurrency, r, before, _load()))
        finally:
            proc.terminate()
            proc.wait(30)
    port = free_port()
    proc = _serve({**setup["env"], "EP_INDICATOR_CACHE_TTL_S": "0"}, port, state / "api.log")
    url = f"http://127.0.0.1:{port}"
    try:
        with engine.begin() as c:  # no snapshot: every request builds the city's frames, as before
            for table in (snapshot.snapshot_building, snapshot.snapshot_audit):
                c.execute(delete(table))
        before = _load()
        r = _drive(url, key, ind_paths, state, uncached_clients, args.duration * 20, uncached_requests)
        rows.append((name, "building indicators, no snapshot (builds the city's frames)", uncached_clients, r,
                     before, _load()))
    finally:
        proc.terminate()
        proc.wait(30)
        rollups.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=("city", "province", "both"), default="both")
    ap.add_argument("--city-buildings", type=int, default=1000)
    ap.add_argument("--province-buildings", type=int, default=100_000)
    ap.add_argument("--province-year", type=int, default=2025)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--duration", type=float, default=20, help="seconds of load per snapshot row")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=2, help="wrk runs per snapshot row")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="uvicorn workers, one server each")
    args = ap.parse_args()
    rows = []
    for scale in ("city", "province") if args.scale == "both" else (args.scale,):
        state = ROOT / "var" / "bench" / f"api_snapshot_{scale}"
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
        influxd = Influxd(state / "influxdb").start()
        try:
            if scale == "city":
                setup = city_setup(state, args.city_buildings, args.seed, influxd.url)
                rows += measure(f"{args.city_buildings:,} buildings", setup, state, influxd.url, args, 5, 30)
            else:
                setup = province_setup(state, args.province_buildings, args.seed, influxd.url, args.province_year)
                rows += measure(f"{args.province_buildings:,} buildings", setup, state, influxd.url, args, 1, 3)
        finally:
            influxd.stop()
            shutil.rmtree(state, ignore_errors=True)
    print(f"\nAPI: uvicorn workers as named, EP_INDICATOR_CACHE_TTL_S=0; load from a second process "
          f"(wrk -t2 or httpx); "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")
    print("| city | endpoint | clients | requests | errors | p50 [ms] | p95 [ms] | p99 [ms] | req/s | load before "
          "| load after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, label, clients, r, before, after in rows:
        print(f"| {name} | {label} | {clients} | {r['requests']} | {r['errors']} | {r['p50_ms']:.1f} | "
              f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['throughput_rps']:.1f} | {before} | {after} |")
        if r["error_samples"]:
            print(f"|  | errors: {r['error_samples']} |")


if __name__ == "__main__":
    main()
