"""What each role may do, route by route (TestClient over the real app, SQLite, InfluxDB)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from api.db import Alert, ApiKey
from tests.api.conftest import ELSEWHERE, MINE, OTHER, building

ROLES = ["administrator", "bureau_staff", "auditor", "facility_manager", None]  # None: public, no key


def _alert(world, code: str) -> int:
    t = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    with world.app.state.sessions() as s:
        a = Alert(rule="use_above_expected", building_code=code, district="Shizhong", building_type="office",
                  ownership="large_public", state="open", message="use rose 25%", details={}, opened_at=t,
                  last_seen_at=t)
        s.add(a)
        s.commit()
        return a.id


def _new_spec(code: str) -> dict:
    return building(code, "Shizhong").model_dump(mode="json")


RETROFIT = {"completed_on": "2026-05-31", "measures": "LED lighting, chiller controls", "expected_saving_share": 0.12}

CASES = [
    # method, path, body, {role: expected status}
    ("GET", "/health", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/buildings", None, {"administrator": 200, "bureau_staff": 200, "auditor": 200,
                                 "facility_manager": 200, None: 401}),
    ("GET", f"/buildings/{MINE}", None, {"administrator": 200, "bureau_staff": 200, "auditor": 200,
                                         "facility_manager": 200, None: 401}),
    ("GET", f"/buildings/{OTHER}", None, {"administrator": 200, "bureau_staff": 200, "auditor": 200,
                                          "facility_manager": 403, None: 401}),
    ("POST", "/buildings", _new_spec("510402A077"), {"administrator": 201, "bureau_staff": 403, "auditor": 403,
                                                     "facility_manager": 403, None: 401}),
    ("PUT", f"/buildings/{MINE}", _new_spec(MINE), {"administrator": 200, "bureau_staff": 403, "auditor": 403,
                                                    "facility_manager": 403, None: 401}),
    ("GET", "/users", None, {"administrator": 200, "bureau_staff": 403, "auditor": 403, "facility_manager": 403,
                             None: 401}),
    ("GET", "/users/me", None, {"administrator": 200, "bureau_staff": 200, "auditor": 200,
                                "facility_manager": 200, None: 401}),
    ("GET", "/alerts", None, {"administrator": 200, "bureau_staff": 200, "auditor": 200,
                              "facility_manager": 200, None: 401}),
    ("POST", "/alerts/subscriptions", {"channel": "email", "target": "a@example.org", "district": "Shizhong"},
     {"administrator": 201, "bureau_staff": 403, "auditor": 201, "facility_manager": 403, None: 401}),
    ("GET", "/data-quality", None, {"administrator": 200, "bureau_staff": 200, "auditor": 200,
                                    "facility_manager": 200, None: 401}),
    ("POST", "/alerts/evaluate", None, {"administrator": 200, "bureau_staff": 403, "auditor": 200,
                                        "facility_manager": 403, None: 401}),
    ("GET", f"/buildings/{MINE}/retrofits", None, {"administrator": 200, "bureau_staff": 200, "auditor": 200,
                                                    "facility_manager": 200, None: 401}),
    ("GET", f"/buildings/{OTHER}/retrofits", None, {"administrator": 200, "bureau_staff": 200, "auditor": 200,
                                                     "facility_manager": 403, None: 401}),
    ("POST", f"/buildings/{MINE}/retrofits", RETROFIT, {"administrator": 201, "bureau_staff": 403, "auditor": 403,
                                                         "facility_manager": 403, None: 401}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "expected"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_route_by_role(world, role, method, path, body, expected):
    r = world.client.request(method, path, json=body, headers=world.as_(role))
    assert r.status_code == expected[role], r.text
    if r.status_code >= 400:
        assert set(r.json()) == {"code", "message", "field"}


@pytest.mark.parametrize("role", ["administrator", "auditor"])
def test_acknowledge_and_resolve_record_who_and_when(world, role):
    aid = _alert(world, OTHER)
    h = world.as_(role)
    r = world.client.post(f"/alerts/{aid}/acknowledge", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert r.json()["acknowledged_by"] == f"{role}-user" and r.json()["acknowledged_at"] is not None
    assert world.client.post(f"/alerts/{aid}/acknowledge", headers=h).status_code == 409
    r = world.client.post(f"/alerts/{aid}/resolve", json={"comment": "valve repaired"}, headers=h)
    assert r.status_code == 200 and r.json()["resolution_comment"] == "valve repaired"
    hist = world.client.get(f"/alerts/{aid}", headers=h).json()["history"]
    assert [(e["event"], e["actor"]) for e in hist] == [("acknowledged", f"{role}-user"), ("resolved", f"{role}-user")]
    assert world.client.post(f"/alerts/{aid}/resolve", json={"comment": "again"}, headers=h).status_code == 409


def test_resolve_needs_comment(world):
    aid = _alert(world, OTHER)
    r = world.client.post(f"/alerts/{aid}/resolve", json={"comment": ""}, headers=world.as_("auditor"))
    assert r.status_code == 422 and r.json()["field"] == "comment"


@pytest.mark.parametrize("role", ["bureau_staff", "facility_manager"])
def test_readers_cannot_acknowledge(world, role):
    aid = _alert(world, MINE)
    assert world.client.post(f"/alerts/{aid}/acknowledge", headers=world.as_(role)).status_code == 403


def test_facility_manager_sees_own_alerts_only(world):
    mine, other = _alert(world, MINE), _alert(world, OTHER)
    r = world.client.get("/alerts", headers=world.as_("facility_manager"))
    assert [a["id"] for a in r.json()["items"]] == [mine] and r.json()["total"] == 1
    assert world.client.get(f"/alerts/{other}", headers=world.as_("facility_manager")).status_code == 404


def test_facility_manager_lists_only_assigned_buildings(world):
    r = world.client.get("/buildings", headers=world.as_("facility_manager"))
    assert [b["building_code"] for b in r.json()["items"]] == [MINE] and r.json()["total"] == 1
    csv = world.client.get("/buildings/export.csv", headers=world.as_("facility_manager")).text
    assert MINE in csv and OTHER not in csv and ELSEWHERE not in csv


def test_api_keys_stored_hashed(world):
    with world.app.state.sessions() as s:
        stored = [(k.key_id, k.salt, k.secret_hash) for k in s.scalars(select(ApiKey))]
    for role, key in world.keys.items():
        secret = key.split("_", 2)[2]
        assert all(secret.encode() not in h and secret.encode() != h for _, _, h in stored), role
    assert len({salt for _, salt, _ in stored}) == len(stored)  # a salt per key


def test_wrong_and_revoked_keys_refused(world):
    key = world.keys["auditor"]
    tampered = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
    assert world.client.get("/users/me", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    assert world.client.get("/users/me", headers={"X-API-Key": key}).status_code == 200
    r = world.client.delete(f"/users/{world.user_ids['auditor']}/keys", headers=world.as_("administrator"))
    assert r.status_code == 204
    r = world.client.get("/users/me", headers={"X-API-Key": key})
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"


def test_admin_creates_user_key_shown_once_and_assigns(world):
    h = world.as_("administrator")
    r = world.client.post("/users", json={"name": "fm-2", "role": "facility_manager"}, headers=h)
    assert r.status_code == 201
    new_key, uid = r.json()["api_key"], r.json()["id"]
    assert world.client.get(f"/users/{uid}", headers=h).status_code in (404, 405)  # no route re-shows keys
    assert "api_key" not in world.client.get("/users", headers=h).json()["items"][0]
    r = world.client.put(f"/users/{uid}/buildings", json={"building_codes": [ELSEWHERE]}, headers=h)
    assert r.status_code == 200 and r.json()["building_codes"] == [ELSEWHERE]
    fm = {"Authorization": f"Bearer {new_key}"}
    assert [b["building_code"] for b in world.client.get("/buildings", headers=fm).json()["items"]] == [ELSEWHERE]
    r = world.client.put(f"/users/{uid}/buildings", json={"building_codes": ["510402A999"]}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "building_codes.0"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("code", [MINE, OTHER])
def test_retrofit_savings_by_role_with_a_clear_status(world, role, code):
    admin = world.as_("administrator")
    rid = world.client.post(f"/buildings/{code}/retrofits", json=RETROFIT, headers=admin).json()["id"]
    r = world.client.get(f"/buildings/{code}/retrofits/{rid}/savings", params={"as_of": "2026-07-31"},
                         headers=world.as_(role))
    allowed = role is not None and not (role == "facility_manager" and code != MINE)
    assert r.status_code == (200 if allowed else 401 if role is None else 403), r.text
    if allowed:
        body = r.json()
        # The test buildings have no weather station: a status, never a figure.
        assert (body["status"], body["to_date"], body["months"]) == ("no_baseline", None, [])
        assert "no weather station" in body["detail"] and body["expected_saving_share"] == 0.12


def test_retrofit_in_the_future_and_bad_records(world):
    admin = world.as_("administrator")
    future = {**RETROFIT, "completed_on": "2026-09-30"}
    rid = world.client.post(f"/buildings/{MINE}/retrofits", json=future, headers=admin).json()["id"]
    body = world.client.get(f"/buildings/{MINE}/retrofits/{rid}/savings", params={"as_of": "2026-07-31"},
                            headers=admin).json()
    assert body["status"] == "retrofit_in_future" and body["to_date"] is None
    r = world.client.post(f"/buildings/{MINE}/retrofits", json={**RETROFIT, "expected_saving_share": 1.5},
                          headers=admin)
    assert r.status_code == 422
    assert world.client.get(f"/buildings/{MINE}/retrofits/999/savings", headers=admin).status_code == 404
    assert world.client.post("/buildings/510402A099/retrofits", json=RETROFIT, headers=admin).status_code == 404
