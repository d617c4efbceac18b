"""Annual energy-use disclosure ("publicity system"): frozen records, review workflow, public pages.

``router`` carries everything: the JSON API (``/disclosures/records``), the review pages
(``/disclosures/review``), and the public pages and feeds (``/disclosures``,
``/disclosures/feed.json``, ``/disclosures/export.csv``). The app includes it with one line:
``app.include_router(api.disclosure.router)``. See docs/disclosure.md.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.disclosure import routes_api, routes_public, routes_review

router = APIRouter()
# Fixed paths (records, review, login, feed) are registered before the public catch-alls.
router.include_router(routes_api.router)
router.include_router(routes_review.router)
router.include_router(routes_public.router)

__all__ = ["router"]
