"""Page behaviour that needs no browser: cookie login, facility-manager scope, refusals as HTML."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


@contextmanager
def _login(platform, who: str, next_url: str = "/disclosures/review") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.url, timeout=30) as c:
        r = c.post("/disclosures/login", data={"api_key": platform.keys[who], "next": next_url})
        assert r.status_code == 303, r.text
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/disclosures" in cookie
        yield c


def test_facility_manager_queue_holds_own_buildings_only(platform):
    mine, other = platform.draft("510402A001", 2015), platform.draft("510402G015", 2015)
    with _login(platform, "fm") as c:
        page = c.get("/disclosures/review").text
        ids = set(map(int, re.findall(r'data-record-id="(\d+)"', page)))
        assert mine in ids and other not in ids
        stranger = c.get(f"/disclosures/review/{other}")
        assert stranger.status_code == 404 and "510402G015" not in stranger.text
        own = c.get(f"/disclosures/review/{mine}")
        # A facility manager may submit and comment on their draft, never approve or publish.
        assert 'id="do-submit"' in own.text and 'id="do-comment"' in own.text
        assert 'id="do-approve"' not in own.text and 'id="do-publish"' not in own.text
        r = c.post(f"/disclosures/review/{mine}", data={"action": "approve"})
        assert r.status_code == 403 and 'data-code="role_not_allowed"' in r.text


def test_login_with_a_wrong_key_is_refused(platform):
    with httpx.Client(base_url=platform.url, timeout=30) as c:
        r = c.post("/disclosures/login", data={"api_key": "ep_abc_def"})
        assert r.status_code == 401 and "unknown or revoked" in r.text and "set-cookie" not in r.headers


def test_login_never_redirects_off_site(platform):
    with httpx.Client(base_url=platform.url, timeout=30) as c:
        for bad in ("https://evil.example/", "//evil.example/x", "/disclosures//evil.example"):
            r = c.post("/disclosures/login", data={"api_key": platform.keys["staff1"], "next": bad})
            assert r.headers["location"] == "/disclosures/review", bad


def test_public_list_bad_filter_is_an_html_422_naming_the_field(platform):
    with httpx.Client(base_url=platform.url, timeout=30) as c:
        r = c.get("/disclosures", params={"building_type": "castle"})
        text = html.unescape(r.text)
        assert r.status_code == 422 and "building_type: 'castle' is not valid" in text and "'office'" in text
        assert "输入值无效" in text  # the refusal in Chinese too
        r = c.get("/disclosures", params={"year": "²"})  # isdigit() says yes, int() raised: now a 422 page
        assert r.status_code == 422 and "year: '²' is not valid" in html.unescape(r.text)
        r = c.get("/disclosures", params={"year": "", "district": "", "building_type": ""})  # the form's "all"
        assert r.status_code == 200


def test_unknown_form_action_is_refused_with_the_allowed_list(platform):
    rid = platform.draft("510402A001", 2014)
    with _login(platform, "staff1") as c:
        r = c.post(f"/disclosures/review/{rid}", data={"action": "delete"})
        assert r.status_code == 422 and "is not one of submit, return, approve, publish, withdraw, comment, edit" \
            in r.text
        r = c.post(f"/disclosures/review/{rid}", data={"action": "submit", "row_version": "99"})
        assert r.status_code == 409 and 'data-code="stale_record"' in r.text
        # The remarks form edits the note (not the figures) while the record is a draft.
        r = c.post(f"/disclosures/review/{rid}", data={"action": "edit", "text": "燃气表更换 gas meter replaced"},
                   follow_redirects=True)
        assert r.status_code == 200 and 'id="remarks"' in r.text and "gas meter replaced" in r.text
