"""A real API server (uvicorn subprocess) on a fresh SQLite registry database, with users of every
role. Records are written by the tests through the service layer into the same database file."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from api.app import create_app
from api.db import Assignment
from api.disclosure import service
from api.security import create_user
from api.settings import Settings
from deploy.localservers import free_port
from storage.influx import InfluxHTTP
from tests.api.disclosure.factories import figures

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "disclosure"
FM_BUILDING = "510402A001"
_DISTINCT = itertools.count(1)


@dataclass
class Platform:
    url: str
    db_url: str
    keys: dict[str, str]
    sessions: object  # sessionmaker
    influx: InfluxHTTP  # the server's database on the real InfluxDB (rollups for generation)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def draft(self, building_code: str = FM_BUILDING, year: int = 2025, **kw) -> int:
        """A fresh draft with the factory's figures; returns its record id.

        Without an explicit ``energy_tce`` each call gets a distinct value, so the snapshot differs
        and a new version is stored (identical figures would return the existing open version).
        """
        kw.setdefault("energy_tce", 100.0 + next(_DISTINCT) / 10)
        with self.sessions() as s:
            return service.store_draft(session=s, figures=figures(building_code, year, **kw)).record_id

    def session(self) -> Session:
        return self.sessions()


@pytest.fixture(scope="session")
def platform(tmp_path_factory, influxd) -> Platform:
    tmp = tmp_path_factory.mktemp("disclosure")
    db_url = f"sqlite:///{tmp / 'platform.db'}"
    influx = InfluxHTTP(influxd.url, f"disclosure_{tmp.name.replace('-', '_')}")
    influx.create_database()
    env = {**os.environ, "EP_ENV": "development", "EP_DATABASE_URL": db_url, "EP_INFLUX_URL": influxd.url,
           "EP_INFLUX_DB": influx.database, "EP_KEY_CACHE_TTL_S": "60", "EP_RUN_SCHEDULER": "false"}
    settings = Settings(database_url=db_url, influx_url=influxd.url, influx_db=influx.database)
    app = create_app(settings)  # runs the migrations of every table once, before the server starts
    keys = {}
    with app.state.sessions() as s:
        for name, role in (("staff1", "bureau_staff"), ("staff2", "bureau_staff"), ("fm", "facility_manager"),
                           ("fm_other", "facility_manager"), ("auditor", "auditor"), ("admin", "administrator")):
            user, keys[name] = create_user(s, name=name, role=role)
            if name == "fm":
                s.add(Assignment(user_id=user.id, building_code=FM_BUILDING))
        s.commit()
    port = free_port()
    log = open(tmp / "uvicorn.log", "wb")  # noqa: SIM115 - the server owns it until the end
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"uvicorn did not start: {(tmp / 'uvicorn.log').read_text()[-2000:]}")
        time.sleep(0.1)
    yield Platform(url=url, db_url=db_url, keys=keys, sessions=app.state.sessions, influx=influx)
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    influx.close()
    app.state.engine.dispose()


@pytest.fixture
def client(platform: Platform):
    with httpx.Client(base_url=platform.url, timeout=30) as c:
        yield c
