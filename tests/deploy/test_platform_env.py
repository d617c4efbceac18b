"""One registry setting for every command line: ``EP_DATABASE_URL``, from the environment, else from
the running platform's settings file that deploy/run.py writes (real subprocesses, real SQLite)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from storage.settings import write_platform_env
from tests.registry.test_registry import FLEET_YAML

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("EP_DATABASE_URL", "REGISTRY_DATABASE_URL")}
    return {**base, **extra}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def _platform(tmp_path: Path) -> tuple[str, Path]:
    """A registry with the 2 buildings of FLEET_YAML and a platform settings file naming it."""
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET_YAML)
    r = _run(_env(EP_PLATFORM_ENV=""), "registry", "--database-url", url, "import", "--fleet", str(fleet))
    assert r.returncode == 0, r.stderr
    env_file = tmp_path / "platform.env"
    write_platform_env(env_file, {"EP_DATABASE_URL": url, "EP_INFLUX_DB": "energy"})
    return url, env_file


def test_a_hand_run_export_acts_on_the_running_platform(tmp_path):
    _, env_file = _platform(tmp_path)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # it may hold credentials
    r = _run(_env(EP_PLATFORM_ENV=str(env_file)), "registry", "export", "--fleet", str(tmp_path / "out.yaml"))
    assert r.returncode == 0, r.stderr
    assert "exported 2 buildings" in r.stdout  # FLEET_YAML: 510402A001 and one more


def test_an_ep_variable_overrides_the_file_and_an_empty_registry_is_an_error(tmp_path):
    _, env_file = _platform(tmp_path)
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    env = _env(EP_PLATFORM_ENV=str(env_file), EP_DATABASE_URL=empty)
    r = _run(env, "registry", "export", "--fleet", str(tmp_path / "out.yaml"))
    assert r.returncode == 1
    assert "empty.db has no buildings" in r.stderr and "EP_DATABASE_URL" in r.stderr
    assert not (tmp_path / "out.yaml").exists()
    r = _run(env, "analytics", "report", "--year", "2025")
    assert r.returncode == 1 and "report: the registry" in r.stderr and "has no buildings" in r.stderr
    r = _run(env, "api.disclosure", "generate", "--year", "2025")
    assert r.returncode == 1 and "generate: the registry" in r.stderr and "has no buildings" in r.stderr


def test_the_former_name_still_works_with_a_deprecation_warning(tmp_path):
    url, _ = _platform(tmp_path)
    r = _run(_env(EP_PLATFORM_ENV="", REGISTRY_DATABASE_URL=url), "registry", "export", "--fleet",
             str(tmp_path / "out.yaml"))
    assert r.returncode == 0, r.stderr
    assert "exported 2 buildings" in r.stdout
    assert "REGISTRY_DATABASE_URL is deprecated" in r.stderr and "EP_DATABASE_URL" in r.stderr
