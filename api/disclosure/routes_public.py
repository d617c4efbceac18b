"""Public pages and feeds: published disclosures only, no login.

Every query here is restricted to ``state = 'published'`` in ``service.list_published`` /
``service.published_of_building``; nothing else is reachable without an API key.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, BeforeValidator

from api.disclosure import labels, service
from api.disclosure.public_view import public_view
from api.disclosure.schemas import PublicCsvRow, PublicDisclosure, PublicFeed
from api.disclosure.web import DSession, templates
from api.errors import APIError, ErrorBody
from api.listing import to_csv
from api.params import FilterText, Year, validate_form
from contract.vocabulary import BUILDING_CODE_RE, BuildingType

router = APIRouter(prefix="/disclosures", tags=["disclosures (public)"])

HTML_PAGE_SIZE = 50


def _type_letter(v: object) -> object:
    # The form may send the MOHURD letter (A) as well as the name (office).
    return BuildingType[v].value if isinstance(v, str) and len(v) == 1 and v in BuildingType.__members__ else v


class PublicFilterIn(BaseModel):
    """The public filters, validated with the API's shared parameter types."""

    district: FilterText | None = None
    building_type: Annotated[BuildingType, BeforeValidator(_type_letter)] | None = None
    year: Year | None = None
    audit_required: bool | None = None  # true/false, yes/no, 1/0
    q: FilterText | None = None


def parse_filter(*, district: str | None, building_type: str | None, year: str | None, audit_required: str | None,
                 q: str | None) -> service.PublicFilter:
    """The public filters from query strings, where an empty value (a form's "all") means no filter."""
    f = validate_form(PublicFilterIn, {"district": district, "building_type": building_type, "year": year,
                                       "audit_required": audit_required, "q": q})
    return service.PublicFilter(district=f.district, building_type=f.building_type.value if f.building_type else None,
                                year=f.year, audit_required=f.audit_required, q=f.q)


Str = Annotated[str | None, Query()]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def public_list(request: Request, session: DSession, district: Str = None, building_type: Str = None,
                year: Str = None, audit_required: Str = None, q: Str = None,
                offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> HTMLResponse:
    """公示列表 The public list of published disclosures, with search and filters."""
    form = {"district": district or "", "building_type": building_type or "", "year": year or "",
            "audit_required": audit_required or "", "q": q or ""}
    try:
        filt = parse_filter(district=district, building_type=building_type, year=year,
                            audit_required=audit_required, q=q)
    except APIError as exc:
        return templates.TemplateResponse(request, "list.html", {
            "rows": [], "total": 0, "form": form, "facets": service.published_facets(session=session),
            "error": f"{labels.refusal_zh(exc.code)} {exc.message}", "offset": 0, "page_size": HTML_PAGE_SIZE},
            status_code=exc.status)
    min_coverage = request.app.state.settings.min_coverage
    rows, total = service.list_published(session=session, filt=filt, offset=offset, limit=HTML_PAGE_SIZE,
                                         min_coverage=min_coverage)
    return templates.TemplateResponse(request, "list.html", {
        "rows": rows, "total": total, "verdicts": {r.id: public_view(r.figures, min_coverage) for r in rows},
        "form": form, "facets": service.published_facets(session=session),
        "error": None, "offset": offset, "page_size": HTML_PAGE_SIZE})


@router.get("/buildings/{building_code}", response_class=HTMLResponse, include_in_schema=False)
def building_page(request: Request, session: DSession, building_code: str, year: Str = None) -> HTMLResponse:
    """楼宇公示页 One building's published disclosure (latest year, or ``year``) with its charts."""
    records = service.published_of_building(session=session, building_code=building_code) \
        if BUILDING_CODE_RE.match(building_code) else []
    chosen = next((r for r in records if year is None or str(r.year) == year), None)
    if chosen is None:
        # Same answer whether the building has unpublished drafts or does not exist at all.
        return templates.TemplateResponse(request, "not_found.html", {
            "message": f"没有已公示的信息 No published disclosure for {building_code}"
                       + (f" in {year}" if year else "")}, status_code=404)
    return templates.TemplateResponse(request, "building.html", {
        "r": chosen, "f": chosen.figures, "years": [r.year for r in records],
        "v": public_view(chosen.figures, request.app.state.settings.min_coverage)})


@router.get("/feed.json", response_model=PublicFeed, responses={422: {"model": ErrorBody}})
def public_feed(request: Request, session: DSession, district: Str = None, building_type: Str = None,
                year: Str = None, audit_required: Str = None, q: Str = None,
                limit: Annotated[int, Query(ge=1)] = 100,
                offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> PublicFeed:
    """Published disclosures with their frozen figures, newest year first (no login)."""
    cap = request.app.state.settings.max_page_limit
    if limit > cap:
        raise APIError(422, "invalid_value", f"limit: at most {cap} (got {limit})", "limit")
    filt = parse_filter(district=district, building_type=building_type, year=year, audit_required=audit_required,
                        q=q)
    min_coverage = request.app.state.settings.min_coverage
    rows, total = service.list_published(session=session, filt=filt, offset=offset, limit=limit,
                                         min_coverage=min_coverage)
    return PublicFeed(items=[PublicDisclosure.of(r, min_coverage) for r in rows], total=total, limit=limit,
                      offset=offset)


@router.get("/export.csv", responses={200: {"content": {"text/csv": {}}}, 422: {"model": ErrorBody}})
def public_csv(request: Request, session: DSession, district: Str = None, building_type: Str = None,
               year: Str = None, audit_required: Str = None, q: Str = None) -> Response:
    """Every published disclosure matching the filters, one CSV line each (no login)."""
    filt = parse_filter(district=district, building_type=building_type, year=year, audit_required=audit_required,
                        q=q)
    min_coverage = request.app.state.settings.min_coverage
    rows, _ = service.list_published(session=session, filt=filt, min_coverage=min_coverage)
    body = to_csv([PublicCsvRow.of(r, min_coverage) for r in rows], list(PublicCsvRow.model_fields))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="disclosures-{stamp}.csv"'})
