"""Review pages over HTTP: times in China Standard Time, bilingual refusals, only the actions the
workflow would take, and a queue filtered by year, state and district, one page at a time."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import update

from api.disclosure.models import DisclosureEvent, DisclosureRecord


@contextmanager
def _login(platform, who: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.url, timeout=30) as c:
        r = c.post("/disclosures/login", data={"api_key": platform.keys[who], "next": "/disclosures/review"})
        assert r.status_code == 303, r.text
        yield c


def _ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-record-id="(\d+)"', page)]


def test_review_page_times_are_china_standard_time(platform):
    rid = platform.draft("510402A001", 2009)
    stored = dt.datetime(2026, 1, 1, 16, 30, 5, tzinfo=dt.UTC)
    with platform.session() as s:
        s.execute(update(DisclosureRecord).where(DisclosureRecord.id == rid).values(created_at=stored))
        s.execute(update(DisclosureEvent).where(DisclosureEvent.record_id == rid).values(at=stored))
        s.commit()
    with _login(platform, "staff1") as c:
        page = c.get(f"/disclosures/review/{rid}").text
    # 16:30:05 UTC + 8 h = 00:30:05 the next day in Beijing; the UTC wall time must not appear.
    assert "2026-01-02 00:30 北京时间 CST" in page
    assert "<td>2026-01-02 00:30:05</td>" in page and "16:30" not in page and "(UTC)" not in page


def test_submitter_is_not_offered_approve_and_the_refusal_is_bilingual(platform, client):
    rid = platform.draft("510402A001", 2008)
    assert client.post(f"/disclosures/records/{rid}/submit", headers=platform.headers("staff1")).status_code == 200
    with _login(platform, "staff1") as c:
        own = c.get(f"/disclosures/review/{rid}").text
        assert 'id="do-approve"' not in own and 'id="do-return"' in own  # return is still theirs to take
        r = c.post(f"/disclosures/review/{rid}", data={"action": "approve"})  # a hand-made post is refused
        assert r.status_code == 403 and 'data-code="own_submission"' in r.text
        assert "不能审核本人提交的记录" in r.text and "another bureau staff member must approve it" in r.text
        r = c.post(f"/disclosures/review/{rid}", data={"action": "return"})
        assert r.status_code == 422 and "退回须填写意见" in r.text and "needs a non-empty comment" in r.text
    with _login(platform, "staff2") as c:
        assert 'id="do-approve"' in c.get(f"/disclosures/review/{rid}").text
    with _login(platform, "fm_other") as c:  # not assigned: 404, in both languages
        r = c.get(f"/disclosures/review/{rid}")
        assert r.status_code == 404 and "记录不存在或无权查看" in r.text and "does not exist" in r.text


def test_queue_filters_by_year_state_and_district(platform, client):
    a = platform.draft("510402A011", 2007, district="市中区")
    b = platform.draft("510402A012", 2007, district="沙湾区")
    c_ = platform.draft("510402A013", 2006, district="市中区")
    assert client.post(f"/disclosures/records/{b}/submit", headers=platform.headers("staff1")).status_code == 200
    with _login(platform, "staff2") as c:
        assert set(_ids(c.get("/disclosures/review", params={"year": "2007"}).text)) == {a, b}
        assert _ids(c.get("/disclosures/review", params={"year": "2007", "state": "submitted"}).text) == [b]
        assert _ids(c.get("/disclosures/review", params={"year": "2007", "district": "市中区"}).text) == [a]
        assert c_ in _ids(c.get("/disclosures/review", params={"year": "2006", "state": "", "district": ""}).text)
        r = c.get("/disclosures/review", params={"state": "published"})  # not a queue state
        assert r.status_code == 422 and 'data-code="invalid_value"' in r.text and "state" in html.unescape(r.text)


def test_queue_pages_fifty_rows_at_a_time(platform):
    # 53 drafts of distinct buildings in one year: 50 on the first page, 3 on the second.
    made = {platform.draft(f"510402B{n:03d}", 2005) for n in range(1, 54)}
    with _login(platform, "staff1") as c:
        first = c.get("/disclosures/review", params={"year": "2005"}).text
        assert 'data-total="53"' in first and len(_ids(first)) == 50 and 'id="next-page"' in first
        assert 'id="prev-page"' not in first
        nxt = html.unescape(re.search(r'id="next-page" href="([^"]+)"', first).group(1))
        second = c.get(f"/disclosures/review{nxt}").text
        assert len(_ids(second)) == 3 and 'id="next-page"' not in second and 'id="prev-page"' in second
        assert set(_ids(first)) | set(_ids(second)) == made
