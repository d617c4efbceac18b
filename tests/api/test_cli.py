"""The command line across real process boundaries: create-admin prints a working key once, and
``python -m api`` serves the app with uvicorn on the given host and port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.localservers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path, influxd) -> dict[str, str]:
    return {**os.environ, "EP_ENV": "development", "EP_DATABASE_URL": f"sqlite:///{tmp_path}/registry.db",
            "EP_INFLUX_URL": influxd.url, "EP_WEBHOOK_SIGNING_KEY": "cli-test-signing-key"}


def _run(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_create_admin_then_serve(env):
    out = _run(env, "create-admin", "--name", "first-admin")
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert key.startswith("ep_") and len(key) > 40
    again = _run(env, "create-admin", "--name", "first-admin")
    assert again.returncode == 1 and "exists" in again.stderr

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        me = httpx.get(f"{url}/users/me", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert me.status_code == 200 and me.json()["role"] == "administrator"
        assert httpx.get(f"{url}/users/me", timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(15)


def test_production_refuses_to_start_without_secret(env):
    env = {**env, "EP_ENV": "production"}
    env.pop("EP_WEBHOOK_SIGNING_KEY")
    out = _run(env, "create-admin", "--name", "x")
    assert out.returncode != 0 and "EP_WEBHOOK_SIGNING_KEY" in out.stderr


def test_several_workers_refuse_the_in_process_scheduler(env):
    # Each uvicorn worker runs the lifespan that starts the scheduler: two workers, two schedulers.
    out = _run({**env, "EP_RUN_SCHEDULER": "true"}, "--workers", "2", "--port", str(free_port()))
    assert out.returncode == 2 and "2 alert schedulers" in out.stderr, out.stderr
