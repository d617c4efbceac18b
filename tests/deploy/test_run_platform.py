"""deploy/run.py started as a user starts it (a tiny fleet: 3 buildings, the least a fleet has; one
day of history; any free ports): once it says it is running, every banner address answers and the
indicators are already non-zero."""

from __future__ import annotations

import datetime as dt
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
#: Bound on the whole start on a busy 2-core machine: fleet, broker, InfluxDB, a day's catch-up, rollup. [s]
START_BOUND_S = 900


def _lines(proc: subprocess.Popen, out: queue.Queue) -> None:
    for line in proc.stdout:
        out.put(line)
    out.put(None)


def test_the_banner_means_running_with_indicators(tmp_path):
    env = {**os.environ, "EP_PLATFORM_ENV": ""}
    env.pop("EP_DATABASE_URL", None)
    ports = [a for name in ("mqtt", "influx", "api", "metrics", "collectors") for a in ("--port", f"{name}=0")]
    proc = subprocess.Popen([sys.executable, "-m", "deploy.run", "--state", str(tmp_path / "platform"),
                             "--fleet-size", "3", "--backfill-days", "1", "--no-tls", *ports],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc, lines), daemon=True).start()
    seen: list[str] = []
    try:
        while not any("Press Ctrl-C to stop." in s for s in seen):
            line = lines.get(timeout=START_BOUND_S)
            assert line is not None, "deploy/run.py ended before its banner:\n" + "".join(seen)
            seen.append(line)
        banner = "".join(seen)
        assert "The platform is running" in banner
        api = re.search(r"API\s+(http://127\.0\.0\.1:\d+)/docs", banner).group(1)
        influx = re.search(r"InfluxDB\s+(http://127\.0\.0\.1:\d+)", banner).group(1)
        metrics = re.search(r"ingest metrics\s+(http://\S+/metrics)", banner).group(1)
        key = re.search(r"administrator key: (\S+)", banner).group(1)
        assert httpx.get(f"{api}/docs", timeout=30).status_code == 200
        assert httpx.get(f"{influx}/ping", timeout=30).status_code == 204
        assert urllib.request.urlopen(metrics, timeout=30).status == 200  # noqa: S310 - loopback
        year = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).year  # the backfilled day's year (CST may differ
        # by a day at a year's turn only for a start in its first 8 hours)
        r = httpx.get(f"{api}/city/indicators", params={"year": year},
                      headers={"Authorization": f"Bearer {key}"}, timeout=120)
        assert r.status_code == 200, r.text
        # Non-zero at the banner: three buildings' day of history is rolled up before it is printed.
        assert r.json()["indicators"]["electricity_kwh"] > 0
        # Every registered building (the fleet's 3 and the 3 behind simulated data collectors) has its
        # attributes in InfluxDB for the dashboards' floor-area and kWp panels, synced after each import.
        auth = {"Authorization": f"Bearer {key}"}
        buildings = httpx.get(f"{api}/buildings", headers=auth, timeout=60).json()["items"]
        synced = httpx.get(f"{influx}/query", params={"db": "energy", "q": 'SELECT last("floor_area_m2") FROM '
                                                      '"building" GROUP BY "building_code"'}, timeout=60).json()
        areas = {s["tags"]["building_code"]: s["values"][0][1] for s in synced["results"][0]["series"]}
        assert areas == {b["building_code"]: b["floor_area_m2"] for b in buildings} and len(areas) == 6
        # The settings a hand-run CLI reads (docs/settings.md), private to the user.
        env_file = tmp_path / "platform" / "platform.env"
        assert env_file.stat().st_mode & 0o077 == 0
        assert f"EP_DATABASE_URL='sqlite:///{tmp_path / 'platform' / 'registry.db'}'" in env_file.read_text()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
