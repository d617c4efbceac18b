"""The API's own documentation pages in a real headless Chromium against a real uvicorn: Swagger UI
and ReDoc render the operations from assets the API serves itself (issue: /docs was a blank page
on networks that cannot reach a CDN). Screenshots go to test-artifacts/api-docs/."""

from __future__ import annotations

import os
import time

import pytest

from tests.api.disclosure.browser import Browser, chromium_path
from tests.api.disclosure.conftest import ARTIFACTS

pytestmark = pytest.mark.skipif(chromium_path() is None and not os.environ.get("CI"),
                                reason="needs the Debian package chromium (deploy/bootstrap.sh installs it)")


def _wait_for(browser: Browser, expression: str, timeout_s: float = 20.0):
    """Poll ``expression`` until truthy: both UIs render after their script fetched /openapi.json."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = browser.js(expression)
        if value:
            return value
        time.sleep(0.2)
    return browser.js(expression)


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


def test_docs_pages_load_no_external_asset(client):
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        # Every script and stylesheet the page names is served by the API itself.
        assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html, path
        assert "/static/api-docs/" in html, path
    assert client.get("/static/api-docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/api-docs/redoc.standalone.js").status_code == 200


def test_swagger_ui_renders_the_operations(browser, platform, client):
    n_paths = len(client.get("/openapi.json").json()["paths"])
    browser.goto(f"{platform.url}/docs")
    shown = _wait_for(browser, "document.querySelectorAll('.opblock').length")
    browser.screenshot(ARTIFACTS.parent / "api-docs" / "swagger-ui.png")
    # At least one operation block per path (a path with GET and POST shows two).
    assert shown >= n_paths > 10, (shown, n_paths)
    assert _wait_for(browser, "document.body.innerText.includes('/buildings')")


def test_redoc_renders_the_operations(browser, platform):
    browser.goto(f"{platform.url}/redoc")
    assert _wait_for(browser, "document.querySelectorAll('[data-section-id^=\"operation/\"]').length > 10")
    browser.screenshot(ARTIFACTS.parent / "api-docs" / "redoc.png")
