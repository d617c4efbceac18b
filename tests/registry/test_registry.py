"""Registry: migrations, data access, fleet/CSV import and export, the CLI (real subprocess)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from registry import repo
from registry.db import make_engine, migrate, session_scope
from registry.fleet import Fleet
from registry.importer import import_into, read_csv_pair, read_fleet_file, write_csv_pair
from registry.models import Building, Meter

ROOT = Path(__file__).resolve().parents[2]

FLEET_YAML = """\
fleet_version: 1
buildings:
  - building_code: 510402A001
    name: City hall
    floor_area_m2: 12000
    district: Shizhong
    ownership: state_organ_office
    latitude_deg: 29.55
    longitude_deg: 103.77
    occupants: 600
    meters:
      - {device_id: main, carrier: electricity, sub_item: main}
      - {device_id: hvac, carrier: electricity, sub_item: hvac, parent_device_id: main}
      - {device_id: gas, carrier: natural_gas, replaced_on: 2025-05-14}  # exchanged: the reset's evidence
    pv:
      - {device_id: pv1, capacity_kwp: 120, has_grid_meter: false, replaced_on: 2024-03-01}
    ev_piles:
      - {device_id: ev1, pile_kind: dc_60kw, rated_power_kw: 60}
  - building_code: 510402B002
    name: Mall
    floor_area_m2: 30000
    district: Shizhong
    latitude_deg: 29.56
    longitude_deg: 103.76
"""


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'reg.db'}")
    migrate(eng)
    return eng


@pytest.fixture
def fleet_file(tmp_path) -> Path:
    p = tmp_path / "fleet.yaml"
    p.write_text(FLEET_YAML)
    return p


def test_import_fleet_roundtrip(engine, fleet_file, tmp_path):
    fleet, errors = read_fleet_file(fleet_file)
    assert errors == []
    with session_scope(engine) as s:
        report = import_into(session=s, fleet=fleet, errors=errors)
    assert (report.buildings, report.devices, report.written) == (2, 5, True)
    with session_scope(engine) as s:
        b = repo.get_building(session=s, building_code="510402A001")
        assert b.building_type == "office" and b.district_code == "510402"
        assert [m.device_id for m in b.meters] == ["main", "hvac", "gas"]
        assert b.pv_systems[0].capacity_kwp == 120 and b.pv_systems[0].has_grid_meter is False
        assert b.charging_piles[0].rated_power_kw == 60
        # replaced_on is stored (migration 0008) and optional: None where the file has none
        assert [(m.device_id, m.replaced_on) for m in b.meters] == [
            ("main", None), ("hvac", None), ("gas", dt.date(2025, 5, 14))]
        assert (b.pv_systems[0].replaced_on, b.charging_piles[0].replaced_on) == (dt.date(2024, 3, 1), None)
        assert [x.building_code for x in repo.list_buildings(session=s, building_type="B")] == ["510402B002"]
        assert repo.count_buildings(session=s, district="Shizhong") == 2
        assert repo.fleet_from_db(session=s) == fleet


def test_reimport_with_replace_devices_and_prune_deletes(engine, fleet_file):
    fleet, _ = read_fleet_file(fleet_file)
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=fleet)
    smaller = fleet.model_copy(deep=True)
    smaller.buildings[0].meters = smaller.buildings[0].meters[:1]
    smaller.buildings = smaller.buildings[:1]
    with session_scope(engine) as s:
        plan = repo.replace_fleet(session=s, fleet=smaller, prune=True, replace_devices=True)
    assert plan.buildings_deleted == ["510402B002"]
    assert plan.devices_deleted == [("510402A001", "hvac"), ("510402A001", "gas")]  # pv1, ev1 are in the input
    with session_scope(engine) as s:
        assert s.scalars(select(Meter.device_id)).all() == ["main"]
        assert s.scalars(select(Building.building_code)).all() == ["510402A001"]


def test_attributes_only_csv_import_keeps_every_device(engine, fleet_file, tmp_path):
    """A buildings CSV without devices updates the floor area and deletes nothing (it used to
    delete every meter, PV system and charging pile of the listed buildings)."""
    fleet, _ = read_fleet_file(fleet_file)
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=fleet)
    b = tmp_path / "b.csv"
    b.write_text("building_code,name,floor_area_m2,district,latitude_deg,longitude_deg\n"
                 "510402A001,City hall,13500,Shizhong,29.55,103.77\n")
    attrs, errors = read_csv_pair(b)
    assert errors == []
    with session_scope(engine) as s:
        dry = import_into(session=s, fleet=attrs, errors=[], dry_run=True)
        assert dry.plan.devices_deleted == [] and dry.plan.buildings_deleted == []
        report = import_into(session=s, fleet=attrs, errors=[])
        assert report.written and report.plan.devices_deleted == []
    with session_scope(engine) as s:
        hall = repo.get_building(session=s, building_code="510402A001")
        assert hall.floor_area_m2 == 13500
        assert sorted(m.device_id for m in hall.meters) == ["gas", "hvac", "main"]
        assert [p.device_id for p in hall.pv_systems] == ["pv1"]
        assert [c.device_id for c in hall.charging_piles] == ["ev1"]


def test_dry_run_lists_every_deletion_and_writes_nothing(engine, fleet_file, tmp_path):
    fleet, _ = read_fleet_file(fleet_file)
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=fleet)
    b, d = tmp_path / "b.csv", tmp_path / "d.csv"
    b.write_text("building_code,name,floor_area_m2,district,latitude_deg,longitude_deg\n"
                 "510402A001,City hall,12000,Shizhong,29.55,103.77\n")
    d.write_text("building_code,device_kind,device_id,carrier,sub_item\n510402A001,meter,main,electricity,main\n")
    url = engine.url.render_as_string(hide_password=False)
    r = subprocess.run([sys.executable, "-m", "registry", "--url", url, "import", "--buildings", str(b),
                        "--devices", str(d), "--replace-devices", "--prune", "--dry-run"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "would delete building 510402B002" in r.stdout
    for device in ("hvac", "gas", "pv1", "ev1"):
        assert f"would delete device {device} of 510402A001" in r.stdout
    with session_scope(engine) as s:
        assert len(s.scalars(select(Meter.device_id)).all()) == 3  # main, hvac, gas: all still there


def test_fleet_import_reports_every_bad_row_with_line(engine, tmp_path):
    bad = FLEET_YAML.replace("floor_area_m2: 30000", "floor_area_m2: -5").replace(
        "{device_id: gas, carrier: natural_gas,", "{device_id: gas, carrier: petrol,").replace(
        "parent_device_id: main", "parent_device_id: nowhere")
    p = tmp_path / "bad.yaml"
    p.write_text(bad)
    fleet, errors = read_fleet_file(p)
    assert fleet is None
    got = {(e.line, e.field) for e in errors}
    # line numbers counted in FLEET_YAML above: hvac meter 13, gas meter 14, Mall's floor area 21;
    # the parent check is cross-row and still reported although the same building has another error
    assert got == {(13, "parent_device_id"), (14, "meters.2.carrier"), (21, "floor_area_m2")}
    with session_scope(engine) as s:
        report = import_into(session=s, fleet=fleet, errors=errors)
    assert not report.written
    with session_scope(engine) as s:
        assert s.scalars(select(Building)).all() == []


def test_csv_roundtrip(fleet_file, tmp_path):
    fleet, _ = read_fleet_file(fleet_file)
    b, d = tmp_path / "b.csv", tmp_path / "d.csv"
    write_csv_pair(fleet, b, d)
    again, errors = read_csv_pair(b, d)
    assert errors == []
    assert again == fleet


def test_csv_import_reports_every_bad_row_and_writes_nothing(engine, tmp_path):
    b, d = tmp_path / "b.csv", tmp_path / "d.csv"
    b.write_text(
        "building_code,name,floor_area_m2,district,latitude_deg,longitude_deg\n"
        "510402A001,Hall,1000,Shizhong,29.5,103.7\n"          # line 2 ok
        "51040A001,Bad code,1000,Shizhong,29.5,103.7\n"       # line 3 code pattern
        "510402A003,No area,,Shizhong,29.5,103.7\n"           # line 4 missing area
        "510402A001,Twice,1000,Shizhong,29.5,103.7\n")        # line 5 duplicate
    d.write_text(
        "building_code,device_kind,device_id,carrier,sub_item,capacity_kwp\n"
        "510402A001,meter,m1,electricity,main,\n"             # line 2 ok
        "510402A001,meter,m2,electricity,,\n"                 # line 3 sub_item missing
        "510402A001,pv,p1,,,-3\n"                             # line 4 negative kWp
        "510402A009,meter,m3,water,,\n"                       # line 5 unknown building
        "510402A001,meter,m1,water,,\n"                       # line 6 duplicate device id
        "510402A001,boiler,b1,,,\n")                          # line 7 unknown kind
    fleet, errors = read_csv_pair(b, d)
    assert fleet is None
    assert [(e.file, e.line) for e in errors] == [
        ("b.csv", 3), ("b.csv", 4), ("b.csv", 5),
        ("d.csv", 3), ("d.csv", 4), ("d.csv", 5), ("d.csv", 6), ("d.csv", 7)]
    assert errors[1].field == "floor_area_m2"
    assert errors[4].field == "capacity_kwp"
    with session_scope(engine) as s:
        assert not import_into(session=s, fleet=fleet, errors=errors).written
        assert s.scalars(select(Building)).all() == []


def test_csv_unknown_column_is_reported_on_header(tmp_path):
    b = tmp_path / "b.csv"
    b.write_text("building_code,name,floor_area_m2,district,latitude_deg,longitude_deg,colour\n")
    _, errors = read_csv_pair(b)
    assert [(e.line, e.field) for e in errors] == [(1, "colour")]


def test_cli_import_export_subprocess(tmp_path, fleet_file):
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args):
        return subprocess.run([sys.executable, "-m", "registry", "--url", url, *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    r = run("import", "--fleet", str(fleet_file))
    assert r.returncode == 0, r.stderr
    assert "imported 2 buildings, 5 devices" in r.stdout
    r = run("export", "--buildings", str(tmp_path / "b.csv"), "--devices", str(tmp_path / "d.csv"))
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(FLEET_YAML.replace("latitude_deg: 29.56", "latitude_deg: 129.56"))
    r = run("import", "--fleet", str(bad))
    assert r.returncode == 1
    assert "bad.yaml:23: latitude_deg:" in r.stderr and "nothing imported" in r.stderr
    r = run("export", "--fleet", str(tmp_path / "out.yaml"))
    assert Fleet.load(tmp_path / "out.yaml") == read_fleet_file(fleet_file)[0]


def test_csv_parent_must_be_a_meter_of_the_same_carrier(tmp_path):
    b, d = tmp_path / "b.csv", tmp_path / "d.csv"
    b.write_text("building_code,name,floor_area_m2,district,latitude_deg,longitude_deg\n"
                 "510402A001,Hall,1000,Shizhong,29.5,103.7\n")
    d.write_text("building_code,device_kind,device_id,carrier,sub_item,parent_device_id\n"
                 "510402A001,meter,main,electricity,main,\n"          # line 2
                 "510402A001,meter,hvac,electricity,hvac,nowhere\n"   # line 3: unknown parent
                 "510402A001,meter,gas,natural_gas,,main\n")          # line 4: parent measures electricity
    fleet, errors = read_csv_pair(b, d)
    assert fleet is None
    assert [(e.line, e.field) for e in errors] == [(3, "parent_device_id"), (4, "parent_device_id")]
    assert "measures electricity, not natural_gas" in errors[1].reason


def test_unknown_building_type_filter_names_the_value(engine):
    with session_scope(engine) as s, pytest.raises(ValueError, match="'warehouse'"):
        repo.list_buildings(session=s, building_type="warehouse")


def _building(code: str, device_ids: list[str]) -> dict:
    return {"building_code": code, "name": code, "floor_area_m2": 1000, "district": code[:6],
            "latitude_deg": 29.6, "longitude_deg": 103.8,
            "meters": [{"device_id": d, "carrier": "electricity", "sub_item": "hvac"} for d in device_ids]}


def test_fleet_names_every_duplicate_and_validates_a_province():
    """Building codes and a building's device ids are unique, and every duplicate is named once; a
    20,000-building fleet validates (the check used to count each code in the whole list, quadratic:
    100,000 buildings did not finish in 15 minutes, bench/analytics_province.py)."""
    with pytest.raises(ValueError, match=r"building codes used twice: \['510402A001'\]"):
        Fleet.model_validate({"buildings": [_building("510402A001", ["E1"]), _building("510402A001", ["E1"]),
                                            _building("510402A002", ["E1"])]})
    with pytest.raises(ValueError, match=r"device ids used twice in 510402A003: \['E1', 'E2'\]"):
        Fleet.model_validate({"buildings": [_building("510402A003", ["E1", "E2", "E1", "E2", "E3"])]})
    codes = [f"5104{d:02d}A{i:03d}" for d in range(20) for i in range(1000)]
    assert len(Fleet.model_validate({"buildings": [_building(c, ["E1"]) for c in codes]}).buildings) == 20_000
