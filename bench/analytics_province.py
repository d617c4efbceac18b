"""Annual indicators + audit list for a province (default 100,000 buildings) from the SQL balance
table (:mod:`analytics.balance_store`), the store bench/balance_store.py picked.

Run: ``python -m bench.analytics_province [--buildings 100000]``. Builds the same synthetic fleet
as bench/analytics_city.py in a SQLite registry, computes one day's balance of every building the
way the rollup job does (:func:`analytics.rollup.balance_lines` over that bench's per-device
points), writes each month of the year as that day times the month's days through the month step's
own writer (:func:`analytics.balance_store.write_month`), then times the steps of
bench/analytics_city.py (``city_run``) for a completed year: every window they read is a whole
year, so InfluxDB is started but not read. Prints Markdown with the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert

from analytics import balance_store, service
from analytics.balance import BALANCE_FIELDS
from bench.analytics_city import _print_steps, _rows, city_run, lines_for_day, make_fleet
from deploy.localservers import Influxd
from registry.db import make_engine, migrate, session_scope
from registry.models import Building, ChargingPile, Meter, PvSystem
from storage.influx import InfluxHTTP

ROOT = Path(__file__).resolve().parents[1]


def _plain(d: dict) -> dict:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in d.items()}


def bulk_registry(path: Path, fleet):
    """The fleet in a new SQLite registry by bulk inserts: ``repo.replace_fleet`` upserts building
    by building (103 s for 2,000 buildings on the loaded machine) and ORM objects for 100,000
    buildings and their devices did not finish in 14 minutes at load average 12."""
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.begin() as c:
        c.execute(insert(Building), [{**_plain(b.model_dump(exclude={"meters", "pv", "ev_piles"})),
                                      "building_type": b.building_type.value} for b in fleet.buildings])
        for model, attr in ((Meter, "meters"), (PvSystem, "pv"), (ChargingPile, "ev_piles")):
            rows = [{**_plain(d.model_dump()), "building_code": b.building_code}
                    for b in fleet.buildings for d in getattr(b, attr)]
            if rows:
                c.execute(insert(model), rows)
    return engine


def month_frames(kinds: dict, year: int):
    """(first day, balance frame) of each month: one day's balance times the month's days."""
    rows = _rows(lines_for_day(0, kinds))["building"]
    day = pd.DataFrame(rows).set_index("building_code").reindex(columns=list(BALANCE_FIELDS)).fillna(0.0)
    for m in range(1, 13):
        first = dt.date(year, m, 1)
        days = ((first + dt.timedelta(days=32)).replace(day=1) - first).days
        yield first, day * days


def one_building(db, engine, year: int, now: dt.datetime, codes: list[str], n: int = 20) -> None:
    """``service.building_indicators`` for ``n`` buildings, one at a time (no cache): what one
    building's page costs on the service path (it reads its type's buildings for the rank)."""
    rng = np.random.default_rng(1)
    times = []
    with session_scope(engine) as s:
        for code in rng.choice(codes, n, replace=False):
            t = time.perf_counter()
            service.building_indicators(influx=db, session=s, building_code=str(code), year=year, now=now)
            times.append(time.perf_counter() - t)
    load = os.getloadavg()[0]
    print(f"\none building's indicators, {n} buildings one after another, no cache: p50 "
          f"{np.percentile(times, 50) * 1000:.0f} ms, p95 {np.percentile(times, 95) * 1000:.0f} ms "
          f"(load average {load:.1f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--buildings", type=int, default=100_000)
    ap.add_argument("--year", type=int, default=2025)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--one-building", action="store_true", help="also time service.building_indicators")
    args = ap.parse_args()
    state = ROOT / "var" / "bench" / "analytics_province"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    influxd = Influxd(state / "influxdb").start()
    try:
        t = time.perf_counter()
        fleet, kinds = make_fleet(args.buildings, args.seed)
        engine = bulk_registry(state / "registry.db", fleet)
        t_registry = time.perf_counter() - t
        t = time.perf_counter()
        for first, frame in month_frames(kinds, args.year):
            balance_store.write_month(engine, first, frame)
        t_store = time.perf_counter() - t
        print(f"{args.buildings:,} buildings: registry {t_registry:.0f} s, 12 month steps into the SQL table "
              f"{t_store:.0f} s ({t_store / 12:.1f} s per month, year re-summed each time)", flush=True)
        db = InfluxHTTP(influxd.url, "bench", timeout_s=600)
        db.create_database()
        now = dt.datetime(args.year + 1, 2, 1, tzinfo=dt.UTC)
        # Side by side: each step reading the registry itself, and the registry read once and shared.
        for run, share in ((1, False), (2, True), (3, False), (4, True)):
            load = os.getloadavg()
            print(f"\nrun {run}, registry {'read once, shared' if share else 'read by each step'}, "
                  f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
            _print_steps(city_run(db, engine, args.year, now, share_registry=share))
        if args.one_building:
            one_building(db, engine, args.year, now, [b.building_code for b in fleet.buildings])
    finally:
        influxd.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
