"""Registry: MOHURD collectors and their points from CSV (row errors like the building import),
sealed keys, the item code table, the 0003 migration and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from registry import keys, repo
from registry.collectors import import_collectors, read_collector_csv
from registry.db import downgrade, make_engine, migrate, session_scope
from registry.itemcodes import item_codes
from registry.models import Collector
from tests.collectors.helpers import BUILDING, SECRET, TEXT_KEY, make_registry, write_csv

ROOT = Path(__file__).resolve().parents[2]
POINT_HEADER = ["building_code", "gateway_id", "meter_id", "function_id", "item_code", "device_id", "quantity", "unit"]


def test_item_code_table_maps_codes_to_carriers_and_sub_items():
    codes = item_codes()
    assert (codes["01A00"].carrier.value, codes["01A00"].sub_item.value) == ("electricity", "lighting_sockets")
    assert codes["01B10"].sub_item.value == "hvac"
    assert codes["02000"].carrier.value == "water"
    assert codes["04000"].carrier.value == "district_heat"
    assert codes["00000"].carrier is None  # total energy: no single carrier
    assert all(c.source for c in codes.values())  # every row says where it comes from


def test_collector_csv_errors_name_file_line_and_field(tmp_path: Path):
    engine = make_registry(tmp_path, [])
    cfile = write_csv(tmp_path / "c.csv", ["building_code", "gateway_id", "key", "installed_on"], [
        (BUILDING, "01", TEXT_KEY, "2015-01-01"),  # line 2: fine
        (BUILDING, "01", TEXT_KEY, ""),  # line 3: the same collector again
        ("330100A999", "01", TEXT_KEY, ""),  # line 4: building not in the registry
        (BUILDING, "02", "", ""),  # line 5: no key (empty cells are dropped, so: missing)
        (BUILDING, "03", "secret-key-value", "2015-13-01"),  # line 6: bad date
    ])
    pfile = write_csv(tmp_path / "p.csv", POINT_HEADER, [
        (BUILDING, "01", "1", "1", "01A00", "E-LS", "register", "kWh"),  # line 2: fine
        (BUILDING, "01", "1", "1", "01A00", "E-LS", "register", "kWh"),  # line 3: same function again
        (BUILDING, "01", "1", "2", "99Z99", "E-LS", "register", "kWh"),  # line 4: unknown item code
        (BUILDING, "01", "1", "3", "01B00", "E-LS", "register", "kWh"),  # line 5: HVAC code on a lighting meter
        (BUILDING, "01", "1", "4", "02000", "E-LS", "register", "m3"),  # line 6: water code on electricity
        (BUILDING, "01", "1", "5", "01A00", "NOPE", "register", "kWh"),  # line 7: not a meter
        (BUILDING, "01", "3", "1", "02000", "W-1", "register", "kWh"),  # line 8: kWh is not a volume
        (BUILDING, "01", "3", "2", "02000", "W-1", "voltage", "V"),  # line 9: not a contract quantity
        (BUILDING, "09", "1", "1", "01A00", "E-LS", "register", "kWh"),  # line 10: collector not in the file
        (BUILDING, "01", "1", "6", "00000", "E-MAIN", "register", "kWh"),  # line 11: code with no carrier
        (BUILDING, "01", "1", "7", "01A00", "E-LS", "register", "kWh"),  # line 12: E-LS register again (line 2)
    ])
    with session_scope(engine) as s:
        data, errors = read_collector_csv(s, cfile, pfile)
    assert data is None
    got = [(e.file, e.line, e.field) for e in errors]
    assert got == [
        ("c.csv", 3, "gateway_id"), ("c.csv", 4, "building_code"), ("c.csv", 5, "key"), ("c.csv", 6, "installed_on"),
        ("p.csv", 3, "function_id"), ("p.csv", 4, "item_code"), ("p.csv", 5, "item_code"), ("p.csv", 6, "item_code"),
        ("p.csv", 7, "device_id"), ("p.csv", 8, "unit"), ("p.csv", 9, "quantity"), ("p.csv", 10, "gateway_id"),
        ("p.csv", 11, "item_code"), ("p.csv", 12, "quantity"),
    ]
    assert not any("secret-key-value" in str(e) for e in errors)  # a key never appears in an error
    with session_scope(engine) as s:
        assert s.scalars(select(Collector)).all() == []  # all or nothing


def test_keys_are_sealed_in_the_database(tmp_path: Path):
    engine = make_registry(tmp_path, [(BUILDING, "01", TEXT_KEY)])
    with session_scope(engine) as s:
        (c,) = s.scalars(select(Collector)).all()
        assert TEXT_KEY not in c.key_sealed
        assert keys.unseal(c.key_sealed, SECRET) == TEXT_KEY
        assert len(c.points) == 7
        with pytest.raises(keys.KeySecretError):
            keys.unseal(c.key_sealed, keys.new_secret())  # another platform's secret opens nothing
    assert TEXT_KEY.encode() not in (tmp_path / "registry.db").read_bytes()


def test_fleet_reimport_keeps_the_collectors(tmp_path: Path):
    """A collector references its building (ON DELETE CASCADE, foreign keys on): re-importing the
    fleet updates the building row in place, so its collectors and their 7 points stay."""
    engine = make_registry(tmp_path, [(BUILDING, "01", TEXT_KEY)])
    with session_scope(engine) as s:
        fleet = repo.fleet_from_db(session=s)
    fleet.buildings[0].floor_area_m2 = 12345
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=fleet)
    with session_scope(engine) as s:
        (c,) = s.scalars(select(Collector)).all()
        assert len(c.points) == 7
        assert repo.get_building(session=s, building_code=BUILDING).floor_area_m2 == 12345


def test_reimport_replaces_points_and_migration_goes_down_and_up(tmp_path: Path):
    engine = make_registry(tmp_path, [(BUILDING, "01", TEXT_KEY)])
    cfile = write_csv(tmp_path / "c2.csv", ["building_code", "gateway_id", "key"], [(BUILDING, "01", "another-key")])
    pfile = write_csv(tmp_path / "p2.csv", POINT_HEADER, [(BUILDING, "01", "1", "1", "01A00", "E-LS", "register",
                                                           "Wh")])
    with session_scope(engine) as s:
        data, errors = read_collector_csv(s, cfile, pfile)
        import_collectors(session=s, data=data, secret=SECRET)
    with session_scope(engine) as s:
        (c,) = s.scalars(select(Collector)).all()
        assert [(p.meter_id, p.unit) for p in c.points] == [("1", "Wh")]
        assert keys.unseal(c.key_sealed, SECRET) == "another-key"
    downgrade(engine, "0006")  # the revision before the collectors' (docs/registry.md)
    assert "collector" not in inspect(make_engine(str(engine.url))).get_table_names()
    migrate(engine)
    assert {"collector", "collector_point"} <= set(inspect(make_engine(str(engine.url))).get_table_names())


def test_cli_imports_collectors(tmp_path: Path):
    engine = make_registry(tmp_path, [])
    cfile = write_csv(tmp_path / "c.csv", ["building_code", "gateway_id", "key"], [(BUILDING, "07", TEXT_KEY)])
    pfile = write_csv(tmp_path / "p.csv", POINT_HEADER, [(BUILDING, "07", "1", "1", "01A00", "E-LS", "register",
                                                          "kWh")])
    env = {**os.environ, "EP_COLLECTOR_KEY_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "registry", "--url", str(engine.url), "import", "--collectors", str(cfile),
            "--points", str(pfile)]
    r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "imported 1 collectors, 1 points" in r.stdout
    bad = write_csv(tmp_path / "bad.csv", ["building_code", "gateway_id", "key"], [("330100A999", "07", TEXT_KEY)])
    r = subprocess.run(argv[:-4] + ["--collectors", str(bad)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 1
    assert "bad.csv:2: building_code:" in r.stderr
    assert TEXT_KEY not in r.stderr + r.stdout
