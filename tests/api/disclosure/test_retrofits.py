"""The retrofit savings section of the annual disclosure: stored ``retrofit_savings`` points written
by analytics.savings.write_savings into the real InfluxDB -> the snapshot -> the public page (HTTP and
headless Chromium, screenshot kept), the feed and the CSV; a snapshot without the section still renders.

Worked year 2025 of building 510402A001:
- retrofit 1, completed 2024-12-15, baseline meets Guideline 14; stored months
  Dec 2024 (16 000 predicted, 14 000 measured, u 800 kWh), Jan 2025 (31 000, 27 000, u 1 000, 31 d),
  Feb 2025 (28 000, 24 500, u 900, 28 d). Year 2025 = Jan + Feb: predicted 59 000, measured 51 500,
  avoided 7 500 kWh, u 1 000 + 900 = 1 900 kWh (linear sum, upper bound), share 7 500 / 59 000 = 12.7 %,
  1 900 < 0.5 x 7 500 = 3 750 -> meets.
- retrofit 2, completed 2025-06-01, stored status no_baseline (no figures).
- retrofit 3, completed 2025-09-01, nothing stored -> not_verified.
- retrofit 4, completed 2026-02-01: after the year, not in the 2025 disclosure.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os

import pytest
from sqlalchemy import text

from analytics.savings import PeriodSavings, SavingsReport, write_savings
from api.disclosure.retrofits import retrofit_section
from registry.retrofits import add_retrofit, list_retrofits
from tests.api.disclosure.browser import Browser, chromium_path
from tests.api.disclosure.conftest import ARTIFACTS

pytestmark = pytest.mark.servers

CODE = "510402A001"


def _month(start: str, days: int, predicted: float, measured: float, u: float) -> PeriodSavings:
    return PeriodSavings(start, start, days, predicted, measured, predicted - measured, u,
                         (predicted - measured) / predicted)


def _publish(client, platform, rid: int) -> None:
    for action, who in (("submit", "staff1"), ("approve", "staff2"), ("publish", "staff2")):
        r = client.post(f"/disclosures/records/{rid}/{action}", headers=platform.headers(who))
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def section(platform):
    with platform.sessions() as s:
        ids = [add_retrofit(session=s, building_code=CODE, completed_on=d, measures=m, expected_saving_share=0.15).id
               for d, m in ((dt.date(2024, 12, 15), "冷水机组更换 chiller replacement"),
                            (dt.date(2025, 6, 1), "LED 照明 LED lighting"),
                            (dt.date(2025, 9, 1), "外窗改造 windows"),
                            (dt.date(2026, 2, 1), "屋顶保温 roof insulation"))]
        s.commit()
        ok = SavingsReport(status="ok", baseline={"guideline14": "meets"}, guideline14="meets",
                           months=[_month("2024-12-16", 16, 16_000, 14_000, 800),
                                   _month("2025-01-01", 31, 31_000, 27_000, 1_000),
                                   _month("2025-02-01", 28, 28_000, 24_500, 900)])
        write_savings(platform.influx, building_code=CODE, retrofit_id=ids[0], carrier="electricity", report=ok)
        write_savings(platform.influx, building_code=CODE, retrofit_id=ids[1], carrier="electricity",
                      report=SavingsReport(status="no_baseline", detail="no weather station assigned"))
        out = retrofit_section(rollups=platform.influx, retrofits=list_retrofits(session=s, building_code=CODE),
                               building_code=CODE, year=2025)
    return ids, out


def test_stored_savings_become_the_years_section(section):
    ids, out = section
    assert [x.retrofit_id for x in out] == ids[:3]  # retrofit 4 is completed after 2025
    one, two, three = out
    assert (one.status, one.months, one.days) == ("ok", 2, 31 + 28)
    assert one.predicted == 31_000 + 28_000 and one.measured == 27_000 + 24_500
    assert one.avoided == 7_500 and one.uncertainty == 1_000 + 900 and one.unit == "kwh"
    assert one.avoided_share == pytest.approx(7_500 / 59_000)
    assert one.guideline14 == "meets"  # 1 900 < 3 750
    assert (two.status, two.avoided, two.detail) == ("no_baseline", None, "no weather station assigned")
    assert (three.status, three.avoided, three.uncertainty) == ("not_verified", None, None)


def test_page_feed_and_csv_show_the_section(section, platform, client):
    _, out = section
    rid = platform.draft(CODE, 2025, retrofits=out)
    _publish(client, platform, rid)
    page = client.get(f"/disclosures/buildings/{CODE}?year=2025").text
    assert "节能改造效果" in page and "Retrofit savings" in page
    assert "7,500 ± 1,900 kwh" in page and "(12.7%)" in page  # 7 500 / 59 000
    assert "符合 ASHRAE 指南 14" in page and "无可用基线 No usable baseline" in page and "尚未核验" in page
    assert "roof insulation" not in page
    feed = client.get("/disclosures/feed.json?year=2025").json()
    item = next(i for i in feed["items"] if i["id"] == rid)
    assert [x["status"] for x in item["figures"]["retrofits"]] == ["ok", "no_baseline", "not_verified"]
    rows = list(csv.DictReader(io.StringIO(client.get("/disclosures/export.csv?year=2025").text)))
    cell = next(r for r in rows if r["building_code"] == CODE and r["version"] == str(
        client.get(f"/disclosures/records/{rid}", headers=platform.headers("staff1")).json()["version"]))
    ids = [x.retrofit_id for x in out]
    assert cell["retrofit_savings"] == (f"id={ids[0]} status=ok avoided=7500 uncertainty=1900 unit=kwh "
                                        f"guideline14=meets; id={ids[1]} status=no_baseline; "
                                        f"id={ids[2]} status=not_verified")


def test_snapshot_without_retrofits_and_version_1_snapshot_render(platform, client):
    rid = platform.draft("510402A003", 2024)
    with platform.sessions() as s:
        f = s.execute(text("SELECT figures FROM disclosure_record WHERE id = :i"), {"i": rid}).scalar_one()
        f = json.loads(f) if isinstance(f, str) else f
        assert f["retrofits"] == []  # a building without retrofits: an empty section, no heading
        del f["retrofits"]  # as version 1 stored it (before the section existed)
        f["snapshot_version"] = 1
        s.execute(text("UPDATE disclosure_record SET figures = :f, snapshot_version = 1 WHERE id = :i"),
                  {"f": json.dumps(f), "i": rid})
        s.commit()
    _publish(client, platform, rid)
    r = client.get("/disclosures/buildings/510402A003?year=2024")
    assert r.status_code == 200 and "综合能耗" in r.text and "节能改造效果" not in r.text
    rows = list(csv.DictReader(io.StringIO(client.get("/disclosures/export.csv?year=2024").text)))
    assert [row["retrofit_savings"] for row in rows if row["building_code"] == "510402A003"] == [""]


@pytest.mark.skipif(chromium_path() is None and not os.environ.get("CI"),
                    reason="needs the Debian package chromium (deploy/bootstrap.sh installs it)")
def test_section_in_headless_chromium(section, platform, client):
    _, out = section
    rid = platform.draft("510402A004", 2025, retrofits=out)
    _publish(client, platform, rid)
    b = Browser()
    try:
        b.goto(f"{platform.url}/disclosures/buildings/510402A004?year=2025")
        rows = b.js("[...document.querySelectorAll('#retrofits tbody tr')].map(r => "
                    "({s: r.dataset.status, a: r.querySelector('.avoided').innerText}))")
        assert [r["s"] for r in rows] == ["ok", "no_baseline", "not_verified"]
        assert rows[0]["a"].startswith("7,500 ± 1,900 kwh") and rows[1]["a"] == "—"
        assert b.js("document.querySelector('#retrofits').getBoundingClientRect().height") > 0
        b.screenshot(ARTIFACTS / "building_page_retrofits.png")
    finally:
        b.close()
