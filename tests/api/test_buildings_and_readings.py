"""Buildings (paging, filters, CSV, create/update/import) and readings over real InfluxDB."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from deploy.localservers import free_port
from storage.influx import InfluxHTTP
from tests.api.conftest import ELSEWHERE, MINE, OTHER, building


def test_list_pages_with_total(world):
    h = world.as_("auditor")
    r = world.client.get("/buildings?limit=2&offset=0", headers=h).json()
    assert [b["building_code"] for b in r["items"]] == [MINE, OTHER] and (r["total"], r["limit"]) == (3, 2)
    r = world.client.get("/buildings?limit=2&offset=2", headers=h).json()
    assert [b["building_code"] for b in r["items"]] == [ELSEWHERE] and r["total"] == 3


@pytest.mark.parametrize(("query", "codes"), [
    ("district=Shizhong", [MINE, OTHER]),
    ("building_type=mall", [OTHER]),
    ("ownership=state_funded_public_welfare", [ELSEWHERE]),
    ("district=Shizhong&building_type=education", []),
])
def test_list_filters(world, query, codes):
    r = world.client.get(f"/buildings?{query}", headers=world.as_("bureau_staff")).json()
    assert [b["building_code"] for b in r["items"]] == codes and r["total"] == len(codes)


def test_csv_export_both_spellings(world):
    h = world.as_("auditor")
    a = world.client.get("/buildings?format=csv&district=Shizhong", headers=h)
    b = world.client.get("/buildings/export.csv?district=Shizhong", headers=h)
    assert a.headers["content-type"].startswith("text/csv") and a.text == b.text
    rows = list(csv.DictReader(io.StringIO(a.text)))
    assert [r["building_code"] for r in rows] == [MINE, OTHER]
    assert rows[0]["floor_area_m2"] == "10000.0" and rows[0]["meter_count"] == "2"


def test_devices_of_a_building(world):
    r = world.client.get(f"/buildings/{OTHER}/devices", headers=world.as_("auditor")).json()
    assert [(d["device_id"], d["device_kind"]) for d in r["items"]] == [
        ("E-MAIN", "meter"), ("E-HVAC", "meter"), ("EV1", "ev_pile")]


def test_admin_creates_updates_and_conflicts(world):
    h = world.as_("administrator")
    spec = building("510402A050", "Shizhong").model_dump(mode="json")
    assert world.client.post("/buildings", json=spec, headers=h).status_code == 201
    r = world.client.post("/buildings", json=spec, headers=h)
    assert r.status_code == 409 and r.json()["field"] == "building_code"
    spec["floor_area_m2"] = 12_345.0
    r = world.client.put("/buildings/510402A050", json=spec, headers=h)
    assert r.status_code == 200 and r.json()["floor_area_m2"] == 12_345.0
    r = world.client.put(f"/buildings/{MINE}", json=spec, headers=h)
    assert r.status_code == 422 and "differs" in r.json()["message"]


def test_create_refuses_bad_field_by_name(world):
    spec = building("510402A051", "Shizhong").model_dump(mode="json")
    spec["floor_area_m2"] = -5
    r = world.client.post("/buildings", json=spec, headers=world.as_("administrator"))
    assert r.status_code == 422 and r.json()["field"] == "floor_area_m2"


BUILDINGS_CSV = """building_code,name,floor_area_m2,district,latitude_deg,longitude_deg
510402A060,Imported office,8000,Shizhong,29.5,103.7
510402C061,Imported hotel,6000,Shizhong,29.5,103.7
"""
DEVICES_CSV = """building_code,device_kind,device_id,carrier,sub_item
510402A060,meter,E-MAIN,electricity,main
"""


def test_csv_import_with_registry_importer(world):
    h = world.as_("administrator")
    files = {"buildings": ("buildings.csv", BUILDINGS_CSV, "text/csv"),
             "devices": ("devices.csv", DEVICES_CSV, "text/csv")}
    r = world.client.post("/buildings/import", files=files, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"buildings_written": 2, "devices_written": 1, "building_codes": ["510402A060", "510402C061"],
                        "buildings_deleted": [], "devices_deleted": []}
    assert world.client.get("/buildings/510402A060", headers=h).json()["meter_count"] == 1
    # Buildings only: attributes change, the meter stays (no surprise deletion).
    r = world.client.post("/buildings/import", files={"buildings": files["buildings"]}, headers=h)
    assert r.status_code == 200 and r.json()["devices_deleted"] == [], r.text
    assert world.client.get("/buildings/510402A060", headers=h).json()["meter_count"] == 1
    # Asked for: the input's (empty) device list replaces the stored one, and the answer says so.
    r = world.client.post("/buildings/import?replace_devices=true", files={"buildings": files["buildings"]}, headers=h)
    assert r.status_code == 200 and r.json()["devices_deleted"] == ["510402A060/E-MAIN"], r.text
    assert world.client.get("/buildings/510402A060", headers=h).json()["meter_count"] == 0


def test_csv_import_all_or_nothing_names_line_and_field(world):
    h = world.as_("administrator")
    bad = BUILDINGS_CSV.replace("6000", "-1")
    r = world.client.post("/buildings/import", files={"buildings": ("buildings.csv", bad, "text/csv")}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "floor_area_m2" and ":3:" in r.json()["message"]
    assert world.client.get("/buildings/510402A060", headers=h).status_code == 404  # first row not written either


def test_import_refused_for_non_admin(world):
    r = world.client.post("/buildings/import", files={"buildings": ("b.csv", BUILDINGS_CSV, "text/csv")},
                          headers=world.as_("bureau_staff"))
    assert r.status_code == 403


@pytest.fixture
def readings(world, influxd):
    db = InfluxHTTP(influxd.url, database=world.influx_db)
    base = 1_780_000_000_000  # 2026-05-28T20:26:40Z; readings every 15 min
    lines = []
    for i in range(8):  # two hours
        for code, kwh in ((MINE, 2.5), (OTHER, 9.0)):
            lines.append(f"meter,building_code={code},carrier=electricity,device_id=E-MAIN,device_kind=meter,"
                         f"sub_item=main consumption_kwh={kwh},power_kw={kwh * 4},interval_s=900 {base + i * 900_000}")
    db.write_lines(lines)
    yield base
    db.close()


def test_readings_hourly_sum_and_mean(world, readings):
    r = world.client.get(f"/buildings/{MINE}/readings", headers=world.as_("facility_manager"), params={
        "measurement": "meter", "field": "consumption_kwh", "interval": "1h",
        "start": "2026-05-28T00:00:00Z", "end": "2026-05-29T00:00:00Z"})
    assert r.status_code == 200, r.text
    body = r.json()
    total = sum(p["value"] for p in body["series"][0]["points"])
    assert body["aggregate"] == "sum" and total == pytest.approx(8 * 2.5)  # 8 readings x 2.5 kWh = 20 kWh
    r = world.client.get(f"/buildings/{MINE}/readings", headers=world.as_("facility_manager"), params={
        "measurement": "meter", "field": "power_kw", "interval": "1d",  # the readings are on local day 29 May
        "start": "2026-05-29T00:00:00+08:00", "end": "2026-05-30T00:00:00+08:00", "format": "csv"})
    lines = r.text.strip().splitlines()
    assert lines[0] == "time,device_id,value" and lines[1].endswith(",E-MAIN,10.0")  # 2.5 kWh per 15 min = 10 kW


@pytest.mark.parametrize(("params", "field"), [
    ({"field": "consumption_kwh; DROP DATABASE x"}, "field"),
    ({"field": "status"}, "field"),
    ({"interval": "1m"}, "interval"),
    ({"measurement": "meter\" OR 1=1"}, "measurement"),
    ({"device_id": "E' OR building_code='510402B002"}, "device_id"),
    ({"start": "2026-05-28T00:00:00"}, "start"),
    ({"end": "2026-05-27T00:00:00Z"}, "end"),
    ({"interval": "15m", "start": "2020-01-01T00:00:00Z"}, "interval"),
])
def test_readings_refuse_unsafe_or_bad_input_by_name(world, readings, params, field):
    q = {"measurement": "meter", "field": "consumption_kwh", "interval": "1h",
         "start": "2026-05-28T00:00:00Z", "end": "2026-05-29T00:00:00Z", **params}
    r = world.client.get(f"/buildings/{MINE}/readings", params=q, headers=world.as_("auditor"))
    assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_readings_quote_device_id_value(world, readings):
    # A device id is validated, and a valid one is still quoted: this one matches nothing.
    r = world.client.get(f"/buildings/{MINE}/readings", headers=world.as_("auditor"), params={
        "measurement": "meter", "field": "consumption_kwh", "device_id": "E-MAIN.x",
        "start": "2026-05-28T00:00:00Z", "end": "2026-05-29T00:00:00Z"})
    assert r.status_code == 200 and r.json()["series"] == []


def test_readings_store_down_is_503(world):
    dead = world.app.state.settings.model_copy(update={"influx_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(dead, migrate=False)) as client:
        r = client.get(f"/buildings/{MINE}/readings", headers=world.as_("auditor"), params={
            "measurement": "meter", "field": "consumption_kwh",
            "start": "2026-05-28T00:00:00Z", "end": "2026-05-29T00:00:00Z"})
    assert r.status_code == 503 and r.json()["code"] == "storage_unavailable"


def test_item_codes_for_every_role_and_not_anonymous(world):
    r = world.client.get("/item-codes", headers=world.as_("facility_manager"))
    assert r.status_code == 200
    rows = {row["code"]: row for row in r.json()}
    assert (rows["01B00"]["carrier"], rows["01B00"]["sub_item"]) == ("electricity", "hvac")
    assert rows["02000"]["carrier"] == "water" and rows["02000"]["source"]
    assert world.client.get("/item-codes").status_code == 401
