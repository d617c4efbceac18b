"""One database with the small city of fleet_data.py, shared by the panel tests of a run."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dashboards import attributes, provisioning
from deploy.localservers import free_port
from storage.influx import InfluxHTTP
from tests.dashboards import fleet_data

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_TOKEN = "glsa_test_token"


@dataclass(frozen=True)
class City:
    url: str
    db: str
    t_end_ms: int

    @property
    def t0_ms(self) -> int:
        return self.t_end_ms - fleet_data.INTERVALS * fleet_data.STEP_MS


@pytest.fixture(scope="session")
def generated() -> dict[str, dict]:
    """uid -> dashboard JSON, generated once."""
    return {d["uid"]: d for d in provisioning.dashboards()}


@pytest.fixture(scope="module")
def city(influxd) -> City:
    db = "dash_" + uuid.uuid4().hex[:8]
    httpx.post(f"{influxd.url}/query", data={"q": f'CREATE DATABASE "{db}"'}).raise_for_status()
    t_end = fleet_data.end_ms()
    fleet_data.write(influxd.url, db, fleet_data.lines(t_end))
    fleet_data.rollup_daily(influxd.url, db, t_end - fleet_data.INTERVALS * fleet_data.STEP_MS, t_end)
    # The registry attributes through the real sync command path (HTTP /write).
    attributes.sync(fleet_data.fleet(), InfluxHTTP(influxd.url, db), ts_ms=t_end)
    yield City(influxd.url, db, t_end)
    httpx.post(f"{influxd.url}/query", data={"q": f'DROP DATABASE "{db}"'})


@pytest.fixture
def grafana():
    """A fresh fake Grafana (tests/dashboards/fake_grafana.py) under uvicorn in a subprocess."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.dashboards.fake_grafana", "--port", str(port),
                             "--token", GRAFANA_TOKEN], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("fake Grafana did not start")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)
