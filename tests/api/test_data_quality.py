"""GET /data-quality: the findings ingest stores, read back role-scoped (real InfluxDB)."""

from __future__ import annotations

import datetime as dt

from contract.quality import FindingCode
from ingest.findings import Finding
from storage.influx import InfluxHTTP
from tests.api.conftest import MINE, OTHER

T_MS = 1_767_196_800_000  # 2026-01-01T00:00:00+08:00 = 2025-12-31T16:00:00Z
RANGE = {"start": "2025-12-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}


def _store(world) -> None:
    # Written with ingest's own encoder: the API must read exactly what ingest writes.
    findings = [
        Finding(FindingCode.register_jitter, MINE, "E-1", T_MS - 900_000, T_MS, "register_kwh: step of 0", 0.0),
        Finding(FindingCode.spike, MINE, "E-2", T_MS, T_MS + 900_000, "register_kwh: step of 4050", 4050.0),
        Finding(FindingCode.unknown_device, OTHER, "X-9", T_MS - 3_600_000, T_MS - 1_800_000,
                "device X-9 is not in the fleet"),
    ]
    db = InfluxHTTP(world.app.state.settings.influx_url, world.influx_db)
    db.create_database()
    db.write_lines([f.line() for f in findings])


def test_findings_newest_first_with_period_and_details(world):
    _store(world)
    r = world.client.get("/data-quality", params=RANGE, headers=world.as_("auditor"))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["code"], i["building_code"], i["device_id"]) for i in items] == [
        ("spike", MINE, "E-2"), ("register_jitter", MINE, "E-1"), ("unknown_device", OTHER, "X-9")]
    spike = items[0]
    # period 00:00 .. 00:15 China time = 16:00 .. 16:15 UTC the day before
    assert dt.datetime.fromisoformat(spike["period_start"]) == dt.datetime(2025, 12, 31, 16, 0, tzinfo=dt.UTC)
    assert dt.datetime.fromisoformat(spike["period_end"]) == dt.datetime(2025, 12, 31, 16, 15, tzinfo=dt.UTC)
    assert spike["value"] == 4050.0 and "4050" in spike["detail"]
    assert items[2]["value"] is None


def test_facility_manager_sees_only_assigned_buildings(world):
    _store(world)
    fm = world.as_("facility_manager")
    r = world.client.get("/data-quality", params=RANGE, headers=fm)
    assert r.status_code == 200
    assert {i["building_code"] for i in r.json()["items"]} == {MINE}
    assert OTHER not in world.client.get("/data-quality/export.csv", params=RANGE, headers=fm).text
    r = world.client.get("/data-quality", params={**RANGE, "building_code": OTHER}, headers=fm)
    assert r.status_code == 403


def test_filters_and_refusals(world):
    _store(world)
    h = world.as_("bureau_staff")
    r = world.client.get("/data-quality", params={**RANGE, "code": "spike"}, headers=h)
    assert [i["device_id"] for i in r.json()["items"]] == ["E-2"]
    r = world.client.get("/data-quality", params={**RANGE, "building_code": OTHER}, headers=h)
    assert [i["device_id"] for i in r.json()["items"]] == ["X-9"]
    for bad in ({"code": "nonsense"}, {"building_code": "51040"}, {"start": "2026-01-01T00:00:00"},
                {"start": "9999-01-01T00:00:00Z"}, {"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}):
        r = world.client.get("/data-quality", params=bad, headers=h)
        assert r.status_code == 422, (bad, r.text)
    assert world.client.get("/data-quality", params=RANGE).status_code == 401
