"""Which store serves a whole year of every building's balance fastest: side by side, one run.

Run: ``python -m bench.balance_store --buildings 10000 30000`` (10,000 buildings: 75 s writing
InfluxDB at load average 10; 100,000 failed there with InfluxDB write timeouts). For each city
size it writes the same synthetic balance (every :data:`analytics.balance.BALANCE_FIELDS` field, one year) into

* (a) InfluxDB ``building_1mo``: 12 points per building, the present layout;
* (b) InfluxDB ``building_1y``: one year-to-date point per building;
* (c) SQLite ``balance_month``: 12 rows per building (summed in SQL) and (d) ``balance_year``:
  one year-to-date row per building;

then times one annual read of every building into the frame the service takes (index
``building_code``, one column per field), for every field and for the audit's
(:data:`analytics.service.AUDIT_FIELDS`). Each read runs ``--repeat`` times, interleaved, and the
best and median are printed as Markdown with the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.balance import BALANCE_FIELDS, COUNT_FIELDS
from analytics.rollup import ensure_rollup_rp, read_balance_points, rollup_client
from analytics.service import AUDIT_FIELDS
from bench.analytics_city import write_all
from contract.localtime import local_midnight
from deploy.localservers import Influxd
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line

ROOT = Path(__file__).resolve().parents[1]
YEAR = 2025


def codes(n: int) -> list[str]:
    return [f"5104{i // 8000:02d}{'ABCDEFGH'[i % 8]}{i // 8 % 1000:03d}" for i in range(n)]


def month_values(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 12, fields) synthetic monthly balances; counts are whole numbers."""
    v = rng.uniform(0, 50_000, size=(n, 12, len(BALANCE_FIELDS)))
    for j, f in enumerate(BALANCE_FIELDS):
        if f in COUNT_FIELDS:
            v[:, :, j] = np.floor(v[:, :, j])
    return v


def influx_lines(measurement: str, cs: list[str], vals: np.ndarray, stamps_ms: list[int]) -> list[list[str]]:
    """One batch of lines per stamp; ``vals`` is (n, len(stamps), fields)."""
    out = []
    for k, t in enumerate(stamps_ms):
        batch = []
        for i, c in enumerate(cs):
            fields = {f: (int(x) if f in COUNT_FIELDS else float(x)) for f, x in zip(BALANCE_FIELDS, vals[i, k],
                                                                                    strict=True)}
            batch.append(encode_line(measurement, {"building_code": c}, fields, t))
        out.append(batch)
    return out


def sqlite_load(path: Path, cs: list[str], months: np.ndarray) -> None:
    con = sqlite3.connect(path)
    cols = ", ".join(f'"{f}" REAL NOT NULL' for f in BALANCE_FIELDS)
    con.execute(f"CREATE TABLE balance_month (building_code TEXT NOT NULL, month TEXT NOT NULL, {cols}, "
                "PRIMARY KEY (building_code, month)) WITHOUT ROWID")
    con.execute(f"CREATE TABLE balance_year (building_code TEXT NOT NULL, year INTEGER NOT NULL, {cols}, "
                "PRIMARY KEY (year, building_code)) WITHOUT ROWID")
    marks = ", ".join("?" * (len(BALANCE_FIELDS) + 2))
    con.executemany(f"INSERT INTO balance_month VALUES ({marks})",  # noqa: S608
                    ((c, f"{YEAR}-{m + 1:02d}", *map(float, months[i, m])) for i, c in enumerate(cs)
                     for m in range(12)))
    year = months.sum(axis=1)
    con.executemany(f"INSERT INTO balance_year VALUES ({marks})",  # noqa: S608
                    ((c, YEAR, *map(float, year[i])) for i, c in enumerate(cs)))
    con.commit()
    con.close()


def sqlite_read(path: Path, table: str, fields: tuple[str, ...]) -> pd.DataFrame:
    con = sqlite3.connect(path)
    try:
        if table == "balance_month":
            sel = ", ".join(f'SUM("{f}")' for f in fields)
            q = (f"SELECT building_code, {sel} FROM balance_month "  # noqa: S608
                 f"WHERE month >= '{YEAR}-01' AND month <= '{YEAR}-12' GROUP BY building_code")
        else:
            sel = ", ".join(f'"{f}"' for f in fields)
            q = f"SELECT building_code, {sel} FROM balance_year WHERE year = {YEAR}"  # noqa: S608
        rows = con.execute(q).fetchall()
    finally:
        con.close()
    return pd.DataFrame.from_records(rows, columns=["building_code", *fields], index="building_code")


def run_size(n: int, influxd: Influxd, state: Path, repeat: int) -> list[tuple]:
    rng = np.random.default_rng(n)
    cs = codes(n)
    months = month_values(n, rng)
    admin = InfluxHTTP(influxd.url, f"b{n}", timeout_s=900)
    admin.create_database()
    ensure_rollup_rp(admin, "rollup", "52w")
    db = rollup_client(admin, "rollup")
    stamps = [int(local_midnight(pd.Timestamp(YEAR, m, 1).date()).timestamp() * 1000) for m in range(1, 13)]
    t = time.perf_counter()
    write_all(db, influx_lines("building_1mo", cs, months, stamps))
    write_all(db, influx_lines("building_1y", cs, months.sum(axis=1)[:, None, :], stamps[:1]))
    t_influx = time.perf_counter() - t
    path = state / f"balance_{n}.db"
    t = time.perf_counter()
    sqlite_load(path, cs, months)
    t_sqlite = time.perf_counter() - t
    print(f"{n:,} buildings: InfluxDB written in {t_influx:.0f} s, SQLite in {t_sqlite:.0f} s "
          f"({path.stat().st_size / 1e6:.0f} MB)", flush=True)
    start, end = stamps[0], int(local_midnight(pd.Timestamp(YEAR + 1, 1, 1).date()).timestamp() * 1000)
    reads = {
        "(a) InfluxDB building_1mo, 12 points per building": lambda f: read_balance_points(db, "building_1mo",
                                                                                          start, end, None, f),
        "(b) InfluxDB building_1y, 1 point per building": lambda f: read_balance_points(db, "building_1y",
                                                                                       start, end, None, f),
        "(c) SQLite balance_month, 12 rows summed in SQL": lambda f: sqlite_read(path, "balance_month", f),
        "(d) SQLite balance_year, 1 row per building": lambda f: sqlite_read(path, "balance_year", f),
    }
    expect = pd.DataFrame(months.sum(axis=1), index=pd.Index(cs, name="building_code"), columns=list(BALANCE_FIELDS))
    times: dict[tuple, list[float]] = {}
    for _ in range(repeat):
        for name, read in reads.items():
            for label, fields in (("all 29 fields", BALANCE_FIELDS), ("audit's 14 fields", AUDIT_FIELDS)):
                t = time.perf_counter()
                got = read(fields)
                times.setdefault((name, label), []).append(time.perf_counter() - t)
                # Each store must hand back the same year (float sums: relative 1e-9).
                pd.testing.assert_frame_equal(got.sort_index().astype(float), expect[list(fields)].sort_index(),
                                              rtol=1e-9, check_names=False)
    return [(n, name, label, min(ts), statistics.median(ts), os.getloadavg()[0]) for (name, label), ts in times.items()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--buildings", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    state = ROOT / "var" / "bench" / "balance_store"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    influxd = Influxd(state / "influxdb").start()
    try:
        for n in args.buildings:
            # Printed per size: a larger size can fail on the loaded machine (InfluxDB write timeouts).
            print("\n| buildings | store | fields | best [s] | median [s] | load average (1 min) |")
            print("|---:|---|---|---:|---:|---:|")
            for n_, name, label, best, med, load in run_size(n, influxd, state, args.repeat):
                print(f"| {n_:,} | {name} | {label} | {best:.2f} | {med:.2f} | {load:.1f} |", flush=True)
    finally:
        influxd.stop()
        if not args.keep:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
