"""Fixtures for the API tests: an app on a fresh SQLite registry and a fresh InfluxDB database,
with one user per role and three registered buildings."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.db import Assignment
from api.security import Role, create_user, key_cache
from api.settings import Settings
from registry import db as registry_db
from registry import repo
from registry.fleet import BuildingSpec, MeterSpec, PileSpec, PvSpec

#: The facility manager's building, another in the same district, one elsewhere.
MINE = "510402A001"
OTHER = "510402B002"
ELSEWHERE = "510411D003"


def building(code: str, district: str, *, ownership: str = "large_public", area_m2: float = 10_000.0,
             pv_kwp: float | None = None) -> BuildingSpec:
    return BuildingSpec(
        building_code=code, name=f"Building {code}", floor_area_m2=area_m2, district=district,
        ownership=ownership, latitude_deg=29.55, longitude_deg=103.77,
        meters=[MeterSpec(device_id="E-MAIN", carrier="electricity", sub_item="main"),
                MeterSpec(device_id="E-HVAC", carrier="electricity", sub_item="hvac", parent_device_id="E-MAIN")],
        pv=[PvSpec(device_id="PV1", capacity_kwp=pv_kwp)] if pv_kwp else [],
        ev_piles=[PileSpec(device_id="EV1", pile_kind="ac_7kw", rated_power_kw=7)] if code == OTHER else [],
    )


BUILDINGS = [building(MINE, "Shizhong", ownership="state_organ_office"),
             building(OTHER, "Shizhong"),
             building(ELSEWHERE, "Wutongqiao", ownership="state_funded_public_welfare")]


@dataclass
class World:
    app: object
    client: TestClient
    keys: dict[str, str]  # role -> API key
    user_ids: dict[str, int]
    influx_db: str

    def as_(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.keys[role]}"}


def make_settings(tmp_path, influxd, db: str, **kw) -> Settings:
    return Settings(env="development", database_url=f"sqlite:///{tmp_path}/registry.db", influx_url=influxd.url,
                    influx_db=db, webhook_signing_key="test-signing-key-0123456789", **kw)


@pytest.fixture(scope="session")
def world_template(tmp_path_factory) -> tuple[Path, dict[str, str], dict[str, int]]:
    """A migrated registry with the buildings and users, built once; tests get a copy."""
    path = tmp_path_factory.mktemp("api-template") / "registry.db"
    engine = registry_db.make_engine(f"sqlite:///{path}")
    registry_db.migrate(engine)
    keys, ids = {}, {}
    with registry_db.make_sessionmaker(engine)() as s:
        for spec in BUILDINGS:
            repo.upsert_building(session=s, spec=spec)
        for role in Role.all:
            u, key = create_user(s, name=f"{role}-user", role=role, email=f"{role}@example.org")
            keys[role], ids[role] = key, u.id
        s.add(Assignment(user_id=ids[Role.facility_manager], building_code=MINE))
        s.commit()
    engine.dispose()
    return path, keys, ids


@pytest.fixture
def world(tmp_path, influxd, fresh_db, world_template) -> World:
    template, keys, ids = world_template
    shutil.copy(template, tmp_path / "registry.db")
    key_cache.clear()
    app = create_app(make_settings(tmp_path, influxd, fresh_db), migrate=False)
    with TestClient(app) as client:
        yield World(app, client, keys, ids, fresh_db)
    app.state.engine.dispose()
