"""deploy/docker-compose.yml validated by the real ``docker-compose config`` (Debian's package
works offline for that): with the .env.example values filled in it resolves every service, and
with a REQUIRED value left empty it refuses and names the variable."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboards import common as c

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
EXAMPLE = ROOT / "deploy" / ".env.example"
SECRETS = {"INFLUX_ADMIN_PASSWORD": "a-secret", "INFLUX_READ_PASSWORD": "r-secret",
           "GRAFANA_ADMIN_PASSWORD": "g-secret", "EP_WEBHOOK_SIGNING_KEY": "w" * 40,
           "EP_COLLECTOR_KEY_SECRET": "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtbG9uZy1rZXk="}


def _docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    # deploy/bootstrap.sh installs it; only a hand-made environment lacks it, and CI must not skip.
    if os.environ.get("CI"):
        pytest.fail("docker-compose is missing: deploy/bootstrap.sh should have installed it")
    pytest.skip("docker-compose is not installed (deploy/bootstrap.sh installs Debian's package)")


def _env_file(tmp_path: Path, overrides: dict[str, str]) -> Path:
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={overrides[key]}" if "=" in line and key in overrides else line)
    f = tmp_path / ".env"
    f.write_text("\n".join(lines) + "\n")
    return f


def _config(env_file: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run([_docker_compose(), "-f", str(COMPOSE), "--env-file", str(env_file), "config"],
                          capture_output=True, text=True, timeout=120, env=clean)


def test_compose_config_resolves_all_services(tmp_path):
    r = _config(_env_file(tmp_path, SECRETS))
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    assert set(cfg["services"]) == {"mosquitto", "influxdb", "grafana", "setup", "ingest", "api", "rollup",
                                  "collectors", "simulator"}
    grafana = cfg["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana:11.")
    # docker-compose 1.x prints "source:target:mode"; the Compose v2 plugin prints mappings.
    mounts = {v["target"]: v["source"] for v in grafana["volumes"] if isinstance(v, dict)}
    mounts |= {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"] if isinstance(v, str)}
    assert Path(mounts["/etc/grafana/provisioning"]) == ROOT / "deploy" / "grafana" / "provisioning"
    assert Path(mounts["/var/lib/grafana/dashboards/energy"]) == ROOT / "deploy" / "grafana" / "dashboards"
    assert cfg["services"]["influxdb"]["image"] == "influxdb:1.8"
    assert grafana["environment"]["INFLUX_PASSWORD"] == "r-secret"
    # Viewers (facility managers) get no Explore and no query editing (docs/dashboards.md).
    assert grafana["environment"]["GF_USERS_VIEWERS_CAN_EDIT"] == "false"
    assert grafana["environment"]["GF_USERS_AUTO_ASSIGN_ORG_ROLE"] == "Viewer"
    assert "$(hostname)" in " ".join(cfg["services"]["ingest"]["command"])  # a client id per worker
    # The rollup job writes, the API reads, and the generated dashboards query one retention policy.
    svc = cfg["services"]
    assert svc["collectors"]["environment"]["EP_COLLECTOR_KEY_SECRET"] == SECRETS["EP_COLLECTOR_KEY_SECRET"]
    assert svc["rollup"]["environment"]["EP_ROLLUP_RP"] == svc["api"]["environment"]["EP_ROLLUP_RP"] == c.ROLLUP_RP
    # InfluxDB runs with authentication, and every service that talks to it logs in (storage/settings.py).
    assert svc["influxdb"]["environment"]["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    for name in ("setup", "ingest", "api", "rollup"):
        env = svc[name]["environment"]
        assert (env["EP_INFLUX_USERNAME"], env["EP_INFLUX_PASSWORD"]) == ("admin", "a-secret"), name


def test_compose_refuses_missing_secret(tmp_path):
    r = _config(_env_file(tmp_path, {**SECRETS, "GRAFANA_ADMIN_PASSWORD": ""}))
    assert r.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in r.stderr
