"""Coverage in the disclosure workflow and on the public pages, over a real uvicorn (and a real
headless Chromium for the wording): a record below the minimum coverage (0.9, the default
``EP_MIN_COVERAGE``) is refused until bureau staff override it with a reason kept in the
event log; drafts are discarded with an event; the public page says "insufficient data" (数据不足)
instead of a reassuring verdict and never shows example quota values. Screenshots go to
test-artifacts/disclosure/.

Years 2001-2006 are used only here (the platform database is shared by the session).
Coverage of the examples: 876 of 35,040 quarter-hour readings = 2.5 % (about 9 days of a year).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from api.disclosure import service
from api.disclosure.models import DisclosureRecord
from tests.api.disclosure.browser import Browser, chromium_path
from tests.api.disclosure.conftest import ARTIFACTS, ROOT
from tests.api.disclosure.factories import figures

LOW = {"coverage": 876 / 35_040, "readings": 876, "expected_readings": 35_040}
#: A quota standard the city configured (not the shipped example table).
CITY_QUOTA = {"quota_source": "乐山市公共建筑能耗定额 2024 (city standard)"}
EXAMPLE_QUOTA = {"quota_source": "EXAMPLE VALUE - replace with GB/T 51161-2016 Table 5.2 or the city's own quota "
                                 "standard"}


def _do(client, platform, rid: int, action: str, who: str, **body):
    return client.post(f"/disclosures/records/{rid}/{action}", headers=platform.headers(who), json=body or None)


def _code(resp) -> tuple[int, str]:
    return resp.status_code, resp.json().get("code")


def test_low_coverage_refused_then_overridden_with_reason_in_the_event_log(client, platform):
    rid = platform.draft("510402A001", 2001, **LOW)
    # Refused for everyone, facility manager and bureau staff, with the field named.
    for who in ("fm", "staff1"):
        r = _do(client, platform, rid, "submit", who)
        assert _code(r) == (409, "insufficient_coverage") and r.json()["field"] == "coverage", r.text
        assert "2.5%" in r.json()["message"] and "90%" in r.json()["message"]
    # Only bureau staff override, and only with a reason.
    assert _code(_do(client, platform, rid, "override", "fm", reason="please")) == (403, "role_not_allowed")
    assert _code(_do(client, platform, rid, "override", "staff1")) == (422, "reason_required")
    reason = "meter gateway replaced in March; bureau accepts the partial year for 2001"
    r = _do(client, platform, rid, "override", "staff1", reason=reason)
    assert r.status_code == 200 and r.json()["state"] == "draft", r.text
    for action, who in (("submit", "fm"), ("approve", "staff1"), ("publish", "staff2")):
        assert _do(client, platform, rid, action, who).status_code == 200, action
    events = client.get(f"/disclosures/records/{rid}", headers=platform.headers("auditor")).json()["events"]
    assert [(e["action"], e["actor_name"], e["text"]) for e in events] == [
        ("generate", "system", None), ("override", "staff1", reason), ("submit", "fm", None),
        ("approve", "staff1", None), ("publish", "staff2", None)]


def test_refusal_writes_nothing_and_full_coverage_needs_no_override(client, platform):
    low = platform.draft("510402A001", 2002, **LOW)
    assert _code(_do(client, platform, low, "submit", "staff1")) == (409, "insufficient_coverage")
    rec = client.get(f"/disclosures/records/{low}", headers=platform.headers("auditor")).json()
    assert rec["state"] == "draft" and [e["action"] for e in rec["events"]] == ["generate"]
    full = platform.draft("510402A002", 2002)  # coverage 1.0
    assert _code(_do(client, platform, full, "override", "staff1", reason="x")) == (409, "override_not_needed")
    assert _do(client, platform, full, "submit", "staff1").status_code == 200


def test_discard_draft_with_event_and_regenerate_after(client, platform):
    rid = platform.draft("510402A001", 2003, **LOW)
    assert _code(_do(client, platform, rid, "discard", "fm", reason="mine")) == (403, "role_not_allowed")
    assert _code(_do(client, platform, rid, "discard", "staff1")) == (422, "reason_required")
    r = _do(client, platform, rid, "discard", "staff1", reason="generated from 2.5 % of the year by mistake")
    assert r.status_code == 200 and r.json()["state"] == "discarded", r.text
    last = r.json()["events"][-1]
    assert (last["action"], last["from_state"], last["to_state"], last["text"]) == (
        "discard", "draft", "discarded", "generated from 2.5 % of the year by mistake")
    # A discarded record is closed: no more actions, and it is not in the review queue's states.
    assert _code(_do(client, platform, rid, "submit", "staff1")) == (409, "invalid_state")
    assert _code(_do(client, platform, rid, "comment", "staff1", comment="hm")) == (409, "record_immutable")
    # Generating again stores a new version beside the discarded one.
    with platform.sessions() as s:
        again = service.store_draft(session=s, figures=figures("510402A001", 2003, energy_tce=1.0, **LOW))
        states = s.scalars(select(DisclosureRecord.state).where(
            DisclosureRecord.building_code == "510402A001", DisclosureRecord.year == 2003)
            .order_by(DisclosureRecord.version)).all()
    assert again.created and again.version == 2 and states == ["discarded", "draft"]


def test_command_line_discards_low_coverage_drafts_of_a_year(client, platform):
    low = platform.draft("510402A001", 2004, **LOW)
    full = platform.draft("510402A002", 2004)  # coverage 1.0: kept
    submitted = platform.draft("510402A003", 2004)
    assert _do(client, platform, submitted, "submit", "staff1").status_code == 200
    env = {**os.environ, "EP_DATABASE_URL": platform.db_url, "EP_MIN_COVERAGE": "0.9"}
    run = subprocess.run([sys.executable, "-m", "api.disclosure", "discard", "--year", "2004", "--below-min-coverage",
                          "--reason", "generated from 2.5 % of the year", "--by", "Wang (bureau)"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "1 draft(s) discarded" in run.stdout, run.stderr
    states = {rid: client.get(f"/disclosures/records/{rid}", headers=platform.headers("auditor")).json()
              for rid in (low, full, submitted)}
    assert [states[r]["state"] for r in (low, full, submitted)] == ["discarded", "draft", "submitted"]
    last = states[low]["events"][-1]
    assert (last["action"], last["actor_name"], last["actor_role"], last["text"]) == (
        "discard", "Wang (bureau)", "system", "generated from 2.5 % of the year")


def _publish_overridden(client, platform, rid: int) -> None:
    assert _do(client, platform, rid, "override", "staff1", reason="test: publish partial data").status_code == 200
    for action, who in (("submit", "staff1"), ("approve", "staff2"), ("publish", "staff2")):
        assert _do(client, platform, rid, action, who).status_code == 200, action


def test_feed_and_csv_show_what_the_data_support(client, platform):
    # Below the minimum, not triggered, within a city quota: nothing reassuring may be said.
    low = platform.draft("511102A011", 2005, **LOW, **CITY_QUOTA)
    _publish_overridden(client, platform, low)
    # Full coverage, example quota: the verdicts stand, the example quota does not.
    full = platform.draft("511102A012", 2005, **EXAMPLE_QUOTA)
    for action, who in (("submit", "staff1"), ("approve", "staff2"), ("publish", "staff2")):
        assert _do(client, platform, full, action, who).status_code == 200
    feed = {i["building_code"]: i["figures"] for i in client.get("/disclosures/feed.json?year=2005").json()["items"]}
    lo, fu = feed["511102A011"], feed["511102A012"]
    assert (lo["audit_required"], lo["audit_verdict"], lo["quota_status"]) == (None, "insufficient_data",
                                                                               "insufficient_data")
    assert lo["quota_constraint_kwh_per_m2"] == 110.0  # a real standard's values are shown
    assert (fu["audit_required"], fu["audit_verdict"], fu["quota_status"]) == (False, "not_required", "no_standard")
    assert fu["quota_guide_kwh_per_m2"] is None and fu["quota_source"] is None
    assert "EXAMPLE" not in client.get("/disclosures/feed.json?year=2005").text
    rows = {r["building_code"]: r for r in csv.DictReader(io.StringIO(client.get("/disclosures/export.csv?year=2005")
                                                                     .text))}
    assert (rows["511102A011"]["audit_required"], rows["511102A011"]["audit_verdict"]) == ("", "insufficient_data")
    assert rows["511102A012"]["quota_status"] == "no_standard"
    # "Audit not required" lists only records whose coverage supports it.
    r = client.get("/disclosures/feed.json?year=2005&audit_required=false").json()
    assert [i["building_code"] for i in r["items"]] == ["511102A012"]


# --- the public page in a real browser ----------------------------------------------------------

needs_chromium = pytest.mark.skipif(chromium_path() is None and not os.environ.get("CI"),
                                    reason="needs the Debian package chromium (deploy/bootstrap.sh installs it)")


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


def _page_text(browser, url: str) -> str:
    browser.goto(url)
    return browser.js("document.body.innerText")


@needs_chromium
def test_public_page_wording_in_chromium(browser, client, platform):
    low = platform.draft("511102B021", 2006, name="数据不全商场 Partial mall", **LOW, **CITY_QUOTA)
    _publish_overridden(client, platform, low)
    text = _page_text(browser, f"{platform.url}/disclosures/buildings/511102B021?year=2006")
    assert browser.js("document.getElementById('coverage-pct').innerText") == "2.5%"  # 876 / 35,040
    assert "数据不足" in text and "Insufficient data" in text and "below the minimum 90%" in text
    assert browser.js("document.getElementById('audit').dataset.verdict") == "insufficient_data"
    assert browser.js("document.getElementById('quota').dataset.verdict") == "insufficient_data"
    for reassuring in ("Within guide value", "不高于引导值", "Audit not required", "无需审计"):
        assert reassuring not in text, reassuring
    assert "coverage 2.5%" in browser.js("document.getElementById('energy-tce').innerText")
    browser.screenshot(ARTIFACTS / "coverage_insufficient.png")

    example = platform.draft("511102B022", 2006, name="示例定额商场 Example-quota mall", **EXAMPLE_QUOTA)
    for action, who in (("submit", "staff1"), ("approve", "staff2"), ("publish", "staff2")):
        assert _do(client, platform, example, action, who).status_code == 200
    text = _page_text(browser, f"{platform.url}/disclosures/buildings/511102B022?year=2006")
    assert "未配置能耗定额标准" in text and "No quota standard configured" in text
    html = browser.js("document.documentElement.outerHTML")
    assert "EXAMPLE VALUE" not in html and "引导值 guide" not in html  # no example values at all
    assert browser.js("document.getElementById('audit').dataset.verdict") == "not_required"  # coverage 100 %
    browser.screenshot(ARTIFACTS / "quota_no_standard.png")

    # Control: full coverage and a city standard say "within guide value", so the checks above can fail.
    ok = platform.draft("511102B023", 2006, name="正常商场 Complete mall", **CITY_QUOTA)
    for action, who in (("submit", "staff1"), ("approve", "staff2"), ("publish", "staff2")):
        assert _do(client, platform, ok, action, who).status_code == 200
    text = _page_text(browser, f"{platform.url}/disclosures/buildings/511102B023?year=2006")
    assert "Within guide value" in text and "约束值 constraint 110 kWh/m²" in text and "数据不足" not in text

    # The list shows each record's coverage and the same verdicts.
    browser.goto(f"{platform.url}/disclosures?year=2006")
    cells = browser.js("Object.fromEntries([...document.querySelectorAll('#disclosures tr[data-record-id]')]"
                       ".map(r => [r.dataset.buildingCode, r.querySelector('[data-verdict]').dataset.verdict]))")
    assert cells == {"511102B021": "insufficient_data", "511102B022": "not_required", "511102B023": "not_required"}
    browser.screenshot(ARTIFACTS / "coverage_list.png")


@needs_chromium
def test_review_page_override_in_chromium(browser, client, platform):
    rid = platform.draft("511102C031", 2006, name="待豁免宾馆 Hotel to override", **LOW)
    browser.call("Network.clearBrowserCookies")
    browser.goto(f"{platform.url}/disclosures/login?next=/disclosures/review/{rid}")
    browser.act_and_wait_load(f"document.getElementById('api_key').value={json.dumps(platform.keys['staff1'])};"
                              "document.getElementById('login-form').submit()")
    assert browser.js("document.getElementById('coverage-pct').innerText") == "2.5%"
    # Below the minimum the page offers no Submit (it would be refused: insufficient_coverage,
    # which test_low_coverage_refused_then_overridden_with_reason_in_the_event_log checks over HTTP), only the override.
    assert not browser.js("!!document.getElementById('do-submit')")
    browser.act_and_wait_load("document.getElementById('do-override').click()")  # no reason
    assert browser.js("document.getElementById('error').dataset.code") == "reason_required"
    browser.act_and_wait_load("document.querySelector('.action-override textarea').value='meter replaced in June';"
                              "document.getElementById('do-override').click()")
    assert browser.js("!!document.getElementById('overridden')") and not browser.js(
        "!!document.getElementById('do-override')")
    browser.act_and_wait_load("document.getElementById('do-submit').click()")
    assert browser.js("document.getElementById('state').dataset.state") == "submitted"
    history = browser.js("[...document.querySelectorAll('#history tr[data-action]')].map(r => "
                         "[r.dataset.action, r.cells[4].innerText])")
    assert history == [["generate", ""], ["override", "meter replaced in June"], ["submit", ""]]
    browser.screenshot(ARTIFACTS / "review_override.png")
