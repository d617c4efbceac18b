"""Schemathesis against the app's own OpenAPI document: no generated request, valid or not, may
produce a server error. Bounded (a few examples per operation) to stay inside the test budget.

The operations come from the schema inside the test (schemathesis' pytest fixture loader does
not run on this pytest version), each driven by its hypothesis strategy, and the generated
requests go through FastAPI's TestClient."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import World


def _send(world: World, case, role: str):
    """Send a generated case with the app's TestClient (schemathesis' own ASGI transport goes
    through ``requests`` internals that this environment's urllib3 no longer has)."""
    kw = case.as_transport_kwargs(base_url="http://testserver", headers=world.as_(role))
    allowed = ("params", "headers", "json", "data", "files", "cookies")
    extra = {k: v for k, v in kw.items() if k in allowed and v is not None}
    if isinstance(extra.get("data"), bytes | str):
        extra["content"] = extra.pop("data")
    return world.client.request(kw["method"], kw["url"], **extra)


def _no_server_errors(world: World, role: str, max_examples: int) -> list[str]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    failures: list[str] = []
    operations = 0
    ops = [r.ok() for r in schema.get_all_operations()]
    # Deletes last: revoking the caller's own keys must not turn every later case into a 401.
    for op in sorted(ops, key=lambda o: o.method.upper() == "DELETE"):
        operations += 1

        @given(case=op.as_strategy())
        @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def run(case) -> None:
            response = _send(world, case, role)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.200} "
                                f"-> {response.status_code}: {response.text[:300]}")

        run()
    assert operations >= 30  # every router's operations were walked
    return failures


@pytest.mark.parametrize(("role", "max_examples"), [("administrator", 8), ("facility_manager", 4)])
def test_no_server_error(world: World, role: str, max_examples: int):
    failures = _no_server_errors(world, role, max_examples)
    assert not failures, "\n".join(failures[:20])
