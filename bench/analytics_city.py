"""City-wide annual indicators and audit list for 10,000 buildings from daily rollups.

Run: ``python -m bench.analytics_city`` (about 2-3 minutes, most of it writing the data). Starts
its own InfluxDB under ``var/bench/`` and a SQLite registry, writes one synthetic year of daily
rollup points (``meter_1d``, ``pv_1d``, ``ev_pile_1d``, ``ev_session_1d``, and the balance
``building_1d`` the rollup job writes beside them; glossary schema) with
4 concurrent writers, then times, in one process:

* the rollup job's month step (``rollup_month``) summing the days into ``_1mo`` and ``building_1mo``;
* ``annual_frame`` (every building's indicators) + ``city_indicators`` + ``district_indicators``;
* ``audit_list`` (calendar year and rolling 12 months);

each split into reading the rollups (InfluxQL, HTTP and JSON) and computation + registry reads.
The rollups live in a retention policy with 52-week shard groups (``analytics.rollup.ensure_rollup_rp``).
Side by side in the same run, for 1,000 buildings: one annual read from 7-day shard groups (the
database default), from 52-week shard groups reading the daily balance only, and the default path
(52-week shard groups, whole months from the building-level ``building_1mo``).
Results are printed as Markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from analytics import reader, rollup, service
from contract.localtime import local_midnight
from deploy.localservers import Influxd
from registry import repo
from registry.db import make_engine, migrate, session_scope
from registry.fleet import Fleet
from storage.influx import InfluxError, InfluxHTTP

ROOT = Path(__file__).resolve().parents[1]
TYPES = "ABCDEFGH"


class QueryTimer:
    """Wall time spent reading rollups (the 4 concurrent InfluxQL queries of a window, HTTP and JSON
    included), measured around :func:`analytics.reader.read_balance` as the service calls it."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, 0
        self._orig = service.read_balance

    def __enter__(self) -> QueryTimer:
        def timed(**kw):
            t = time.perf_counter()
            try:
                return self._orig(**kw)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += 1

        service.read_balance = timed
        return self

    def __exit__(self, *exc) -> None:
        service.read_balance = self._orig


def make_fleet(n: int, seed: int) -> tuple[Fleet, dict]:
    rng = np.random.default_rng(seed)
    buildings, kinds = [], {}
    for i in range(n):
        district = 510400 + (i // (len(TYPES) * 1000)) * 10 + 2
        letter = TYPES[i % len(TYPES)]
        serial = (i // len(TYPES)) % 1000
        code = f"{district}{letter}{serial:03d}"
        has_gas, has_pv, has_ev = rng.random() < 0.5, rng.random() < 0.3, rng.random() < 0.2
        meters = [{"device_id": "main", "carrier": "electricity", "sub_item": "main"},
                  {"device_id": "hvac", "carrier": "electricity", "sub_item": "hvac", "parent_device_id": "main"}]
        if has_gas:
            meters.append({"device_id": "gas", "carrier": "natural_gas"})
        buildings.append({
            "building_code": code, "name": f"B{i}", "floor_area_m2": float(rng.uniform(2_000, 80_000)),
            "district": f"D{district}", "ownership": ["state_organ_office", "large_public", "other"][i % 3],
            "latitude_deg": 29.5, "longitude_deg": 103.7, "occupants": int(rng.integers(50, 2000)),
            "year_built": int(rng.integers(1990, 2025)), "meters": meters,
            "pv": [{"device_id": "pv1", "capacity_kwp": 100.0}] if has_pv else [],
            "ev_piles": [{"device_id": "ev1", "pile_kind": "ac_7kw", "rated_power_kw": 7.0}] if has_ev else [],
        })
        kinds[code] = (has_gas, has_pv, has_ev, float(rng.uniform(1_000, 30_000)))
    return Fleet.model_validate({"buildings": buildings}), kinds


def lines_for_day(day_ms: int, kinds: dict, measurement_suffix: str = "1d", scale: float = 1.0) -> list[str]:
    """One day's per-device rollup points and, as the rollup job writes them beside those, each
    building's balance (``building_1d``, :func:`analytics.rollup.balance_lines`). ``scale``: the
    days one point stands for (energy and readings times it; ``--months-only`` writes months)."""
    out = []
    r96, r3 = f"{round(96 * scale)}i", f"{round(3 * scale)}i"
    s = measurement_suffix
    for code, (gas, pv, ev, kwh) in kinds.items():
        k = kwh * scale
        m = f"building_code={code},carrier=electricity,device_kind=meter"
        out.append(f"meter_{s},{m},device_id=main,sub_item=main consumption_kwh={k:.3f},readings={r96} {day_ms}")
        out.append(f"meter_{s},{m},device_id=hvac,sub_item=hvac consumption_kwh={0.4 * k:.3f},readings={r96} {day_ms}")
        if gas:
            out.append(f"meter_{s},building_code={code},carrier=natural_gas,device_id=gas,device_kind=meter "
                       f"consumption_m3={0.05 * k:.3f},readings={r96} {day_ms}")
        if pv:
            out.append(f"pv_{s},building_code={code},device_id=pv1,device_kind=pv_inverter "
                       f"generation_kwh={400 * scale:.3f},readings={r96} {day_ms}")
            out.append(f"pv_{s},building_code={code},device_id=pv1,device_kind=pv_meter "
                       f"to_grid_kwh={50 * scale:.3f},from_grid_kwh={max(k - 350 * scale, 0):.3f},readings={r96} "
                       f"{day_ms}")
        if ev:
            out.append(f"ev_pile_{s},building_code={code},device_id=ev1,device_kind=ev_pile "
                       f"consumption_kwh={60 * scale:.3f},readings={r96} {day_ms}")
            out.append(f"ev_session_{s},building_code={code},device_id=ev1,event=stop "
                       f"energy_kwh={60 * scale:.3f},pv_energy_kwh={10 * scale:.3f},readings={r3} {day_ms}")
    return out + rollup.balance_lines(_rows(out), s, day_ms)


def _rows(lines: list[str]) -> dict[str, list[dict]]:
    """Line protocol of per-device rollups back to the rows :func:`analytics.rollup.balance_lines` takes."""
    rows: dict[str, list[dict]] = {}
    for line in lines:
        head, fields, _ = line.split(" ")
        name, *tags = head.split(",")
        rec = dict(t.split("=", 1) for t in tags)
        for f in fields.split(","):
            k, v = f.split("=", 1)
            rec[k] = int(v[:-1]) if v.endswith("i") else float(v)
        rows.setdefault(name.rsplit("_", 1)[0], []).append(rec)
    return rows


def write_all(db: InfluxHTTP, day_batches, writers: int = 2) -> int:
    lock, total = threading.Lock(), [0]
    local = threading.local()

    def client() -> InfluxHTTP:
        if not hasattr(local, "c"):
            local.c = InfluxHTTP(db.url, db.database, retention_policy=db.retention_policy, timeout_s=300)
        return local.c

    def send(lines):
        c = client()
        for i in range(0, len(lines), 5000):
            for attempt in range(5):
                try:
                    c.write_lines(lines[i:i + 5000])
                    break
                except InfluxError as e:
                    # A loaded shared machine makes InfluxDB time out a write; the same points again
                    # overwrite, so a retry is safe.
                    if attempt == 4 or "timeout" not in str(e):
                        raise
                    time.sleep(2.0 * (attempt + 1))
        with lock:
            total[0] += len(lines)

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(send, day_batches))
    return total[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--buildings", type=int, default=10_000)
    ap.add_argument("--year", type=int, default=2025)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--compare-buildings", type=int, default=1000,
                    help="buildings of the side-by-side shard-duration comparison")
    ap.add_argument("--keep", action="store_true", help="keep var/bench/analytics for inspection")
    ap.add_argument("--months-only", action="store_true",
                    help="write the year's _1mo points directly (what a whole-year read touches) instead of "
                         "the days and the month step; no side-by-side comparison")
    ap.add_argument("--reuse", action="store_true",
                    help="time the steps again on the data a --keep run left (skips the 20-minute load)")
    args = ap.parse_args()
    state = ROOT / "var" / "bench" / "analytics"
    if not args.reuse:
        shutil.rmtree(state, ignore_errors=True)
    influxd = Influxd(state / "influxdb").start()
    try:
        if args.reuse:
            rerun(args, influxd, state)
        else:
            run(args, influxd, state)
    finally:
        influxd.stop()
        if not args.keep:
            shutil.rmtree(state, ignore_errors=True)


def load(db: InfluxHTTP, kinds: dict, days: list[dt.date]) -> tuple[int, float, float]:
    """Write the daily points, then let the rollup job's month step sum them into ``_1mo``."""
    t = time.perf_counter()
    n = write_all(db, (lines_for_day(int(local_midnight(d).timestamp() * 1000), kinds) for d in days))
    t_month = time.perf_counter()
    for month in sorted({d.replace(day=1) for d in days}):
        rollup.rollup_month(db, month)
    return n, t_month - t, time.perf_counter() - t_month


def read_once(db: InfluxHTTP, year: int, use_months: bool) -> float:
    from contract.localtime import year_window

    start, end = year_window(year)
    t = time.perf_counter()
    reader.read_balance(influx=db, start=start, end=end, use_months=use_months)
    return time.perf_counter() - t


def city_run(db: InfluxHTTP, engine, year: int, now: dt.datetime,
             share_registry: bool = False) -> list[tuple[str, float, float, int]]:
    """The timed steps: (name, wall s, rollup-read s, windows read); ``share_registry``: the
    registry is read once, in the first step, and handed to the audit list with the annual
    frame's window (the calendar year), as the API's city frames do."""
    results, reg = [], {}
    windows: service.WindowFrames | None = {} if share_registry else None
    with session_scope(engine) as s, QueryTimer() as qt:
        def timed(name, fn):
            qt.seconds, qt.calls = 0.0, 0
            t0 = time.perf_counter()
            out = fn()
            results.append((name, time.perf_counter() - t0, qt.seconds, qt.calls))
            return out

        def annual():
            if share_registry:
                reg["r"] = reader.registry_frame(session=s)
            return service.annual_frame(influx=db, session=s, year=year, now=now, with_previous=False,
                                        registry=reg.get("r"), window_frames=windows)

        frame = timed("annual indicators, every building", annual)
        timed("city + district roll-ups and plan targets", lambda: (
            service.city_indicators(influx=db, session=s, year=year, now=now, frame=frame),
            service.district_indicators(influx=db, session=s, year=year, now=now, frame=frame)))
        timed("audit list (calendar year + rolling 12 months)", lambda: service.audit_list(
            influx=db, session=s, year=year, now=now, windows=("calendar_year", "rolling_12_months"),
            registry=reg.get("r"), window_frames=windows))
    return results


def rerun(args, influxd: Influxd, state: Path) -> None:
    """The timed steps only, on a kept run's InfluxDB and registry (``--keep``, then ``--reuse``)."""
    big = rollup.rollup_client(InfluxHTTP(influxd.url, "bench", timeout_s=600), "rollup")
    now = dt.datetime(args.year + 1, 2, 1, tzinfo=dt.UTC)
    _print_steps(city_run(big, make_engine(f"sqlite:///{state / 'registry.db'}"), args.year, now))


def _print_steps(results) -> None:
    total = sum(r[1] for r in results)
    print("| step | wall [s] | reading rollups [s] | windows read | computation + registry [s] |")
    print("|---|---:|---:|---:|---:|")
    for name, wall, q, n in results:
        print(f"| {name} | {wall:.2f} | {q:.2f} | {n} | {wall - q:.2f} |")
    print(f"| **total** | **{total:.2f}** | {sum(r[2] for r in results):.2f} | {sum(r[3] for r in results)} | "
          f"{total - sum(r[2] for r in results):.2f} |")


def registry_for(state: Path, name: str, fleet: Fleet):
    engine = make_engine(f"sqlite:///{state / name}")
    migrate(engine)
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=fleet)
    return engine


def run(args, influxd: Influxd, state: Path) -> None:
    year = args.year
    days = [dt.date(year, 1, 1) + dt.timedelta(days=i)
            for i in range((dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days)]
    now = dt.datetime(year + 1, 2, 1, tzinfo=dt.UTC)
    admin = InfluxHTTP(influxd.url, "bench", timeout_s=600)
    admin.create_database()
    rollup.ensure_rollup_rp(admin, "rollup", "52w")
    fleet, kinds = make_fleet(args.buildings, args.seed)
    engine = registry_for(state, "registry.db", fleet)
    big = rollup.rollup_client(admin, "rollup")
    if args.months_only:
        months = sorted({d.replace(day=1) for d in days})
        t = time.perf_counter()
        points = write_all(big, (lines_for_day(int(local_midnight(m).timestamp() * 1000), kinds, "1mo",
                                               scale=sum(d.replace(day=1) == m for d in days)) for m in months))
        write_s, month_s = time.perf_counter() - t, 0.0
        print(f"wrote {points:,} monthly rollup points in {write_s:.1f} s (months only)", flush=True)
        results = city_run(big, engine, year, now)
        _print_steps(results)
        return
    points, write_s, month_s = load(big, kinds, days)
    print(f"wrote {points:,} daily rollup points in {write_s:.1f} s ({points / write_s:,.0f} points/s, 2 writers); "
          f"month step for 12 months {month_s:.1f} s", flush=True)
    with session_scope(engine) as s:
        t0 = time.perf_counter()
        reader.registry_frame(session=s)
        registry_s = time.perf_counter() - t0
    results = city_run(big, engine, year, now)

    # Side by side: the same small city with rollups in 7-day shard groups (the database default)
    # and in the 52-week rollup policy.
    n_small = min(args.compare_buildings, args.buildings)
    small_fleet = Fleet(buildings=fleet.buildings[:n_small])
    small_kinds = {b.building_code: kinds[b.building_code] for b in small_fleet.buildings}
    small = InfluxHTTP(influxd.url, "bench_small", timeout_s=600)
    small.create_database()
    rollup.ensure_rollup_rp(small, "rollup", "52w")
    load(small, small_kinds, days)
    load(rollup.rollup_client(small, "rollup"), small_kinds, days)
    small_rp = rollup.rollup_client(small, "rollup")
    side = {
        "7-day shard groups (database default), building_1mo months": read_once(small, year, True),
        "52-week shard groups, building_1d days only (365 points per series)": read_once(small_rp, year, False),
        "52-week shard groups, building_1mo months (the default path)": read_once(small_rp, year, True),
    }

    total = sum(r[1] for r in results)
    qs = sum(r[2] for r in results)
    print(f"\n## City-wide annual analytics, {args.buildings:,} buildings, {year}, from daily rollups\n")
    print(f"Data: {points:,} daily rollup points ({points / args.buildings / len(days):.2f} series per building "
          f"x {len(days)} days) in retention policy `rollup` (52-week shard groups). Registry read (SQLite, "
          f"{args.buildings:,} buildings with devices): {registry_s:.2f} s per call.\n")
    print("| step | wall [s] | reading rollups [s] | windows read | computation + registry [s] |")
    print("|---|---:|---:|---:|---:|")
    for name, wall, q, n in results:
        print(f"| {name} | {wall:.2f} | {q:.2f} | {n} | {wall - q:.2f} |")
    print(f"| **total** | **{total:.2f}** | {qs:.2f} ({qs / total:.0%}) | {sum(r[3] for r in results)} | "
          f"{total - qs:.2f} ({(total - qs) / total:.0%}) |\n")
    print(f"Goal < 10 s: {'met' if total < 10 else 'NOT met'}.\n")
    best = side["52-week shard groups, building_1mo months (the default path)"]
    print(f"Side by side, one annual read of every building's sums, {n_small:,} buildings, same run:\n")
    print("| rollups read from | wall [s] | vs default path |\n|---|---:|---:|")
    for name, secs in side.items():
        print(f"| {name} | {secs:.2f} | {secs / best:.1f}x |")


if __name__ == "__main__":
    main()
