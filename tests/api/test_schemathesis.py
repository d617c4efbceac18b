"""Schemathesis against the app's own OpenAPI document, for every role and without a key: no
generated request, valid or not, may produce a server error. Bounded (a few examples per
operation) to stay inside the test budget.

The operations come from the schema inside the test (schemathesis' pytest fixture loader does
not run on this pytest version), each driven by its hypothesis strategy, and every request goes
through schemathesis' own ASGI transport (``case.call``), which is built on ``requests`` and
``urllib3``: the same stack as ``schemathesis run`` against a running server."""

from __future__ import annotations

import importlib.metadata

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import World


def test_urllib3_is_not_shadowed():
    # urllib3-future (pulled in by grafana-client 4+ through niquests; we pin < 4) copies itself
    # over the urllib3 package, and every request schemathesis sends then fails inside urllib3.
    # The package imported must be the urllib3 distribution that is installed.
    import urllib3

    assert urllib3.__version__ == importlib.metadata.version("urllib3"), (
        f"the urllib3 package is {urllib3.__version__} from {urllib3.__file__}, not the installed urllib3 "
        f"{importlib.metadata.version('urllib3')}: urllib3-future replaces it. Run deploy/bootstrap.sh, or "
        "pip uninstall niquests urllib3-future && pip install --force-reinstall --no-deps urllib3")


def _no_server_errors(world: World, role: str | None, max_examples: int) -> list[str]:
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
            where = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.200}"
            try:
                response = case.call(headers=world.as_(role))
            except Exception as exc:  # the app raised: a server error the transport did not turn into a 500
                failures.append(f"{where} -> {type(exc).__name__}: {str(exc)[:300]}")
                return
            if response.status_code >= 500:
                failures.append(f"{where} -> {response.status_code}: {response.text[:300]}")

        run()
    assert operations >= 30  # every router's operations were walked
    return failures


@pytest.mark.parametrize(("role", "max_examples"), [
    ("administrator", 8), ("bureau_staff", 4), ("auditor", 4), ("facility_manager", 4), (None, 3)])
def test_no_server_error(world: World, role: str | None, max_examples: int):
    failures = _no_server_errors(world, role, max_examples)
    assert not failures, "\n".join(failures[:20])
