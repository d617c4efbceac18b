"""The live building page in a real headless Chromium against a real uvicorn: a facility manager logs
in, sees their building only, reads today's load, alerts and the data-quality state; another
building is a 404 for them and open for bureau staff. Screenshots go to test-artifacts/live/."""

from __future__ import annotations

import datetime as dt
import json
import os

import httpx
import pytest

from api.db import Alert
from api.live.figures import quality_findings
from api.live.routes import WEEKDAY
from contract.localtime import local_midnight
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line
from tests.api.disclosure.browser import Browser, chromium_path
from tests.api.disclosure.conftest import ROOT
from tests.api.live.conftest import FM_BUILDING, OTHER_BUILDING

ARTIFACTS = ROOT / "test-artifacts" / "live"

pytestmark = pytest.mark.skipif(chromium_path() is None and not os.environ.get("CI"),
                                reason="needs the Debian package chromium (deploy/bootstrap.sh installs it)")


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def live_now(registry):
    """Readings of today (local) for the facility manager's building, and an open alert."""
    now = dt.datetime.now(dt.UTC)
    midnight = local_midnight(now.astimezone(dt.timezone(dt.timedelta(hours=8))).date())
    ts = int((midnight + (now - midnight) / 2).timestamp() * 1000)  # between local midnight and now
    tags = {"building_code": FM_BUILDING, "device_kind": "meter", "carrier": "electricity"}
    registry.influx.write_lines([
        encode_line("meter", {**tags, "device_id": "main", "sub_item": "main"}, {"consumption_kwh": 123.0}, ts),
        encode_line("meter", {**tags, "device_id": "light", "sub_item": "lighting_sockets"},
                    {"consumption_kwh": 45.0}, ts),
        encode_line("meter", {**tags, "device_id": "main", "sub_item": "main"}, {"consumption_kwh": 500.0},
                    int((midnight - dt.timedelta(hours=12)).timestamp() * 1000))])  # yesterday noon
    opened = dt.datetime(2026, 3, 1, 23, 15, tzinfo=dt.UTC)  # 07:15 on 2 March in Beijing
    with registry.session() as s:
        s.add(Alert(rule="meter_offline", building_code=FM_BUILDING, district="市中区", building_type="office",
                    ownership="state_organ_office", state="open", message="meter main silent for 30 min",
                    details={}, opened_at=opened, last_seen_at=opened))
        s.commit()
    return registry


def _log_in(browser, platform, who: str, target: str) -> None:
    browser.call("Network.clearBrowserCookies")
    browser.goto(f"{platform.url}{target}")
    assert browser.js("location.pathname") == "/live/login"
    browser.act_and_wait_load(f"document.getElementById('api_key').value={json.dumps(platform.keys[who])};"
                              "document.getElementById('login-form').submit()")


def test_facility_manager_sees_their_building_live(browser, live_now):
    p = live_now
    _log_in(browser, p, "fm", "/live")
    assert browser.js("location.pathname") == "/live"
    listed = browser.js("[...document.querySelectorAll('#buildings tr[data-building-code]')]"
                        ".map(r => r.dataset.buildingCode)")
    assert listed == [FM_BUILDING]
    browser.screenshot(ARTIFACTS / "my_buildings.png")

    browser.act_and_wait_load("document.querySelector('#buildings a').click()")
    assert browser.js("location.pathname") == f"/live/{FM_BUILDING}"
    today = browser.js("Object.fromEntries([...document.querySelectorAll('#today td[data-sub-item]')]"
                       ".map(c => [c.dataset.subItem, +c.dataset.valueKwh]))")
    assert today == {"main": 123.0, "lighting_sockets": 45.0, "hvac": 0.0, "power": 0.0, "special": 0.0}
    bars = browser.js("[...document.querySelectorAll('#chart-today rect.bar')].map(b => [b.dataset.key, "
                      "+b.dataset.value, b.getBoundingClientRect().width])")
    widths = {k: w for k, _, w in bars}
    assert widths["lighting_sockets"] == pytest.approx(widths["main"] * 45 / 123, rel=0.02)  # drawn to scale
    days = browser.js("[...document.querySelectorAll('#days tr[data-date]')]"
                      ".map(r => +r.querySelector('td[data-sub-item=main]').dataset.valueKwh)")
    assert days == [0.0] * 6 + [500.0]  # yesterday is the last of the 7 complete days
    text = browser.js("document.body.innerText")
    assert "今日分项用电" in text and "Today's electricity by sub-item" in text and "北京时间" in text
    assert any(w in text for w in WEEKDAY)
    alert = browser.js("[...document.querySelectorAll('#alerts tr[data-alert-id]')].map(r => r.innerText)")
    assert len(alert) == 1 and "2026-03-02 07:15" in alert[0] and "meter main silent" in alert[0]
    assert browser.js("document.getElementById('quality').dataset.store") == "none"
    assert "No findings store" in text
    browser.screenshot(ARTIFACTS / "building_live.png")

    # Another building: the same 404 page an unknown building gets, naming nothing of it.
    browser.goto(f"{p.url}/live/{OTHER_BUILDING}")
    html = browser.js("document.documentElement.outerHTML")
    assert "not assigned to you" in html and "District archive" not in html
    browser.screenshot(ARTIFACTS / "other_building_404.png")


def test_statuses_per_role_over_http(live_now):
    p = live_now
    with httpx.Client(base_url=p.url, timeout=30) as anon:
        r = anon.get(f"/live/{FM_BUILDING}")
        assert r.status_code == 303 and r.headers["location"].startswith("/live/login")
    for who, code, status in (("fm", OTHER_BUILDING, 404), ("fm", "510402A999", 404), ("fm", "x'; DROP", 404),
                              ("fm", FM_BUILDING, 200), ("staff1", OTHER_BUILDING, 200),
                              ("auditor", FM_BUILDING, 200), ("admin", "510402A999", 404)):
        with httpx.Client(base_url=p.url, timeout=30) as c:
            r = c.post("/live/login", data={"api_key": p.keys[who], "next": "/live"})
            assert r.status_code == 303 and "path=/live" in r.headers["set-cookie"].lower()
            assert c.get(f"/live/{code}").status_code == status, (who, code)
    with httpx.Client(base_url=p.url, timeout=30) as c:
        r = c.post("/live/login", data={"api_key": "ep_nope_nope"})
        assert r.status_code == 401 and "密钥无效" in r.text and "set-cookie" not in r.headers


def test_findings_are_read_when_the_store_exists(live_now, influxd):
    db = InfluxHTTP(influxd.url, f"{live_now.influx.database}_dq")
    db.create_database()
    try:
        assert quality_findings(db, FM_BUILDING) is None  # no such measurement yet
        ts = int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp() * 1000)
        db.write_lines([encode_line("data_quality", {"building_code": FM_BUILDING, "check": "gap"},
                                    {"detail": "no readings 02:00-03:00"}, ts),
                        encode_line("data_quality", {"building_code": OTHER_BUILDING, "check": "gap"},
                                    {"detail": "other building"}, ts)])
        rows = quality_findings(db, FM_BUILDING)
        assert [(r["check"], r["detail"]) for r in rows] == [("gap", "no readings 02:00-03:00")]
    finally:
        db.query("DROP DATABASE " + json.dumps(db.database))
        db.close()
