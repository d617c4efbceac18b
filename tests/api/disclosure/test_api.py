"""The disclosure API over a real uvicorn: the workflow end to end and every bad-input case of
issue 7 (publish without approval, approve one's own submission, edit a published record, any
action by a role without the right), each refused with a code and nothing half-applied."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from api.disclosure.models import DisclosureRecord, FrozenRecordError
from contract.localtime import local_midnight
from registry import repo
from registry.fleet import BuildingSpec, MeterSpec
from storage.lineproto import encode_line
from tests.api.disclosure.rollups import write_daily_rollups


def _state(client, platform, rid: int, who: str = "staff1") -> dict:
    r = client.get(f"/disclosures/records/{rid}", headers=platform.headers(who))
    assert r.status_code == 200, r.text
    return r.json()


def _do(client, platform, rid: int, action: str, who: str, **body):
    return client.post(f"/disclosures/records/{rid}/{action}", headers=platform.headers(who), json=body or None)


def _refused(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code and body["message"], body
    return body


def test_workflow_happy_path_keeps_who_did_what(client, platform):
    rid = platform.draft("510402A001", 2021)
    assert _do(client, platform, rid, "comment", "fm", comment="燃气表五月更换 gas meter replaced").status_code == 200
    assert _do(client, platform, rid, "submit", "fm").json()["state"] == "submitted"
    r = _do(client, platform, rid, "return", "staff1", comment="coverage too low, check meter 3")
    assert r.json()["state"] == "returned"
    assert client.patch(f"/disclosures/records/{rid}", headers=platform.headers("fm"),
                        json={"remarks": "meter 3 was offline in March"}).status_code == 200
    assert _do(client, platform, rid, "submit", "fm").status_code == 200
    assert _do(client, platform, rid, "approve", "staff1").json()["approved_by"] == "staff1"
    final = _do(client, platform, rid, "publish", "staff2").json()
    assert final["state"] == "published" and final["remarks"] == "meter 3 was offline in March"
    history = [(e["action"], e["actor_name"], e["from_state"], e["to_state"]) for e in final["events"]]
    assert history == [
        ("generate", "system", None, "draft"), ("comment", "fm", "draft", "draft"),
        ("submit", "fm", "draft", "submitted"), ("return", "staff1", "submitted", "returned"),
        ("edit", "fm", "returned", "returned"), ("submit", "fm", "returned", "submitted"),
        ("approve", "staff1", "submitted", "approved"), ("publish", "staff2", "approved", "published")]
    assert final["events"][3]["text"] == "coverage too low, check meter 3"
    assert all(e["at"] for e in final["events"])
    wd = _do(client, platform, rid, "withdraw", "staff1", reason="sub-meter double counted")
    assert wd.json()["state"] == "withdrawn" and wd.json()["withdraw_reason"] == "sub-meter double counted"


def test_publish_without_approval_is_refused_and_nothing_changes(client, platform):
    rid = platform.draft("510402A001", 2022)
    before = _state(client, platform, rid)
    body = _refused(_do(client, platform, rid, "publish", "staff1"), 409, "not_approved")
    assert "only an approved disclosure can be published" in body["message"]
    assert _do(client, platform, rid, "submit", "staff1").status_code == 200
    _refused(_do(client, platform, rid, "publish", "staff2"), 409, "not_approved")
    after = _state(client, platform, rid)
    assert after["state"] == "submitted" and len(after["events"]) == len(before["events"]) + 1  # only the submit


def test_approving_own_submission_is_refused(client, platform):
    rid = platform.draft("510402A001", 2023)
    assert _do(client, platform, rid, "submit", "staff1").status_code == 200
    body = _refused(_do(client, platform, rid, "approve", "staff1"), 403, "own_submission")
    assert "staff1 submitted" in body["message"]
    assert _state(client, platform, rid)["state"] == "submitted"
    assert _do(client, platform, rid, "approve", "staff2").status_code == 200


def test_published_record_is_immutable(client, platform):
    rid = _published(client, platform, "510402B001", 2025)
    before = _state(client, platform, rid)
    _refused(client.patch(f"/disclosures/records/{rid}", headers=platform.headers("staff1"),
                          json={"remarks": "changed"}), 409, "record_immutable")
    _refused(_do(client, platform, rid, "comment", "staff1", comment="late note"), 409, "record_immutable")
    _refused(_do(client, platform, rid, "submit", "staff1"), 409, "invalid_state")
    # The figures cannot even be sent: the body has no such field.
    r = client.patch(f"/disclosures/records/{rid}", headers=platform.headers("staff1"),
                     json={"remarks": None, "figures": {"energy_tce": 1}})
    assert r.status_code == 422 and r.json()["field"] == "figures"
    after = _state(client, platform, rid)
    assert (after["figures"], after["figures_sha256"], after["remarks"], after["events"]) == \
           (before["figures"], before["figures_sha256"], before["remarks"], before["events"])
    # Below the API, the database layer refuses it too.
    with platform.session() as s:
        rec = s.get(DisclosureRecord, rid)
        rec.figures = {**rec.figures, "energy_tce": 0.0}
        with pytest.raises(FrozenRecordError, match="figures is frozen"):
            s.flush()
        s.rollback()
        rec = s.get(DisclosureRecord, rid)
        rec.remarks = "sneaky"
        with pytest.raises(FrozenRecordError, match="published"):
            s.flush()


@pytest.mark.parametrize(("who", "action", "status", "code"), [
    ("auditor", "approve", 403, "role_not_allowed"),
    ("admin", "publish", 403, "role_not_allowed"),
    ("fm", "approve", 403, "role_not_allowed"),
    ("fm", "return", 403, "role_not_allowed"),
    ("fm_other", "submit", 404, "not_found"),
    ("fm_other", "comment", 404, "not_found"),
    ("fm_other", "approve", 404, "not_found"),
])
def test_actions_by_roles_without_the_right_are_refused(client, platform, who, action, status, code):
    rid = platform.draft("510402A001", 2024)
    assert _do(client, platform, rid, "submit", "staff1").status_code == 200
    before = _state(client, platform, rid)
    body = _refused(_do(client, platform, rid, action, who, comment="x"), status, code)
    if status == 404:  # another building's record: answered as a missing one, building not named
        assert body["message"] == f"disclosure {rid} does not exist" and "510402A001" not in str(body)
    else:
        assert who in body["message"] or body["message"].startswith("role ")
    assert _state(client, platform, rid) == before  # nothing applied, no event written


def test_unauthenticated_and_unknown_keys(client, platform):
    rid = platform.draft("510402A001", 2024)
    r = client.post(f"/disclosures/records/{rid}/approve")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    r = client.get("/disclosures/records", headers={"Authorization": "Bearer ep_nope_nope"})
    assert r.status_code == 401


def test_facility_manager_sees_own_buildings_only(client, platform):
    mine, other = platform.draft("510402A001", 2019), platform.draft("510402C009", 2019)
    listed = client.get("/disclosures/records", params={"year": 2019}, headers=platform.headers("fm")).json()
    assert [r["id"] for r in listed["items"]] == [mine]
    body = _refused(client.get(f"/disclosures/records/{other}", headers=platform.headers("fm")), 404,
                    "not_found")
    # The same answer as an id that does not exist: nothing tells the building or that a draft exists.
    assert body == {"code": "not_found", "message": f"disclosure {other} does not exist", "field": "record_id"}
    # Permission before the version check: a wrong row version on a stranger's record is still 404,
    # and so is every action and the remarks edit.
    for action in ("submit", "comment", "approve"):
        r = _do(client, platform, other, action, "fm", comment="x", row_version=99)
        _refused(r, 404, "not_found")
    r = client.patch(f"/disclosures/records/{other}", json={"remarks": "x", "row_version": 99},
                     headers=platform.headers("fm"))
    _refused(r, 404, "not_found")
    staff = client.get("/disclosures/records", params={"year": 2019}, headers=platform.headers("auditor")).json()
    assert {r["id"] for r in staff["items"]} == {mine, other}


def test_bad_input_is_named(client, platform):
    rid = platform.draft("510402A001", 2018)
    assert _do(client, platform, rid, "submit", "staff1").status_code == 200
    assert _refused(_do(client, platform, rid, "return", "staff2"), 422, "comment_required")["field"] == "comment"
    r = _do(client, platform, rid, "approve", "staff2", row_version=1)  # the page showed the draft, not this
    assert _refused(r, 409, "stale_record")["field"] == "row_version"
    r = client.post(f"/disclosures/records/{rid}/delete", headers=platform.headers("staff2"))
    assert r.status_code == 422 and r.json()["field"] == "action"
    _refused(_do(client, platform, 999_999, "approve", "staff2"), 404, "not_found")
    assert _do(client, platform, rid, "approve", "staff2").status_code == 200
    assert _do(client, platform, rid, "publish", "staff2").status_code == 200
    _refused(_do(client, platform, rid, "withdraw", "staff1", reason="  "), 422, "reason_required")
    for params, field in (({"building_type": "castle"}, "building_type"), ({"year": "20x5"}, "year"),
                          ({"audit_required": "maybe"}, "audit_required"), ({"limit": 0}, "limit")):
        r = client.get("/disclosures/feed.json", params=params)
        assert r.status_code == 422 and r.json()["field"] == field, (params, r.text)


def test_regenerated_draft_is_a_new_version_and_published_figures_never_change(client, platform):
    code = "510402E001"
    v1 = _published(client, platform, code, 2025, energy_tce=500.0)
    v2 = platform.draft(code, 2025, energy_tce=650.0)  # data was corrected after publication
    assert _state(client, platform, v2)["version"] == 2
    page = client.get("/disclosures/feed.json", params={"q": code}).json()
    assert [(i["id"], i["figures"]["energy_tce"]) for i in page["items"]] == [(v1, 500.0)]
    v3 = platform.draft(code, 2025, energy_tce=640.0)
    assert _state(client, platform, v2)["state"] == "superseded"
    assert platform.draft(code, 2025, energy_tce=640.0) == v3  # same figures again: no new version
    for action, who in (("submit", "staff1"), ("approve", "staff2"), ("publish", "staff2")):
        assert _do(client, platform, v3, action, who).status_code == 200
    old = _state(client, platform, v1)
    assert old["state"] == "withdrawn" and old["withdraw_reason"] == "replaced by version 3"
    assert old["figures"]["energy_tce"] == 500.0  # the old version keeps its own figures
    page = client.get("/disclosures/feed.json", params={"q": code}).json()
    assert [(i["id"], i["version"], i["figures"]["energy_tce"]) for i in page["items"]] == [(v3, 3, 640.0)]


def test_public_feed_and_csv_hold_published_records_only(client, platform):
    pub = _published(client, platform, "510402D001", 2017, name="第一中学", district="沙湾区", audit_required=True,
                     energy_tce=123.4)
    draft = platform.draft("510402D002", 2017, name="第二中学", district="沙湾区")
    feed = client.get("/disclosures/feed.json", params={"year": 2017}).json()
    assert [i["id"] for i in feed["items"]] == [pub] and feed["total"] == 1
    assert feed["items"][0]["figures"]["building_name"] == "第一中学"
    rows = list(csv.DictReader(io.StringIO(client.get("/disclosures/export.csv", params={"year": "2017"}).text)))
    assert [r["building_code"] for r in rows] == ["510402D001"]
    assert rows[0]["audit_required"] == "True" and float(rows[0]["energy_tce"]) == 123.4
    assert client.get("/disclosures/feed.json", params={"district": "沙湾区", "audit_required": "false"}
                      ).json()["total"] == 0
    assert client.get("/disclosures/feed.json", params={"q": "第二中学"}).json()["total"] == 0
    r = client.get(f"/disclosures/records/{draft}")
    assert r.status_code == 401  # the unpublished draft needs a key


def _published(client, platform, code: str, year: int, **kw) -> int:
    rid = platform.draft(code, year, **kw)
    for action, who in (("submit", "staff1"), ("approve", "staff2"), ("publish", "staff2")):
        r = _do(client, platform, rid, action, who)
        assert r.status_code == 200, r.text
    return rid


def test_generate_over_http_from_real_rollups(client, platform):
    # 510402C013 (hotel, 2 000 m2): main meter 1 000 kWh a day for the first 10 days of 2013.
    code, year = "510402C013", 2013
    with platform.session() as s:
        repo.upsert_building(session=s, spec=BuildingSpec(
            building_code=code, name="滨江宾馆", floor_area_m2=2_000, district="市中区", latitude_deg=29.5,
            longitude_deg=103.7, meters=[MeterSpec(device_id="main", carrier="electricity", sub_item="main",
                                                   installed_on=dt.date(2012, 1, 1))]))
        s.commit()
    write_daily_rollups(platform.influx, [
        encode_line("meter_1d", {"building_code": code, "device_kind": "meter", "device_id": "main",
                                 "carrier": "electricity", "sub_item": "main"},
                    {"consumption_kwh": 1000.0, "readings": 96},
                    int(local_midnight(dt.date(year, 1, 1) + dt.timedelta(days=d)).timestamp() * 1000))
        for d in range(10)], {(year, 1)})
    body = {"year": year, "building_codes": [code, "510402C999"]}
    r = client.post("/disclosures/records/generate", headers=platform.headers("staff1"), json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [c["building_code"] for c in out["created"]] == [code] and out["unchanged"] == []
    assert out["failed"] == [{"building_code": "510402C999", "message": "building 510402C999 is not in the registry"}]
    rec = _state(client, platform, out["created"][0]["id"])
    assert rec["figures"]["electricity_kwh"] == 10_000.0  # 1 000 kWh x 10 days
    assert rec["energy_tce"] == pytest.approx(1.229)  # 10 000 kWh x 0.1229 kgce/kWh / 1000
    assert rec["figures"]["coverage"] == pytest.approx(10 / 365)  # 10 of 365 days of one meter
    assert (rec["events"][0]["action"], rec["events"][0]["actor_name"]) == ("generate", "staff1")
    again = client.post("/disclosures/records/generate", headers=platform.headers("staff1"), json=body).json()
    assert [c["id"] for c in again["unchanged"]] == [rec["id"]] and again["created"] == []
    for who in ("auditor", "fm"):
        r = client.post("/disclosures/records/generate", headers=platform.headers(who), json=body)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", who
    r = client.post("/disclosures/records/generate", headers=platform.headers("staff1"),
                    json={"year": year, "building_codes": []})
    assert r.status_code == 422 and r.json()["field"] == "building_codes"
