"""A facility manager asking for another building gets 403 or 404 on EVERY route that takes a
building, and lists never show other buildings. The routes are taken from the app itself (its
OpenAPI document, which FastAPI builds from ``app.routes``; this FastAPI version keeps included
routers lazily, so the schema is the public way to enumerate them), so a new route cannot
escape: an unknown path parameter fails the test until it is classified here."""

from __future__ import annotations

import datetime as dt
import re

from api.db import Alert, Subscription
from api.disclosure import service as disclosure_service
from contract.quality import FindingCode
from ingest.findings import Finding
from registry.retrofits import add_retrofit
from storage.influx import InfluxHTTP
from tests.api.conftest import ELSEWHERE, MINE, OTHER, building
from tests.api.disclosure.factories import figures

#: Path parameters the test knows how to fill with "someone else's" value.
KNOWN_PARAMS = {"building_code", "alert_id", "user_id", "subscription_id", "record_id", "action", "retrofit_id"}
#: Query parameters that name a building: passing another building must be refused too.
BUILDING_QUERY_PARAMS = {"building_code", "building_codes"}
FORBIDDEN_LISTING = (OTHER, ELSEWHERE)


def _setup(world) -> dict[str, str]:
    t = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    with world.app.state.sessions() as s:
        a = Alert(rule="night_base_load", building_code=OTHER, district="Shizhong", building_type="mall",
                  ownership="large_public", state="open", message="x", details={}, opened_at=t, last_seen_at=t)
        mine = Alert(rule="night_base_load", building_code=MINE, district="Shizhong", building_type="office",
                     ownership="large_public", state="open", message="y", details={}, opened_at=t, last_seen_at=t)
        sub = Subscription(user_id=world.user_ids["auditor"], channel="email", target="a@example.org")
        s.add_all([a, mine, sub])
        s.commit()
        record = disclosure_service.store_draft(session=s, figures=figures(OTHER, 2025)).record_id
        retrofit = add_retrofit(session=s, building_code=OTHER, completed_on=dt.date(2026, 1, 31),
                                measures="chillers", expected_saving_share=0.1).id
        s.commit()
        values = {"building_code": OTHER, "alert_id": str(a.id), "user_id": str(world.user_ids["administrator"]),
                  "subscription_id": str(sub.id), "record_id": str(record), "action": "submit",
                  "retrofit_id": str(retrofit)}
    # A data-quality finding of another building, inside GET /data-quality's default range (7 days).
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    db = InfluxHTTP(world.app.state.settings.influx_url, world.influx_db)
    db.create_database()
    db.write_lines([Finding(FindingCode.gap, OTHER, "E-1", now_ms - 7_200_000, now_ms - 60_000, "gap").line()])
    return values


def _routes(world) -> list[tuple[str, str, dict]]:
    out = []
    for path, ops in world.app.openapi()["paths"].items():
        for method, op in ops.items():
            out.append((method.upper(), path, op))
    return out


def _query_names(op: dict) -> set[str]:
    return {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}


def _body(op: dict, spec: dict):
    """A valid body for the operation, so that only the building check can refuse it."""
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = content["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "building_code" in schema.get("properties", {}):
        return building(OTHER, "Shizhong").model_dump(mode="json")
    samples = {"string": "checked on site", "integer": 1, "number": 1.0, "boolean": True, "array": []}
    return {name: samples.get(schema["properties"][name].get("type", "string"), "x")
            for name in schema.get("required", [])}


def test_every_route_with_a_building_refuses_other_buildings(world):
    values = _setup(world)
    spec = world.app.openapi()
    fm = world.as_("facility_manager")
    checked = 0
    for method, path, route in _routes(world):
        params = set(re.findall(r"{(\w+)", path))
        assert params <= KNOWN_PARAMS, f"{method} {path}: classify the new path parameter(s) {params - KNOWN_PARAMS}"
        if not params:
            continue
        url = path
        for p in params:
            url = url.replace("{" + p + "}", values[p])
        query = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", "measurement": "meter",
                 "field": "consumption_kwh", "year": "2026"}
        r = world.client.request(method, url, params=query, json=_body(route, spec), headers=fm)
        assert r.status_code in (403, 404), f"{method} {url} gave {r.status_code}: {r.text[:200]}"
        checked += 1
    assert checked >= 8  # the test really walked the building, alert, user and subscription routes


def test_building_query_parameters_refuse_other_buildings(world):
    _setup(world)
    fm = world.as_("facility_manager")
    for method, path, route in _routes(world):
        names = _query_names(route)
        hit = names & BUILDING_QUERY_PARAMS
        if not hit or re.search(r"{\w+", path):
            continue
        r = world.client.request(method, path, params=dict.fromkeys(hit, OTHER), headers=fm)
        assert r.status_code in (403, 404) or not any(c in r.text for c in FORBIDDEN_LISTING), f"{method} {path}"


def test_every_list_and_export_shows_only_assigned_buildings(world):
    _setup(world)
    fm = world.as_("facility_manager")
    lists = 0
    for method, path, _route in _routes(world):
        if method != "GET" or re.search(r"{\w+", path):
            continue
        for fmt in ({}, {"format": "csv"}):
            r = world.client.get(path, params={**fmt, "year": "2026"}, headers=fm)
            if r.status_code in (401, 403):
                continue
            assert r.status_code in (200, 422), f"GET {path} {fmt}: {r.status_code}"
            leaked = [c for c in FORBIDDEN_LISTING if c in r.text]
            assert not leaked, f"GET {path} {fmt} shows {leaked} to a facility manager"
            lists += 1
    assert lists >= 4
