"""``python -m deploy.grafana_env`` in a subprocess, reading a platform settings file as
deploy/run.py writes it, and deploy/grafana-joined.yml validated offline by the real
``docker-compose config`` with the file it wrote. With authentication on, the read-only InfluxDB
user it creates is proven on a real InfluxDB: it reads, it cannot write."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from deploy.localservers import Influxd
from storage.influx import InfluxError, InfluxHTTP
from storage.settings import write_platform_env
from tests.dashboards.test_compose import _docker_compose

ROOT = Path(__file__).resolve().parents[2]
JOINED = ROOT / "deploy" / "grafana-joined.yml"


def _run(platform_env: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    # Only the settings file speaks for the platform: no EP_ variable of this test process.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EP_")}, "EP_PLATFORM_ENV": str(platform_env)}
    r = subprocess.run([sys.executable, "-m", "deploy.grafana_env", "--out", str(out), *extra], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def test_env_file_from_the_running_platform(tmp_path):
    platform = tmp_path / "platform.env"
    write_platform_env(platform, {"EP_INFLUX_URL": "http://127.0.0.1:18086", "EP_INFLUX_DB": "energy_city"})
    out = tmp_path / ".env"
    out.write_text("# the stack's settings\nAPI_PORT=8443\nGRAFANA_PORT=3300\n")
    _run(platform, out)
    first = dotenv_values(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert first["PLATFORM_INFLUX_URL"] == "http://127.0.0.1:18086" and first["INFLUX_DB"] == "energy_city"
    assert (first["INFLUX_READ_USER"], first["INFLUX_READ_PASSWORD"]) == ("", "")  # runner: no authentication
    assert len(first["GRAFANA_ADMIN_PASSWORD"]) >= 32
    assert first["API_PORT"] == "8443" and first["GRAFANA_PORT"] == "3300"  # other lines kept
    assert out.read_text().startswith("# the stack's settings\n")

    _run(platform, out)
    assert dotenv_values(out)["GRAFANA_ADMIN_PASSWORD"] == first["GRAFANA_ADMIN_PASSWORD"]  # never replaced...
    _run(platform, out, "--force")
    assert dotenv_values(out)["GRAFANA_ADMIN_PASSWORD"] != first["GRAFANA_ADMIN_PASSWORD"]  # ...unless forced

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GRAFANA", "INFLUX", "PLATFORM"))}
    r = subprocess.run([_docker_compose(), "-f", str(JOINED), "--env-file", str(out), "config"],
                       capture_output=True, text=True, timeout=120, env=clean)
    assert r.returncode == 0, r.stderr
    (name, svc), = yaml.safe_load(r.stdout)["services"].items()
    env = svc["environment"]
    assert name == "grafana-joined" and svc["network_mode"] == "host"  # reaches the runner's loopback InfluxDB
    assert env["INFLUX_URL"] == "http://127.0.0.1:18086" and env["INFLUX_DB"] == "energy_city"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == dotenv_values(out)["GRAFANA_ADMIN_PASSWORD"]
    assert env["GF_SERVER_HTTP_PORT"] == "3300" and env["GF_USERS_VIEWERS_CAN_EDIT"] == "false"
    stack = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    assert svc["image"] == stack["services"]["grafana"]["image"]  # one Grafana version for both ways


def test_compose_without_env_file_names_the_command(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GRAFANA", "INFLUX", "PLATFORM"))}
    r = subprocess.run([_docker_compose(), "-f", str(JOINED), "--env-file", str(empty), "config"],
                       capture_output=True, text=True, timeout=120, env=clean)
    assert r.returncode != 0 and "python -m deploy.grafana_env" in r.stderr


def test_env_file_is_not_in_git():
    r = subprocess.run(["git", "check-ignore", "-q", "deploy/.env"], cwd=ROOT)
    assert r.returncode == 0  # 1 would mean git would offer the passwords for a commit


@pytest.fixture(scope="module")
def secured(state_root: Path) -> Influxd:
    server = Influxd(state_root / f"influxdb-grafana-{uuid.uuid4().hex[:6]}", auth_enabled=True).start()
    yield server
    server.stop()


def test_read_only_user_with_authentication(tmp_path, secured):
    db = "g_" + uuid.uuid4().hex[:6]
    with InfluxHTTP(secured.url, db, username=secured.admin_user, password=secured.admin_password) as admin:
        admin.create_database()
        admin.write_lines(["meter,building_code=510402A001 energy_kwh=1.5 1767196800000"])
    platform = tmp_path / "platform.env"
    write_platform_env(platform, {"EP_INFLUX_URL": secured.url, "EP_INFLUX_DB": db,
                                  "EP_INFLUX_USERNAME": secured.admin_user,
                                  "EP_INFLUX_PASSWORD": secured.admin_password})
    out = tmp_path / ".env"
    _run(platform, out)
    v = dotenv_values(out)
    assert v["INFLUX_READ_USER"] == "grafana" and v["INFLUX_READ_PASSWORD"] not in ("", secured.admin_password)
    with InfluxHTTP(secured.url, db, username="grafana", password=v["INFLUX_READ_PASSWORD"]) as reader:
        (series,) = reader.query('SELECT "energy_kwh" FROM "meter"')
        assert series["values"] == [[1767196800000, 1.5]]
        with pytest.raises(InfluxError) as refused:
            reader.write_lines(["meter,building_code=510402A001 energy_kwh=9 1767196900000"])
        assert refused.value.status == 403

    _run(platform, out, "--force")  # a new password is set on the existing user, the old one stops working
    new = dotenv_values(out)["INFLUX_READ_PASSWORD"]
    assert new != v["INFLUX_READ_PASSWORD"]
    with InfluxHTTP(secured.url, db, username="grafana", password=new) as reader:
        assert reader.query('SELECT count("energy_kwh") FROM "meter"')[0]["values"][0][1] == 1
    with InfluxHTTP(secured.url, db, username="grafana", password=v["INFLUX_READ_PASSWORD"]) as stale:
        with pytest.raises(InfluxError):
            stale.query('SELECT count("energy_kwh") FROM "meter"')
