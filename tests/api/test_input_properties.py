"""Property tests over every path and query parameter of every route of the app, public pages and
routes hidden from the OpenAPI document included: arbitrary Unicode text, control characters,
digits of other scripts and times outside InfluxDB's storage range never give a 5xx, and a JSON
422 has the API's error shape and names the field.

The routes are walked from the app itself (not from a list kept here), so a new route or a new
parameter is fuzzed without touching this file. One parameter is fuzzed at a time, the others
keep a valid value, so the fuzzed value reaches the code behind the checks that come first.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.disclosure import service
from tests.api.conftest import MINE, OTHER, World
from tests.api.disclosure.factories import figures

#: A valid value per parameter name; a required parameter not listed here fails the test, so a
#: new route cannot be skipped silently.
VALID = {
    "building_code": MINE, "record_id": "1", "alert_id": "1", "user_id": "1", "subscription_id": "1",
    "retrofit_id": "1",
    "action": "comment", "measurement": "meter", "field": "consumption_kwh",
    "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z",
}

#: Inputs that crashed conversions behind a text check, or that pass a check with ``$``: digits of
#: other scripts (``"²".isdigit()`` is true, ``int("²")`` raises), a trailing newline or NUL,
#: times that overflow on conversion to UTC or lie outside InfluxDB's int64-nanosecond range.
SPECIAL = [
    "", "²", "٢٠٢٥", "２０２５", "Ⅻ", "1_000", "1e3", "NaN", "\x00", "\n", "\u2028", "'", "\\", "/",
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1677-09-21T00:12:43Z", "2262-04-12T00:00:00Z",
    "2026-01-01T00:00:00", "99999999999999999999", "-99999999999999999999",
]
CONTROL = [chr(c) for c in range(0x20)] + ["\x7f", "\x85", "\u2028"]

# Surrogates cannot be sent as UTF-8; everything else Unicode has, can.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)


def _operations(app) -> list[tuple[str, str, list[tuple[str, str, bool]]]]:
    """(method, path, [(name, "path"|"query", required)]) for every API route, dependencies included."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        params: dict[str, tuple[str, str, bool]] = {}
        stack = [route.dependant]
        while stack:
            d = stack.pop()
            for f in d.path_params:
                params[f.alias] = (f.alias, "path", True)
            for f in d.query_params:
                params.setdefault(f.alias, (f.alias, "query", f.field_info.is_required()))
            stack.extend(d.dependencies)
        for method in sorted(route.methods):
            out.append((method, ctx.path, sorted(params.values())))
    # Deletes last: revoking the caller's own keys must not turn every later case into a 401.
    return sorted(out, key=lambda o: o[0] == "DELETE")


def _request(world: World, role: str | None, method: str, path: str, params, fuzzed: str, value: str):
    values = {name: VALID[name] for name, _, required in params if required}
    values[fuzzed] = value
    url = path
    query = {}
    for name, where, _ in params:
        if name not in values:
            continue
        if where == "path":
            url = url.replace("{" + name + "}", quote(values[name], safe=""))
        else:
            query[name] = values[name]
    headers = world.as_(role)
    if role is not None:  # the review pages read the key from their login cookie
        headers["Cookie"] = f"ep_key={world.keys[role]}"
    return world.client.request(method, url, params=query, headers=headers, follow_redirects=False)


def _check(response, method: str, path: str, fuzzed: str, value: str) -> str | None:
    where = f"{method} {path} {fuzzed}={value!r}"
    if response.status_code >= 500:
        return f"{where} -> {response.status_code}: {response.text[:300]}"
    if response.status_code == 422 and response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        if set(body) != {"code", "message", "field"}:
            return f"{where} -> 422 without the error shape: {response.text[:300]}"
        if method == "GET" and not body["field"]:  # a GET has no body: the 422 is about a parameter
            return f"{where} -> 422 naming no field: {response.text[:300]}"
    return None


def _fuzz(world: World, role, method: str, path: str, params, name: str, valid: str, failures: list[str]) -> None:
    @given(value=TEXT | st.builds(lambda c, before: c + valid if before else valid + c,
                                  st.sampled_from(CONTROL), st.booleans()))
    @settings(max_examples=4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def fuzz(value: str) -> None:
        problem = _check(_request(world, role, method, path, params, name, value), method, path, name, value)
        if problem:
            failures.append(problem)

    fuzz()


@pytest.fixture
def seeded(world: World) -> World:
    """The world with one disclosure draft of a building the facility manager is not assigned, and
    a client that answers a server error with its 500 instead of raising it in the test."""
    with world.app.state.sessions() as s:
        service.store_draft(session=s, figures=figures(OTHER, 2025))
    return dataclasses.replace(world, client=TestClient(world.app, raise_server_exceptions=False))


@pytest.mark.parametrize("role", [None, "facility_manager", "administrator"])
def test_no_parameter_value_gives_a_server_error(seeded: World, role: str | None):
    failures: list[str] = []
    operations = _operations(seeded.app)
    assert len(operations) >= 45  # every router's operations were walked
    for method, path, params in operations:
        missing = [n for n, _, required in params if required and n not in VALID]
        assert not missing, f"{method} {path}: add a valid value for {missing} to VALID"
        for name, _, _ in params:
            valid = VALID.get(name, "1")
            # The inputs known to break conversions, each tried once...
            for value in [*SPECIAL, valid + "\n", valid + "\x00", "\x00" + valid, valid + "\u00b2"]:
                problem = _check(_request(seeded, role, method, path, params, name, value), method, path, name, value)
                if problem:
                    failures.append(problem)

            # ...then arbitrary Unicode text, and the valid value with control characters around it.
            _fuzz(seeded, role, method, path, params, name, valid, failures)
    unique = list(dict.fromkeys(failures))
    assert not unique, f"{len(unique)} failure(s):\n" + "\n".join(unique[:30])


def _readings(world: World, **params):
    query = {"measurement": "meter", "field": "consumption_kwh", **params}
    return world.client.get(f"/buildings/{MINE}/readings", params=query, headers=world.as_("administrator"))


# InfluxDB stores int64 ns: 1677-09-21T00:12:43.145224194Z .. 2262-04-11T23:47:16.854775806Z.
@pytest.mark.parametrize(("start", "end", "field"), [
    ("2262-04-11T20:00:00Z", "2262-04-12T00:00:00Z", "end"),      # end 12 min 43 s past the last storable ns
    ("1677-09-20T23:00:00Z", "1677-09-21T03:00:00Z", "start"),    # start 1 h 12 min before the first
    ("2026-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00", "end"),  # overflows datetime when made UTC
    ("0001-01-01T00:00:00+05:00", "2026-01-01T00:00:00Z", "start"),
])
def test_times_outside_influxdbs_range_are_a_422_naming_the_time(world: World, start, end, field):
    r = _readings(world, start=start, end=end)
    assert r.status_code == 422, r.text  # was 502 (InfluxDB refused) or 500 (OverflowError)
    assert r.json()["field"] == field and "storable range" in r.json()["message"]


def test_times_at_the_edge_of_the_range_are_queried(world: World):
    # 2262-04-11T20:00Z .. 23:00Z lies inside the range (the last ns is 23:47:16.854775806Z): 3 h at 1 h.
    r = _readings(world, start="2262-04-11T20:00:00Z", end="2262-04-11T23:00:00Z")
    assert r.status_code == 200, r.text
    assert r.json()["series"] == []
    r = _readings(world, start="1969-12-31T23:59:59.5Z", end="1970-01-01T00:00:00.5Z")  # before 1970, with a fraction
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("params", "field"), [
    ({"device_id": "E-MAIN\n"}, "device_id"),
    ({"device_id": "E-MAIN\x00"}, "device_id"),
    ({"start": "2026-01-01T00:00:00"}, "start"),  # no zone
])
def test_identifiers_ending_in_a_control_character_are_refused(world: World, params, field):
    r = _readings(world, **{"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", **params})
    assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_a_building_code_with_a_trailing_newline_is_refused(world: World):
    r = world.client.get(f"/buildings/{quote(MINE + chr(10), safe='')}", headers=world.as_("administrator"))
    assert r.status_code == 422 and r.json()["field"] == "building_code", r.text
    r = world.client.get("/disclosures/feed.json", params={"year": "²"})  # public: isdigit() is true for "²"
    assert r.status_code == 422 and r.json()["field"] == "year", r.text
