"""Every service against a real InfluxDB with authentication enabled (admin created through the
HTTP API by ``deploy.localservers.Influxd``): with the credentials of storage/settings.py each one
reads and writes; without them each one fails and says that the credentials were refused.

Services: ingest (writes), the analytics rollup (reads raw, writes rollups), the API (reads), the
alert engine (reads), the disclosure generation (reads rollups), the dashboards attribute sync (writes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deploy.localservers import Influxd
from deploy.passwords import new_password
from storage.influx import InfluxHTTP
from tests.ingest.helpers import (
    BUILDING,
    STEP_MS,
    T0_MS,
    IngestProcess,
    Publisher,
    ingest_argv,
    meter_msg,
    meter_topic,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-01-01"  # T0_MS is 2026-01-01T00:00+08:00, the local day the rollup covers
REFUSED = "credentials refused or missing"


@pytest.fixture(scope="module")
def secured(state_root: Path) -> Influxd:
    # An admin password starting with '-' on purpose: an operator may choose one, and a generated
    # one once did (CI failed: argparse read it as an option). Every service below must take it.
    server = Influxd(state_root / f"influxdb-auth-{uuid.uuid4().hex[:6]}", auth_enabled=True,
                     admin_password="-" + new_password(16)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(secured: Influxd, mosquitto, tmp_path_factory) -> dict:
    """A database with two readings written by ingest with credentials, and a registry with the
    building and an administrator; shared by the tests of this module in file order."""
    tmp = tmp_path_factory.mktemp("auth")
    db = "secure_" + uuid.uuid4().hex[:6]
    admin = InfluxHTTP(secured.url, db, username=secured.admin_user, password=secured.admin_password)
    url = f"sqlite:///{tmp}/registry.db"
    from api.security import Role, create_user
    from registry import db as registry_db
    from registry import repo
    from tests.api.conftest import building

    engine = registry_db.make_engine(url)
    registry_db.migrate(engine)
    with registry_db.make_sessionmaker(engine)() as s:
        repo.upsert_building(session=s, spec=building(BUILDING, "Shizhong"))
        _, key = create_user(s, name="admin", role=Role.administrator)
        s.commit()
    engine.dispose()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EP_")},
           "EP_ENV": "development", "EP_DATABASE_URL": url, "EP_INFLUX_URL": secured.url, "EP_INFLUX_DB": db,
           "EP_RUN_SCHEDULER": "false", "PYTHONPATH": str(ROOT)}
    creds = {"EP_INFLUX_USERNAME": secured.admin_user, "EP_INFLUX_PASSWORD": secured.admin_password}
    yield {"db": db, "admin": admin, "tmp": tmp, "url": url, "key": key, "env": env, "creds": creds}
    admin.close()


def _run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def _count(admin: InfluxHTTP, device_id: str) -> int:
    rows = admin.query('SELECT count("register_kwh") FROM "meter" WHERE "device_id" = $d', params={"d": device_id})
    return rows[0]["values"][0][1] if rows else 0


def test_ingest_writes_with_credentials_and_reports_refusal_without(secured, mosquitto, world):
    admin, tmp = world["admin"], world["tmp"]
    base = ingest_argv(mosquitto.port, secured.url, world["db"])
    # The '=' form: the password starts with '-' (tests/deploy/test_passwords.py).
    good = IngestProcess([*base, "--influx-username", secured.admin_user,
                          f"--influx-password={secured.admin_password}"], tmp / "ingest-good.log").start()
    bad = IngestProcess(ingest_argv(mosquitto.port, secured.url, world["db"], "--share-group", "nocreds"),
                        tmp / "ingest-bad.log")
    try:
        good.wait_connected()
        pub = Publisher(mosquitto.port)
        pub.publish(meter_topic("E-MAIN"), meter_msg("E-MAIN", [(T0_MS, {"register": 100.0}),
                                                               (T0_MS + STEP_MS, {"register": 101.5})],
                                                     sub_item="main"))
        pub.wait()
        # The database did not exist: ingest created it (admin right) and wrote both readings.
        wait_until(lambda: _count(admin, "E-MAIN") == 2, 60, "two readings stored with credentials")
        good.terminate()
        # Without credentials (its own share group, so it gets the next message too): nothing is
        # written, and the log says why instead of a bare status.
        bad.start()
        bad.wait_connected()
        pub.publish(meter_topic("E-NOAUTH"), meter_msg("E-NOAUTH", [(T0_MS, {"register": 1.0})]))
        pub.close()
        # (A register reading is first looked up, then written: whichever is refused first logs it.)
        wait_until(lambda: REFUSED in bad.log_path.read_text().split('"msg": "subscribed"', 1)[-1], 60,
                   "ingest to log the refused request of the message")
        assert _count(admin, "E-NOAUTH") == 0
    finally:
        for p in (good, bad):
            if p.proc is not None and p.proc.poll() is None:
                p.kill()


def test_rollup_reads_and_writes_with_credentials_and_exits_clearly_without(world):
    argv = ["analytics", "rollup", "--from", DAY, "--to", DAY, "--no-rederive"]
    r = _run(argv, {**world["env"], **world["creds"]})
    assert r.returncode == 0, r.stderr[-2000:]
    # Read the two raw readings, wrote the day: consumption 101.5 - 100 = 1.5 kWh in interval 2.
    rows = world["admin"].query('SELECT sum("consumption_kwh") FROM "rollup"."meter_1d"')
    assert rows and rows[0]["values"][0][1] == pytest.approx(1.5)
    r = _run(argv, world["env"])
    assert r.returncode == 1 and REFUSED in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def _api(world: dict, **creds):
    from api.app import create_app
    from api.settings import Settings

    settings = Settings(env="development", database_url=world["url"], influx_url=world["env"]["EP_INFLUX_URL"],
                        influx_db=world["db"], **creds)
    return create_app(settings)


def test_api_reads_with_credentials_and_answers_502_without(secured, world):
    params = {"measurement": "meter", "field": "register_kwh",
              "start": "2025-12-31T16:00:00Z", "end": "2026-01-01T16:00:00Z", "interval": "1d"}
    auth = {"Authorization": f"Bearer {world['key']}"}
    for creds, status in (({"influx_username": secured.admin_user, "influx_password": secured.admin_password}, 200),
                          ({}, 502)):
        app = _api(world, **creds)
        with TestClient(app) as client:
            r = client.get(f"/buildings/{BUILDING}/readings", params=params, headers=auth)
        app.state.engine.dispose()
        assert r.status_code == status, r.text
        if status == 200:
            # last register of the day: 101.5 kWh (the second reading), device E-MAIN
            assert [(s["device_id"], s["points"][-1]["value"]) for s in r.json()["series"]] == [("E-MAIN", 101.5)]
        else:
            assert r.json()["code"] == "storage_error" and REFUSED in r.json()["message"]


def test_alert_engine_reads_with_credentials_and_exits_clearly_without(world):
    r = _run(["api", "alerts", "--once"], {**world["env"], **world["creds"]})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("1 buildings,"), r.stdout  # the one registered building was judged
    assert "alert events copied to InfluxDB" in r.stdout  # the copy for Grafana writes with them too
    r = _run(["api", "alerts", "--once"], world["env"])
    assert r.returncode == 1 and REFUSED in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_disclosure_generate_reads_with_credentials_and_exits_clearly_without(world):
    argv = ["api.disclosure", "generate", "--year", "2026", "--no-progress"]
    r = _run(argv, {**world["env"], **world["creds"]})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "year 2026: 1 new draft(s), 0 unchanged, 0 failed" in r.stdout
    r = _run(argv, world["env"])
    assert r.returncode == 1 and REFUSED in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_dashboards_sync_writes_with_credentials_and_exits_clearly_without(world):
    fleet = world["tmp"] / "fleet.yaml"
    from registry.fleet import Fleet
    from tests.api.conftest import building

    Fleet(buildings=[building(BUILDING, "Shizhong")]).dump(fleet)
    r = _run(["dashboards", "sync-buildings", "--fleet", str(fleet)], {**world["env"], **world["creds"]})
    assert r.returncode == 0, r.stderr[-2000:]
    rows = world["admin"].query('SELECT last("floor_area_m2") FROM "building"')
    assert rows[0]["values"][0][1] == 10_000.0  # the helper's default floor area [m2]
    r = _run(["dashboards", "sync-buildings", "--fleet", str(fleet)], world["env"])
    assert r.returncode == 1 and REFUSED in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
