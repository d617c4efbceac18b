"""Latency and throughput of the API at 50 concurrent clients, 1,000 buildings, a year of data.

Run: ``python -m bench.api_load`` (about 2 minutes). Starts its own InfluxDB under ``var/bench/``,
a SQLite registry with 1,000 buildings (``bench.analytics_city.make_fleet``), writes the daily
rollups the indicator endpoints read (1 January of last year to yesterday, so this year has a
calendar, rolling and projected audit window and a previous year for the year-on-year columns)
into a 52-week retention policy, then serves the API with ``python -m api`` (uvicorn, one
worker) and drives it from a SECOND process (``python -m bench.api_load client``: httpx asyncio,
one connection per simulated client) for:

* ``GET /buildings/{code}/indicators`` with a random building per request;
* ``GET /audit`` (the audit list for the year, first page of 100).

The first request of each endpoint is timed separately (it builds the cached city frames). Side
by side in the same run, the indicator endpoint with the frame cache switched off
(``EP_INDICATOR_CACHE_TTL_S=0``, 5 clients) shows what the cache buys. Results print as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- load generator (2nd process)
async def _client_loop(client: httpx.AsyncClient, paths: list[str], stop_at: float, lat: list[float],
                       errors: list[str], max_requests: int | None, counter: list[int]) -> None:
    rnd = random.Random(id(lat) ^ len(paths))
    while time.monotonic() < stop_at and (max_requests is None or counter[0] < max_requests):
        counter[0] += 1
        path = rnd.choice(paths)
        t0 = time.perf_counter()
        try:
            r = await client.get(path)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {path}")
        except httpx.HTTPError as e:
            errors.append(f"{type(e).__name__} {path}")
        lat.append(time.perf_counter() - t0)


async def _raw_loop(url: str, key: str, paths: list[str], stop_at: float, lat: list[float],
                    errors: list[str]) -> None:
    """One keep-alive connection on bare asyncio streams: a fifth of httpx's client CPU per request,
    so one Python core keeps up with a server near 2,000 req/s (httpx saturates near 1,000)."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    rnd = random.Random(id(lat) ^ len(paths))
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < stop_at:
            path = rnd.choice(paths)
            t0 = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n")
                          if h.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(f"{head.split(b' ')[1].decode()} {path}")
            lat.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def _load(url: str, key: str, paths: list[str], concurrency: int, duration_s: float,
                max_requests: int | None, raw: bool = False) -> dict:
    headers = {"Authorization": f"Bearer {key}"}
    lat: list[float] = []
    errors: list[str] = []
    counter = [0]
    clients = [] if raw else [httpx.AsyncClient(base_url=url, headers=headers, timeout=120,
                                                limits=httpx.Limits(max_connections=1)) for _ in range(concurrency)]
    t0 = time.perf_counter()
    stop_at = time.monotonic() + duration_s
    if raw:
        await asyncio.gather(*(_raw_loop(url, key, paths, stop_at, lat, errors) for _ in range(concurrency)))
    else:
        await asyncio.gather(*(_client_loop(c, paths, stop_at, lat, errors, max_requests, counter) for c in clients))
    wall = time.perf_counter() - t0
    for c in clients:
        await c.aclose()
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [lat[0]] * 99
    return {"requests": len(lat), "errors": len(errors), "error_samples": errors[:5], "wall_s": wall,
            "throughput_rps": len(lat) / wall, "p50_ms": q[49] * 1000, "p95_ms": q[94] * 1000,
            "p99_ms": q[98] * 1000, "max_ms": lat[-1] * 1000}


def client_main(args) -> None:
    paths = json.loads(Path(args.paths).read_text())
    out = asyncio.run(_load(args.url, args.key, paths, args.concurrency, args.duration, args.max_requests, args.raw))
    print(json.dumps(out))


# --------------------------------------------------------------------------- set-up and orchestration
def _drive(url: str, key: str, paths: list[str], state: Path, concurrency: int, duration_s: float,
           max_requests: int | None = None, raw: bool = False) -> dict:
    pf = state / "paths.json"
    pf.write_text(json.dumps(paths))
    cmd = [sys.executable, "-m", "bench.api_load", "client", "--url", url, "--key", key, "--paths", str(pf),
           "--concurrency", str(concurrency), "--duration", str(duration_s)]
    if max_requests:
        cmd += ["--max-requests", str(max_requests)]
    if raw:
        cmd.append("--raw")
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


_WRK_LUA = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local auth = "Bearer %(key)s"
request = function()
  return wrk.format("GET", paths[math.random(#paths)], {["Authorization"] = auth})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %%d, "errors": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, '
    .. '"p99_us": %%d, "max_us": %%d}\\n', summary.requests, e.status + e.connect + e.read + e.write + e.timeout,
    summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def _drive_wrk(url: str, key: str, paths: list[str], state: Path, concurrency: int, duration_s: float) -> dict:
    """The same load from ``wrk`` (C, 2 threads): far less client CPU than Python on a 2-core box."""
    pf, script = state / "paths.txt", state / "load.lua"
    pf.write_text("\n".join(paths) + "\n")
    script.write_text(_WRK_LUA % {"paths": pf, "key": key})
    out = subprocess.run(["wrk", "-t2", f"-c{concurrency}", f"-d{duration_s:.0f}s", "--timeout", "30s",
                          "-s", str(script), url], capture_output=True, text=True, check=True)
    r = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    wall = r["duration_us"] / 1e6
    return {"requests": r["requests"], "errors": r["errors"], "error_samples": [], "wall_s": wall,
            "throughput_rps": r["requests"] / wall, "p50_ms": r["p50_us"] / 1000, "p95_ms": r["p95_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "max_ms": r["max_us"] / 1000}


def _serve(env: dict, port: int, log: Path, workers: int = 1) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers), "--no-access-log"], cwd=ROOT,
                            env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"API did not start; see {log}")


def _first(url: str, key: str, path: str) -> float:
    t0 = time.perf_counter()
    r = httpx.get(url + path, headers={"Authorization": f"Bearer {key}"}, timeout=600)
    r.raise_for_status()
    return time.perf_counter() - t0


def city_setup(state: Path, buildings: int, seed: int, influx_url: str) -> dict:
    """The 1,000-building city this bench serves: daily rollups from 1 January of last year to
    yesterday in InfluxDB at ``influx_url`` (database ``bench``, policy ``rollup``), a SQLite
    registry with the fleet and an auditor; returns what the API and the load need."""
    from analytics import rollup
    from api.security import Role, create_user
    from bench.analytics_city import lines_for_day, make_fleet, write_all
    from contract.localtime import local_midnight
    from registry import db as registry_db
    from registry import repo
    from storage.influx import InfluxHTTP

    today = dt.date.today()
    year = today.year
    days = [dt.date(year - 1, 1, 1) + dt.timedelta(days=i) for i in range((today - dt.date(year - 1, 1, 1)).days)]
    admin_db = InfluxHTTP(influx_url, "bench", timeout_s=600)
    admin_db.create_database()
    rollup.ensure_rollup_rp(admin_db, "rollup", "52w")
    fleet, kinds = make_fleet(buildings, seed)
    t0 = time.perf_counter()
    points = write_all(InfluxHTTP(influx_url, "bench", retention_policy="rollup", timeout_s=600),
                       (lines_for_day(int(local_midnight(d).timestamp() * 1000), kinds) for d in days))
    write_s = time.perf_counter() - t0
    engine = registry_db.make_engine(f"sqlite:///{state / 'registry.db'}")
    registry_db.migrate(engine)
    with registry_db.session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=fleet)
        _, key = create_user(s, name="bench-auditor", role=Role.auditor)
    env = {**os.environ, "EP_ENV": "development", "EP_DATABASE_URL": f"sqlite:///{state / 'registry.db'}",
           "EP_INFLUX_URL": influx_url, "EP_INFLUX_DB": "bench", "EP_ROLLUP_RP": "rollup",
           "EP_WEBHOOK_SIGNING_KEY": "bench-signing-key"}
    return {"year": year, "days": days, "points": points, "write_s": write_s, "engine": engine, "key": key,
            "codes": [b.building_code for b in fleet.buildings], "env": env}


def run(args) -> None:
    from deploy.localservers import Influxd, free_port

    state = ROOT / "var" / "bench" / "api_load"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    influxd = Influxd(state / "influxdb").start()
    try:
        city = city_setup(state, args.buildings, args.seed, influxd.url)
        year, days, points, write_s = city["year"], city["days"], city["points"], city["write_s"]
        key, codes, env = city["key"], city["codes"], city["env"]
        ind_paths = [f"/buildings/{c}/indicators?year={year}" for c in codes]
        audit_paths = [f"/audit?year={year}&limit=100"]
        rows = []
        port = free_port()
        proc = _serve(env, port, state / "api.log", workers=args.workers)
        url = f"http://127.0.0.1:{port}"
        try:
            cold_ind = _first(url, key, ind_paths[0])
            cold_audit = _first(url, key, audit_paths[0])
            r_ind = _drive(url, key, ind_paths, state, args.concurrency, args.duration)
            r_audit = _drive(url, key, audit_paths, state, args.concurrency, args.duration)
            rows += [("building indicators (cached frames), httpx", args.concurrency, r_ind, cold_ind),
                     ("audit list, page of 100 (cached frames), httpx", args.concurrency, r_audit, cold_audit)]
            if shutil.which("wrk"):
                # Repeated and interleaved: on a shared 2-core machine one run's tail can be another
                # process's burst; the median of the runs is the figure to quote.
                for i in range(args.repeats):
                    rows += [(f"building indicators (cached frames), wrk, run {i + 1}", args.concurrency,
                              _drive_wrk(url, key, ind_paths, state, args.concurrency, args.duration), None),
                             (f"audit list, page of 100 (cached frames), wrk, run {i + 1}", args.concurrency,
                              _drive_wrk(url, key, audit_paths, state, args.concurrency, args.duration), None)]
            for conc in (5, 1):
                rows.append(("building indicators (cached frames), httpx", conc,
                             _drive(url, key, ind_paths, state, conc, args.duration / 2), None))
        finally:
            proc.terminate()
            proc.wait(15)
        port = free_port()
        proc = _serve({**env, "EP_INDICATOR_CACHE_TTL_S": "0"}, port, state / "api-nocache.log")
        url = f"http://127.0.0.1:{port}"
        try:
            r_nc = _drive(url, key, ind_paths, state, 5, args.duration * 3, max_requests=args.uncached_requests)
            rows.append(("building indicators, frame cache off, httpx", 5, r_nc, None))
        finally:
            proc.terminate()
            proc.wait(15)
        print(f"\n{args.buildings} buildings, {len(days)} days of daily rollups ({points:,} points, written in "
              f"{write_s:.1f} s), year {year}; API: {args.workers} uvicorn worker(s); load from a second "
              f"process (httpx asyncio, or wrk), {args.duration:.0f} s per endpoint.\n")
        print("| endpoint | clients | requests | errors | throughput [req/s] | p50 [ms] | p95 [ms] | p99 [ms] "
              "| first request [s] |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, conc, r, cold in rows:
            print(f"| {name} | {conc} | {r['requests']} | {r['errors']} | {r['throughput_rps']:.1f} | "
                  f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
                  f"{'' if cold is None else f'{cold:.2f}'} |")
        for what in ("building indicators", "audit list"):
            runs = [r for name, _, r, _ in rows if name.startswith(what) and ", wrk, run" in name]
            if runs:
                p95 = sorted(r["p95_ms"] for r in runs)
                rps = sorted(r["throughput_rps"] for r in runs)
                print(f"\n{what}, wrk, {len(runs)} runs: median p95 {statistics.median(p95):.1f} ms "
                      f"(runs {', '.join(f'{v:.0f}' for v in p95)}), median throughput "
                      f"{statistics.median(rps):.0f} req/s")
        cached5 = next(r for name, conc, r, _ in rows if conc == 5 and "cache off" not in name)
        ratio = rows[-1][2]["p50_ms"] / cached5["p50_ms"]
        print(f"\nCache off / cache on, p50 of one building's indicators at 5 clients: {ratio:.0f}x")
        errs = [s for _, _, r, _ in rows for s in r["error_samples"]]
        if errs:
            print("\nerror samples:", errs)
    finally:
        influxd.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    c = sub.add_parser("client", help="the load generator (run in its own process)")
    c.add_argument("--url", required=True)
    c.add_argument("--key", required=True)
    c.add_argument("--paths", required=True)
    c.add_argument("--concurrency", type=int, default=50)
    c.add_argument("--duration", type=float, default=20)
    c.add_argument("--max-requests", type=int, default=None)
    c.add_argument("--raw", action="store_true", help="bare asyncio streams instead of httpx (no --max-requests)")
    for p in (ap,):
        p.add_argument("--buildings", type=int, default=1000)
        p.add_argument("--concurrency", type=int, default=50)
        p.add_argument("--duration", type=float, default=20, help="seconds of load per endpoint")
        p.add_argument("--uncached-requests", type=int, default=30)
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the API")
        p.add_argument("--repeats", type=int, default=3, help="wrk runs per endpoint")
    args = ap.parse_args()
    if args.cmd == "client":
        client_main(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
