"""How long the dashboards' heaviest queries take on a real InfluxDB, and what the daily rollups
buy: the city-overview queries over a year of daily rollups for a city of buildings, and, side by
side in the same run, the same query over the same buildings and month from raw 15-minute points
and from the rollups.

    python -m bench.dashboard_queries [--buildings 500] [--raw-buildings 100] [--raw-days 30]

Starts its own InfluxDB (deploy/localservers.py) under var/bench/, writes synthetic points of the
glossary schema (main meter, 4 sub-meters, gas per building), runs each query 5 times and prints
the median; --out writes the markdown table (docs/benchmarks/dashboards.md).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import httpx

from analytics import rollup
from dashboards import indicators as ind
from dashboards.influxql import Select
from dashboards.interpolate import Variable, interpolate
from dashboards.variables import SELECTED_BUILDINGS
from deploy.localservers import Influxd

ROOT = Path(__file__).resolve().parents[1]
DAY_MS = 86_400_000
STEP_MS = 900_000
DEVICES = (("el-main", "electricity", "main", "consumption_kwh", 40.0),
           ("el-ls", "electricity", "lighting_sockets", "consumption_kwh", 12.0),
           ("el-hvac", "electricity", "hvac", "consumption_kwh", 18.0),
           ("el-pwr", "electricity", "power", "consumption_kwh", 6.0),
           ("el-spc", "electricity", "special", "consumption_kwh", 4.0),
           ("gas", "natural_gas", None, "consumption_m3", 3.0))
ALL = {"district": Variable(("x",), multi=True, include_all=True, all_value="[0-9]{6}", is_all=True),
       "building_type": Variable(("x",), multi=True, include_all=True, all_value="[A-H]", is_all=True)}


def code(i: int) -> str:
    return f"51{i // 1000 % 100:02d}{i // 100 % 10:02d}{'ABCDEFGH'[i % 8]}{i % 1000:03d}"


def _series(i: int, dev: tuple) -> str:
    tags = f"building_code={code(i)},carrier={dev[1]},device_id={dev[0]},device_kind=meter"
    return tags + (f",sub_item={dev[2]}" if dev[2] else "")


def write_lines(url: str, db: str, lines) -> int:
    n, batch = 0, []
    with httpx.Client(timeout=120) as c:
        def flush() -> None:
            c.post(f"{url}/write", params={"db": db, "precision": "ms"}, content="\n".join(batch)).raise_for_status()

        for line in lines:
            batch.append(line)
            if len(batch) == 5000:
                flush()
                n += len(batch)
                batch = []
        if batch:
            flush()
            n += len(batch)
    return n


def daily(n_buildings: int, start_ms: int, days: int):
    """Per-device ``meter_1d`` and, as the rollup job writes beside them, each building's balance
    ``building_1d`` (the panels read the balance; analytics.rollup.balance_lines derives it)."""
    for i in range(n_buildings):
        rows = {"meter": [{"building_code": code(i), "carrier": dev[1], "sub_item": dev[2] or "",
                           dev[3]: dev[4] * 96, "readings": 96} for dev in DEVICES]}
        for dev in DEVICES:
            s = _series(i, dev)
            for d in range(days):
                yield f"meter_1d,{s} {dev[3]}={dev[4] * 96},readings=96i {start_ms + d * DAY_MS}"
        for d in range(days):
            yield from rollup.balance_lines(rows, "1d", start_ms + d * DAY_MS)


def raw(n_buildings: int, start_ms: int, days: int):
    for i in range(n_buildings):
        for dev in DEVICES:
            s = _series(i, dev)
            for k in range(1, days * 96 + 1):
                yield f"meter,{s} {dev[3]}={dev[4]},interval_s=900i {start_ms + k * STEP_MS}"


def timed(url: str, db: str, query: str, repeat: int = 5) -> tuple[float, int]:
    """Median wall time [s] and the number of result rows."""
    times, rows = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        r = httpx.post(f"{url}/query", params={"db": db, "epoch": "ms"}, data={"q": query}, timeout=600)
        times.append(time.perf_counter() - t)
        body = r.json()["results"][0]
        if "error" in body:
            raise RuntimeError(f"{body['error']}\n{query}")
        rows = sum(len(s["values"]) for s in body.get("series", []))
    return statistics.median(times), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--buildings", type=int, default=500)
    ap.add_argument("--raw-buildings", type=int, default=100)
    ap.add_argument("--raw-days", type=int, default=30)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    state = ROOT / "var" / "bench" / "dashboard_queries"
    shutil.rmtree(state, ignore_errors=True)
    ix = Influxd(state).start()
    try:
        url, db, db52 = ix.url, "bench", "bench_52w"
        httpx.post(f"{url}/query", data={"q": 'CREATE DATABASE "bench"'}).raise_for_status()
        # Daily points are sparse: one shard group per year instead of InfluxDB's default week.
        httpx.post(f"{url}/query", data={"q": 'CREATE DATABASE "bench_52w" WITH SHARD DURATION 52w'}
                   ).raise_for_status()
        end = int(time.time() * 1000) // DAY_MS * DAY_MS
        t = time.perf_counter()
        n_daily = write_lines(url, db, daily(a.buildings, end - 365 * DAY_MS, 365))
        write_lines(url, db52, daily(a.buildings, end - 365 * DAY_MS, 365))
        n_raw = write_lines(url, db, raw(a.raw_buildings, end - a.raw_days * DAY_MS, a.raw_days))
        load_s = time.perf_counter() - t
        year = dict(from_ms=end - 365 * DAY_MS, to_ms=end)
        month = dict(from_ms=end - a.raw_days * DAY_MS, to_ms=end)
        some = [code(i) for i in range(a.raw_buildings)]
        results = []
        for name, q in (
            ("audit list", ind.audit_list("building_1d", (SELECTED_BUILDINGS,))),
            ("top 10 by tce", ind.top_by("energy_tce", ind.energy_by_building("building_1d", (SELECTED_BUILDINGS,)))),
            ("grid electricity (tce)", ind.shares_parts("building_1d", (SELECTED_BUILDINGS,))[0]),
        ):
            for database, shards in ((db, "7-day shards"), (db52, "52-week shards")):
                results.append((f"{name}, {a.buildings} buildings, 1 year of building_1d, {shards}",
                                *timed(url, database, interpolate(q.render(), ALL, **year))))
        regex = "^(" + "|".join(some) + ")$"
        for meas, database, shards in (("building_1d", db, "7-day shards"),
                                       ("building_1d", db52, "52-week shards")):
            q: Select = ind.energy_by_building(meas, (f'"building_code" =~ /{regex}/',))
            results.append((f"energy by building, {a.raw_buildings} buildings, {a.raw_days} days of {meas}, {shards}",
                            *timed(url, database, interpolate(q.render(), ALL, **month))))
        shard7 = statistics.mean(results[i][1] for i in (0, 2, 4))
        shard52 = statistics.mean(results[i][1] for i in (1, 3, 5))
        rollup_s, rollup52_s = results[-2][1], results[-1][1]
        lines = [
            "# Dashboard query benchmark (bench/dashboard_queries.py)",
            "",
            f"InfluxDB 1.6 on this machine (2 cores, shared), {n_daily:,} daily-rollup points and {n_raw:,} raw "
            f"points loaded in {load_s:.0f} s. Median of 5 runs per query.",
            "",
            "| query | median [s] | result rows |",
            "|---|---|---|",
            *[f"| {name} | {s:.3f} | {rows} |" for name, s, rows in results],
            "",
            f"Same buildings and period from the daily balance: {rollup_s:.3f} s with 7-day shard groups, "
            f"{rollup52_s:.3f} s with 52-week shard groups (the panels no longer read raw points for energy "
            "figures; the raw points are loaded for the data-quality panels' scale).",
            f"Year of daily rollups, 7-day vs 52-week shard groups: the 52-week database answers in "
            f"{shard52 / shard7:.2f} x the time (mean over the three city queries). All ratios measured side by "
            "side in one run.",
        ]
        text = "\n".join(lines) + "\n"
        print(text)
        if a.out:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(text)
    finally:
        ix.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
