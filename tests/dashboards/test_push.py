"""``python -m dashboards push`` against a real HTTP server (tests/dashboards/fake_grafana.py,
run by uvicorn in a subprocess): folder created once, every dashboard saved by uid, a second
push updates (version 2) and never duplicates, a wrong token fails loudly."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from grafana_client.client import GrafanaUnauthorizedError

from dashboards import common, provisioning
from dashboards.push import push
from tests.dashboards.conftest import GRAFANA_TOKEN as TOKEN
from tests.dashboards.conftest import ROOT


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
    with pytest.raises(GrafanaUnauthorizedError):
        push(grafana, "wrong", provisioning.dashboards())


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
