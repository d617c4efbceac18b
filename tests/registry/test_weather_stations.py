"""Weather stations: assignment to a building or a district, the building's own one wins, and the
assignment survives a fleet re-import."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect

from registry import repo
from registry.db import downgrade, make_engine, migrate, session_scope
from registry.fleet import Fleet
from registry.weather import StationRef, WeatherRegistryError, add_station, assign, station_for


def _fleet() -> Fleet:
    common = {"floor_area_m2": 5000, "latitude_deg": 29.55, "longitude_deg": 103.77}
    return Fleet.model_validate({"fleet_version": 1, "buildings": [
        {"building_code": "510402A001", "name": "City hall", "district": "Shizhong", **common},
        {"building_code": "510402B002", "name": "Mall", "district": "Shizhong", **common},
        {"building_code": "510411A003", "name": "Office", "district": "Wutongqiao", **common},
    ]})


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'reg.db'}")
    migrate(eng)
    with session_scope(eng) as s:
        repo.replace_fleet(session=s, fleet=_fleet())
        for dev in ("WS-D", "WS-B"):
            add_station(session=s, host_building_code="510402A001", device_id=dev, latitude_deg=29.55,
                        longitude_deg=103.77, installed_on=dt.date(2024, 1, 1))
    return eng


def test_building_assignment_wins_over_district(engine):
    with session_scope(engine) as s:
        assign(session=s, host_building_code="510402A001", device_id="WS-D", district="Shizhong")
        assign(session=s, host_building_code="510402A001", device_id="WS-B", building_code="510402B002")
    with session_scope(engine) as s:
        assert station_for(session=s, building_code="510402A001") == StationRef("510402A001", "WS-D", "district")
        assert station_for(session=s, building_code="510402B002") == StationRef("510402A001", "WS-B", "building")
        assert station_for(session=s, building_code="510411A003") is None  # no station: callers say so


def test_assignment_survives_fleet_reimport_and_can_be_replaced(engine):
    with session_scope(engine) as s:
        assign(session=s, host_building_code="510402A001", device_id="WS-D", district="Shizhong")
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=_fleet())
        assign(session=s, host_building_code="510402A001", device_id="WS-B", district="Shizhong")
    with session_scope(engine) as s:
        assert station_for(session=s, building_code="510402B002").device_id == "WS-B"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device_id": "WS-D"}, "exactly one"),
        ({"device_id": "WS-D", "district": "Shizhong", "building_code": "510402A001"}, "exactly one"),
        ({"device_id": "NOPE", "district": "Shizhong"}, "no weather station"),
    ],
)
def test_bad_assignments_are_refused(engine, kwargs, message):
    with session_scope(engine) as s, pytest.raises(WeatherRegistryError, match=message):
        assign(session=s, host_building_code="510402A001", **kwargs)


def test_bad_station_is_refused(engine):
    with session_scope(engine) as s, pytest.raises(WeatherRegistryError, match="latitude"):
        add_station(session=s, host_building_code="510402A001", device_id="WS-X", latitude_deg=129.0,
                    longitude_deg=103.0, installed_on=dt.date(2024, 1, 1))


def test_migration_downgrades(engine):
    assert {"weather_station", "weather_assignment"} <= set(inspect(engine).get_table_names())
    downgrade(engine, "0004")  # the revision before the weather stations' (docs/registry.md)
    assert not {"weather_station", "weather_assignment"} & set(inspect(engine).get_table_names())


def test_station_command(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    eng = make_engine(url)
    migrate(eng)
    with session_scope(eng) as s:
        repo.replace_fleet(session=s, fleet=_fleet())

    def cli(*extra):
        return subprocess.run([sys.executable, "-m", "registry", "--url", url, "station", "--host", "510402A001",
                               "--device", "WS-01", *extra], cwd=root, capture_output=True, text=True, timeout=120)

    ok = cli("--lat", "29.55", "--lon", "103.77", "--district", "Shizhong")
    assert ok.returncode == 0, ok.stderr
    with session_scope(eng) as s:
        assert station_for(session=s, building_code="510402B002") == StationRef("510402A001", "WS-01", "district")
    bad = cli("--lat", "129", "--lon", "103.77")
    assert bad.returncode == 1 and "latitude" in bad.stderr
