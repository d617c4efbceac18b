"""Public disclosure pages and feeds for a city's published year, served by a real uvicorn.

Run: ``python -m bench.disclosure_pages [--records 5000]`` (about 7 minutes on the shared 2-core
machine, nearly all of it committing 20,000 SQLite transactions). Creates a SQLite
database under ``var/bench/disclosure/``, stores ``--records`` drafts (timed: the freeze, one
transaction each) and publishes them, then starts the API (``api.app.create_app`` with the
disclosure router) and times, side by side in one run, with one sequential HTTP client:

* the public list page (HTML, 50 rows, filtered by year) and with a search term;
* a building page (figures + three inline SVG charts);
* the JSON feed (100 items with figures) and the CSV export of every published record;
* the review queue page.

Results are printed as Markdown (median and 95th percentile of ``--repeat`` requests).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.app import create_app
from api.disclosure import service
from api.disclosure.workflow import Action, Actor
from api.settings import Settings
from deploy.localservers import free_port
from tests.api.disclosure.factories import figures

ROOT = Path(__file__).resolve().parents[1]
TYPES = "ABCDEFGH"
DISTRICTS = ("市中区", "沙湾区", "五通桥区", "金口河区", "犍为县", "井研县")


def _codes(n: int) -> list[str]:
    return [f"5111{d:02d}{TYPES[i % 8]}{i // 8 % 1000:03d}" for i, d in
            ((i, i // 8000 % 100) for i in range(n))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    state = ROOT / "var" / "bench" / "disclosure"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    db_url = f"sqlite:///{state / 'platform.db'}"
    app = create_app(Settings(database_url=db_url))
    staff1, staff2 = Actor(1, "wang", "bureau_staff"), Actor(2, "li", "bureau_staff")

    codes = _codes(args.records)
    t0 = time.perf_counter()
    ids = []
    with app.state.sessions() as s:
        for i, code in enumerate(codes):
            ids.append(service.store_draft(session=s, figures=figures(
                code, 2025, name=f"公共建筑 {i}", district=DISTRICTS[i % len(DISTRICTS)],
                energy_tce=50.0 + i % 900, audit_required=i % 10 == 0)).record_id)
    t_store = time.perf_counter() - t0
    t0 = time.perf_counter()
    with app.state.sessions() as s:
        for rid in ids:
            for action, who in ((Action.submit, staff1), (Action.approve, staff2), (Action.publish, staff2)):
                service.act(session=s, record_id=rid, action=action, actor=who,
                            min_coverage=app.state.settings.min_coverage)
    t_workflow = time.perf_counter() - t0
    app.state.engine.dispose()

    port = free_port()
    env = {**os.environ, "EP_DATABASE_URL": db_url, "EP_RUN_SCHEDULER": "false"}
    log = open(state / "uvicorn.log", "wb")  # noqa: SIM115 - the server owns it
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
                             "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=url, timeout=120) as c:
            key = _staff_key(db_url)
            c.post("/disclosures/login", data={"api_key": key})
            cases = [
                ("public list, year filter (50 rows)", "/disclosures?year=2025"),
                ("public list, search by name", "/disclosures?q=%E5%85%AC%E5%85%B1%E5%BB%BA%E7%AD%91%2042"),
                ("building page (3 SVG charts)", f"/disclosures/buildings/{codes[len(codes) // 2]}"),
                ("JSON feed, 100 items", "/disclosures/feed.json?limit=100"),
                (f"CSV export, all {args.records}", "/disclosures/export.csv"),
                ("review queue (empty: all published)", "/disclosures/review"),
            ]
            print(f"\n{args.records} published disclosures, SQLite, uvicorn (1 worker), one sequential client\n")
            print(f"- freeze (store_draft, one transaction each): {args.records / t_store:,.0f} drafts/s")
            print(f"- submit + approve + publish (3 transactions each): {args.records / t_workflow:,.0f} records/s\n")
            print("| request | bytes | median ms | p95 ms |\n|---|---|---|---|")
            for name, path in cases:
                times, size = [], 0
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    r = c.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                    size = len(r.content)
                p95 = statistics.quantiles(times, n=20)[-1]
                print(f"| {name} | {size:,} | {statistics.median(times):.1f} | {p95:.1f} |")
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def _staff_key(db_url: str) -> str:
    from api.security import create_user
    from registry.db import make_engine, make_sessionmaker

    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        _, key = create_user(s, name="bench", role="bureau_staff")
        s.commit()
    engine.dispose()
    return key


if __name__ == "__main__":
    main()
