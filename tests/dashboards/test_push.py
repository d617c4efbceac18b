"""``python -m dashboards push`` against a real HTTP server (tests/dashboards/fake_grafana.py,
run by uvicorn in a subprocess): folder created once, every dashboard saved by uid, a second
push updates (version 2) and never duplicates, a wrong token fails loudly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dashboards import common, provisioning
from dashboards.push import GrafanaError, push
from deploy.localservers import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "glsa_test_token"


@pytest.fixture
def grafana():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.dashboards.fake_grafana", "--port", str(port),
                             "--token", TOKEN], cwd=ROOT)
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


def _search(url: str) -> list[dict]:
    return httpx.get(f"{url}/api/search", headers={"Authorization": f"Bearer {TOKEN}"}).json()


def test_push_twice_updates_in_place(grafana):
    boards = provisioning.dashboards()
    first = push(grafana, TOKEN, boards)
    assert [p.version for p in first] == [1] * 5
    second = push(grafana, TOKEN, boards)
    assert [p.version for p in second] == [2] * 5  # same uid updated, not created again
    found = _search(grafana)
    dash = sorted(x["uid"] for x in found if x["type"] == "dash-db")
    assert dash == sorted(d["uid"] for d in boards)
    assert [x["uid"] for x in found if x["type"] == "dash-folder"] == [common.FOLDER_UID]
    assert {x["folderUid"] for x in found if x["type"] == "dash-db"} == {common.FOLDER_UID}
    stored = httpx.get(f"{grafana}/api/dashboards/uid/{common.OVERVIEW_UID}",
                       headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert stored["dashboard"]["panels"] == boards[0]["panels"]


def test_push_with_wrong_token_raises(grafana):
    with pytest.raises(GrafanaError, match="401") as err:
        push(grafana, "wrong", provisioning.dashboards())
    assert err.value.status_code == 401


def test_push_refuses_missing_token_and_uid():
    with pytest.raises(ValueError, match="token"):
        push("http://127.0.0.1:9", "", [])
    with pytest.raises(ValueError, match="without a uid"):
        push("http://127.0.0.1:9", TOKEN, [{"title": "no uid"}])


def test_push_command_line(grafana):
    out = subprocess.run([sys.executable, "-m", "dashboards", "push", "--url", grafana, "--token", TOKEN],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 5 and all("\tversion 1\t" in line for line in lines)
