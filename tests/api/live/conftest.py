"""The live page tests run against the disclosure tests' real uvicorn, SQLite registry and InfluxDB
(``platform``); this adds registry buildings with meters, PV and a charging pile."""

from __future__ import annotations

import pytest

from registry import repo
from registry.fleet import Fleet
from tests.api.disclosure.conftest import FM_BUILDING, client, platform  # noqa: F401 - fixtures used here

OTHER_BUILDING = "510402A002"  # not assigned to the facility manager "fm"
EXAMPLE_BUILDING = "510402A003"  # the worked example with a fixed clock (test_figures.py)


def _spec(code: str, name: str) -> dict:
    return {"building_code": code, "name": name, "floor_area_m2": 10_000, "district": "市中区",
            "ownership": "state_organ_office", "latitude_deg": 29.5, "longitude_deg": 103.7, "occupants": 400,
            "meters": [{"device_id": "main", "carrier": "electricity", "sub_item": "main"},
                       {"device_id": "light", "carrier": "electricity", "sub_item": "lighting_sockets",
                        "parent_device_id": "main"},
                       {"device_id": "hvac", "carrier": "electricity", "sub_item": "hvac",
                        "parent_device_id": "main"},
                       {"device_id": "gas", "carrier": "natural_gas"}],
            "pv": [{"device_id": "pv1", "capacity_kwp": 50}],
            "ev_piles": [{"device_id": "ev1", "pile_kind": "ac_7kw", "rated_power_kw": 7}]}


@pytest.fixture(scope="session")
def registry(platform):  # noqa: F811 - the imported fixture
    fleet = Fleet.model_validate({"buildings": [_spec(FM_BUILDING, "市政府办公楼 City hall"),
                                                _spec(OTHER_BUILDING, "区档案馆 District archive"),
                                                _spec(EXAMPLE_BUILDING, "市图书馆 City library")]})
    with platform.session() as s:
        for spec in fleet.buildings:
            repo.upsert_building(session=s, spec=spec)
        s.commit()
    return platform
