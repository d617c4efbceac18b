"""Fixtures that start the real servers.

``mosquitto`` and ``influxd`` are one instance each for the whole run (session scope), on free
loopback ports under ``var/test/<run>/``; tests that stop, kill or restart a server ask for
``own_mosquitto`` / ``own_influxd`` and get a fresh instance that no other test shares.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from deploy.localservers import Influxd, Mosquitto

ROOT = Path(__file__).resolve().parents[1]

# A platform started by hand in this checkout (deploy/run.sh) leaves var/platform/platform.env,
# which every settings class reads below the environment (docs/settings.md). Tests, and the
# processes they start, must not act on that platform's database or servers.
os.environ["EP_PLATFORM_ENV"] = ""


@pytest.fixture(scope="session")
def state_root() -> Path:
    run = ROOT / "var" / "test" / f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    run.mkdir(parents=True)
    yield run
    if os.environ.get("KEEP_TEST_STATE") != "1":
        shutil.rmtree(run, ignore_errors=True)


@pytest.fixture(scope="session")
def mosquitto(state_root: Path) -> Mosquitto:
    server = Mosquitto(state_root / "mosquitto").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxd(state_root: Path) -> Influxd:
    server = Influxd(state_root / "influxdb").start()
    yield server
    server.stop()


@pytest.fixture
def own_mosquitto(state_root: Path) -> Mosquitto:
    server = Mosquitto(state_root / f"mosquitto-{uuid.uuid4().hex[:6]}").start()
    yield server
    server.stop()


@pytest.fixture
def own_tls_mosquitto(state_root: Path) -> Mosquitto:
    """A broker of its own listening only on MQTT over TLS, with a certificate of a fresh platform
    CA (``server.tls.ca`` is what clients trust; ``server.connection()`` says so)."""
    from deploy.tls import ensure_server_cert

    d = state_root / f"mosquitto-tls-{uuid.uuid4().hex[:6]}"
    server = Mosquitto(d / "broker", tls=ensure_server_cert(d / "ca"), plain=False).start()
    yield server
    server.stop()


@pytest.fixture
def own_influxd(state_root: Path) -> Influxd:
    server = Influxd(state_root / f"influxdb-{uuid.uuid4().hex[:6]}").start()
    yield server
    server.stop()


@pytest.fixture
def fresh_db(influxd: Influxd, request) -> str:
    """A database of its own for one test, dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:10]
    httpx.post(f"{influxd.url}/query", data={"q": f'CREATE DATABASE "{name}"'}).raise_for_status()
    yield name
    httpx.post(f"{influxd.url}/query", data={"q": f'DROP DATABASE "{name}"'})
