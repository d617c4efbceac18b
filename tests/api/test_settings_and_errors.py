"""Settings refuse placeholder secrets outside development; every error has one JSON shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.settings import DEV_PLACEHOLDER, Settings
from tests.api.conftest import MINE


def test_settings_production_without_secret_refused(monkeypatch):
    monkeypatch.delenv("EP_WEBHOOK_SIGNING_KEY", raising=False)
    with pytest.raises(ValidationError, match="EP_WEBHOOK_SIGNING_KEY"):
        Settings(env="production")


@pytest.mark.parametrize("placeholder", ["changeme", "secret", DEV_PLACEHOLDER])
def test_settings_production_placeholder_refused(placeholder):
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(env="production", webhook_signing_key=placeholder)


def test_settings_development_falls_back_to_placeholder(monkeypatch):
    monkeypatch.delenv("EP_WEBHOOK_SIGNING_KEY", raising=False)
    assert Settings(env="development").webhook_signing_key == DEV_PLACEHOLDER


def test_settings_read_from_environment(monkeypatch):
    monkeypatch.setenv("EP_ENV", "production")
    monkeypatch.setenv("EP_WEBHOOK_SIGNING_KEY", "a-real-key-from-the-vault")
    monkeypatch.setenv("EP_INFLUX_DB", "city")
    s = Settings()
    assert (s.env, s.webhook_signing_key, s.influx_db) == ("production", "a-real-key-from-the-vault", "city")


def test_settings_rollup_policy_default_and_rename(monkeypatch):
    monkeypatch.delenv("EP_ROLLUP_RP", raising=False)
    monkeypatch.delenv("EP_INFLUX_RP", raising=False)
    s = Settings()
    assert (s.rollup_rp, s.influx_rp) == ("rollup", None)  # rollups in "rollup", raw data in the default policy
    monkeypatch.setenv("EP_ROLLUP_RP", "rollups_b")
    assert Settings().rollup_rp == "rollups_b"
    monkeypatch.setenv("EP_ROLLUP_RP", "")
    with pytest.raises(ValidationError, match="rollup_rp"):
        Settings()


def test_fresh_database_gets_the_rollup_policy_and_answers_without_data(world, influxd):
    from storage.influx import InfluxHTTP

    with InfluxHTTP(influxd.url, world.influx_db) as db:
        s = db.query(f'SHOW RETENTION POLICIES ON "{world.influx_db}"')[0]
        rps = {row[0]: dict(zip(s["columns"], row, strict=True)) for row in s["values"]}
    assert rps["rollup"]["duration"] == "0s" and rps["rollup"]["shardGroupDuration"] == "8736h0m0s"  # INF, 52 w
    r = world.client.get(f"/buildings/{MINE}/indicators?year=2026", headers=world.as_("facility_manager"))
    assert r.status_code == 200, r.text
    assert r.json()["indicators"]["electricity_kwh"] == 0  # no rollup yet: no energy, not a storage error


def test_validation_error_names_field(world):
    r = world.client.get("/buildings?limit=0", headers=world.as_("administrator"))
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_value" and body["field"] == "limit" and "limit" in body["message"]


def test_enum_error_names_value(world):
    r = world.client.get("/buildings?building_type=castle", headers=world.as_("administrator"))
    assert r.status_code == 422
    assert r.json()["field"] == "building_type" and "castle" in r.json()["message"]


def test_limit_above_cap_refused(world):
    r = world.client.get("/buildings?limit=100000", headers=world.as_("administrator"))
    assert r.status_code == 422 and r.json()["field"] == "limit" and "1000" in r.json()["message"]


def test_unknown_route_has_error_shape(world):
    r = world.client.get("/nowhere", headers=world.as_("administrator"))
    assert r.status_code == 404 and set(r.json()) == {"code", "message", "field"}


def test_bad_building_code_names_field(world):
    r = world.client.get("/buildings/XX", headers=world.as_("administrator"))
    assert r.status_code == 422 and r.json()["field"] == "building_code" and "'XX'" in r.json()["message"]


def test_missing_building_is_404(world):
    r = world.client.get("/buildings/510402A999", headers=world.as_("administrator"))
    assert r.status_code == 404 and r.json() == {"code": "not_found", "field": "building_code",
                                                 "message": "building 510402A999 does not exist"}
    assert MINE != "510402A999"
