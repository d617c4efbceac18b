"""``python -m dashboards permissions`` as a subprocess, reading a real API database (SQLite,
migrated, users made with the API's own functions) and writing to a real HTTP server
(tests/dashboards/fake_grafana.py): one team and folder per facility manager, viewable by that
team only, with a dashboard limited to the assigned buildings; the city-wide folder viewable by the
bureau and auditor teams only; a second run writes nothing; a former facility manager's team,
folder and dashboard are deleted."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import delete

from api.db import Assignment, User
from api.security import Role, create_user
from dashboards import common, provisioning
from registry import db as registry_db
from tests.dashboards.conftest import GRAFANA_TOKEN, ROOT

H = {"Authorization": f"Bearer {GRAFANA_TOKEN}"}
LI_CODES = ["510402A001", "510402B002"]
ZHANG_CODES = ["510403D001"]


@pytest.fixture
def api_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = registry_db.make_engine(url)
    registry_db.migrate(engine)
    ids = {}
    with registry_db.session_scope(engine) as s:
        for name, role, email in (("li.wei", Role.facility_manager, None),
                                  ("zhang.min", Role.facility_manager, "zhang.min@example.org"),
                                  ("zhou.fm", Role.facility_manager, None),  # no building assigned
                                  ("sun.fm", Role.facility_manager, None),  # no Grafana account yet
                                  ("chen.bureau", Role.bureau_staff, None), ("wang.audit", Role.auditor, None),
                                  ("root", Role.administrator, None)):
            ids[name] = create_user(s, name=name, role=role, email=email)[0].id
        s.add_all([Assignment(user_id=ids["li.wei"], building_code=c) for c in LI_CODES]
                  + [Assignment(user_id=ids["zhang.min"], building_code=c) for c in ZHANG_CODES]
                  + [Assignment(user_id=ids["sun.fm"], building_code="510404A001")])
    yield url, engine, ids
    engine.dispose()


def _get(url: str, path: str):
    r = httpx.get(f"{url}{path}", headers=H)
    return r.json() if r.status_code == 200 else r.status_code


def _run(grafana: str, db_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EP_DATABASE_URL": db_url, "EP_PLATFORM_ENV": ""}
    out = subprocess.run([sys.executable, "-m", "dashboards", "permissions", "--url", grafana,
                          "--token", GRAFANA_TOKEN], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out


def _grafana_users(grafana: str) -> dict[str, int]:
    """Grafana's own accounts: li.wei signs in with the API user's name as login, zhang.min with the
    API user's e-mail (another login), zhou.fm and root have none."""
    ids = {}
    for login, email in (("li.wei", "li@example.org"), ("zm", "zhang.min@example.org"),
                         ("chen.bureau", ""), ("wang.audit", "")):
        r = httpx.post(f"{grafana}/api/admin/users", headers=H,
                       json={"name": login, "login": login, "email": email, "password": "x" * 12})
        ids[login] = r.json()["id"]
    return ids


def _teams(grafana: str) -> dict[str, int]:
    return {t["name"]: t["id"] for t in _get(grafana, "/api/teams/search?query=energy-")["teams"]}


def _viewers(grafana: str, folder_uid: str) -> list[tuple]:
    return sorted((p["role"], p["teamId"], p["userId"], p["permission"])
                  for p in _get(grafana, f"/api/folders/{folder_uid}/permissions"))


def test_permissions_per_facility_manager(grafana, api_db):
    db_url, engine, ids = api_db
    gids = _grafana_users(grafana)
    first = _run(grafana, db_url)
    warnings = [line for line in first.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"sun.fm (API user {ids['sun.fm']})" in warnings[0]

    li, zhang, sun = (f"energy-fm-{ids[n]}" for n in ("li.wei", "zhang.min", "sun.fm"))
    teams = _teams(grafana)
    # zhou.fm has no building, so nothing; administrators are Grafana Admins, not a team.
    assert set(teams) == {li, zhang, sun, "energy-role-bureau_staff", "energy-role-auditor"}
    members = {name: [m["userId"] for m in _get(grafana, f"/api/teams/{tid}/members")] for name, tid in teams.items()}
    assert members == {li: [gids["li.wei"]], zhang: [gids["zm"]], sun: [],
                       "energy-role-bureau_staff": [gids["chen.bureau"]], "energy-role-auditor": [gids["wang.audit"]]}

    # Each folder: its own team views, nobody else (Grafana's default Viewer/Editor entries gone).
    assert _viewers(grafana, li) == [("", teams[li], 0, 1)]
    assert _viewers(grafana, zhang) == [("", teams[zhang], 0, 1)]
    assert _viewers(grafana, common.FOLDER_UID) == sorted(
        [("", teams["energy-role-bureau_staff"], 0, 1), ("", teams["energy-role-auditor"], 0, 1)])

    stored = _get(grafana, f"/api/dashboards/uid/energy-building-fm-{ids['li.wei']}")
    assert stored["meta"]["folderUid"] == li
    (var,) = stored["dashboard"]["templating"]["list"]  # no district/type lists of the whole city
    assert (var["name"], var["type"]) == ("building", "custom")
    assert var["allowCustomValue"] is False and var["includeAll"] is False
    assert [o["value"] for o in var["options"]] == LI_CODES and var["current"]["value"] == LI_CODES[0]
    assert stored["dashboard"]["links"] == []  # the city-wide dashboards are not theirs to open
    # The same panels and queries as the city's building detail: only the building choice differs.
    city_detail = next(d for d in provisioning.dashboards() if d["uid"] == common.BUILDING_UID)
    assert stored["dashboard"]["panels"] == city_detail["panels"]
    city = _get(grafana, f"/api/dashboards/uid/{common.BUILDING_UID}")
    assert city == 404  # permissions does not publish the city dashboards; push does

    # Second run: same database, same Grafana -> no request that changes anything.
    writes = _get(grafana, "/fake/writes")
    second = _run(grafana, db_url)
    assert _get(grafana, "/fake/writes") == writes
    assert "already matches" in second.stdout and second.stdout.count("\n") == 1

    # zhang.min becomes bureau staff: team, folder and dashboard go; the bureau team gains them.
    with registry_db.session_scope(engine) as s:
        s.execute(delete(Assignment).where(Assignment.user_id == ids["zhang.min"]))
        s.get(User, ids["zhang.min"]).role = Role.bureau_staff
    third = _run(grafana, db_url)
    assert f"folder {zhang} deleted" in third.stdout and f"team {zhang} deleted" in third.stdout
    assert _get(grafana, f"/api/folders/{zhang}") == 404
    assert _get(grafana, f"/api/dashboards/uid/energy-building-fm-{ids['zhang.min']}") == 404
    teams = _teams(grafana)
    assert zhang not in teams and li in teams
    bureau = [m["userId"] for m in _get(grafana, f"/api/teams/{teams['energy-role-bureau_staff']}/members")]
    assert sorted(bureau) == sorted([gids["chen.bureau"], gids["zm"]])
    assert _viewers(grafana, li) == [("", teams[li], 0, 1)]  # untouched


def test_assignment_change_updates_the_building_choice(grafana, api_db):
    db_url, engine, ids = api_db
    _run(grafana, db_url)
    with registry_db.session_scope(engine) as s:
        s.add(Assignment(user_id=ids["li.wei"], building_code="510402A000"))
    out = _run(grafana, db_url)
    uid = f"energy-building-fm-{ids['li.wei']}"
    assert out.stdout.strip() == f"dashboard {uid} saved in folder energy-fm-{ids['li.wei']}"
    (var,) = _get(grafana, f"/api/dashboards/uid/{uid}")["dashboard"]["templating"]["list"]
    assert [o["value"] for o in var["options"]] == ["510402A000", *LI_CODES]  # sorted by code


def test_permissions_needs_a_token(tmp_path):
    env = {**os.environ, "EP_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "EP_PLATFORM_ENV": ""}
    out = subprocess.run([sys.executable, "-m", "dashboards", "permissions", "--url", "http://127.0.0.1:9",
                          "--token", ""], cwd=ROOT, env={k: v for k, v in env.items() if k != "GRAFANA_TOKEN"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "token" in out.stderr
