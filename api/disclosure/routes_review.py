"""Review pages for bureau staff (and facility managers, for their own buildings' drafts).

Plain HTML forms posting back to the server: every action is the same ``service.act`` the JSON
API uses, so a refusal on the page is the same refusal (code and message) as over the API.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from api.disclosure import service
from api.disclosure.public_view import public_view
from api.disclosure.web import DSession, PageActor, templates
from api.disclosure.workflow import Action, Actor, State, WorkflowRefusal, decide
from api.errors import APIError
from api.params import DbId, FilterText, Year, validate_form
from api.web_login import PageLogin

RecordId = Annotated[DbId, Path()]

router = APIRouter(prefix="/disclosures", tags=["disclosures (pages)"], include_in_schema=False)

QUEUE_STATES = (State.submitted.value, State.approved.value, State.returned.value, State.draft.value)


_login = PageLogin(area="/disclosures", home="/disclosures/review", after_logout="/disclosures",
                   templates=templates)
_login.add_routes(router)
_login_redirect = _login.redirect


class QueueFilterIn(BaseModel):
    """The queue's filters, validated with the API's shared parameter types."""

    year: Year | None = None
    state: Literal[QUEUE_STATES] | None = None
    district: FilterText | None = None


#: Rows per queue page.
QUEUE_PAGE_SIZE = 50
QStr = Annotated[str | None, Query()]


@router.get("/review", response_class=HTMLResponse)
def review_queue(request: Request, session: DSession, actor: PageActor, year: QStr = None, state: QStr = None,
                 district: QStr = None, offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> Response:
    """审核队列 Records waiting for the bureau: submitted first, then approved (to publish); filtered by
    year, state and district (an empty value, the form's "all", is no filter), one page at a time."""
    if actor is None:
        return _login_redirect(request)
    form = {"year": year or "", "state": state or "", "district": district or ""}
    visible = service.list_records(session=session, actor=actor, states=QUEUE_STATES)
    context = {"actor": actor, "form": form, "offset": offset, "page_size": QUEUE_PAGE_SIZE, "error": None,
               "districts": sorted({r.district for r in visible}), "years": sorted({r.year for r in visible},
                                                                                    reverse=True)}
    try:
        f = validate_form(QueueFilterIn, {"year": year, "state": state, "district": district})
    except APIError as exc:
        return templates.TemplateResponse(request, "queue.html", {**context, "rows": [], "total": 0, "error": exc},
                                          status_code=exc.status)
    order = {s: i for i, s in enumerate(QUEUE_STATES)}
    rows = sorted((r for r in visible if (f.year is None or r.year == f.year)
                   and (f.state is None or r.state == f.state) and (f.district is None or r.district == f.district)),
                  key=lambda r: order[r.state])
    # Paged here, after the state ordering: the open records of a city are a few thousand at most.
    return templates.TemplateResponse(request, "queue.html", {
        **context, "rows": rows[offset:offset + QUEUE_PAGE_SIZE], "total": len(rows)})


def _would_allow(action: Action, record, actor: Actor, *, min_coverage: float,  # noqa: ANN001 - a DisclosureRecord
                 overridden: bool) -> bool:
    """Whether the workflow would take ``action`` from ``actor`` now: the page offers only those, so
    no button leads to a refusal (the submitter is not offered Approve; a record below the minimum
    coverage is not offered Submit until it is overridden). ``workflow.decide`` is the one rule; the
    placeholder text stands in for the comment the form asks for."""
    try:
        decide(action, service.view(record, coverage_overridden=overridden), actor, text="-",
               min_coverage=min_coverage)
    except WorkflowRefusal:
        return False
    return True


def _allowed_actions(record, actor: Actor, **rules) -> list[str]:  # noqa: ANN001 - a DisclosureRecord
    return [a.value for a in (Action.submit, Action.return_, Action.approve, Action.publish, Action.withdraw,
                              Action.discard)
            if _would_allow(a, record, actor, **rules)]


def _render_review(request: Request, session, actor: Actor, record_id: int, *, error: WorkflowRefusal | None = None,
                   done: str | None = None) -> Response:
    try:
        record = service.get_visible(session=session, record_id=record_id, actor=actor)
    except WorkflowRefusal as refusal:
        return templates.TemplateResponse(request, "not_found.html", {
            "message": f"{refusal.message} (code {refusal.code})", "code": refusal.code}, status_code=refusal.status)

    min_coverage = request.app.state.settings.min_coverage
    overridden = service.coverage_overridden(session=session, record_id=record_id)
    rules = {"min_coverage": min_coverage, "overridden": overridden}

    def offered(a: Action) -> bool:
        return _would_allow(a, record, actor, **rules)

    return templates.TemplateResponse(request, "review.html", {
        "r": record, "f": record.figures, "events": service.events(session=session, record_id=record_id),
        "actor": actor, "actions": _allowed_actions(record, actor, **rules), "can_comment": offered(Action.comment),
        "can_edit": offered(Action.edit), "min_coverage": min_coverage, "overridden": overridden,
        "can_override": offered(Action.override) and not overridden,
        "v": public_view(record.figures, min_coverage),
        "error": error, "done": done}, status_code=error.status if error else 200)


@router.get("/review/{record_id}", response_class=HTMLResponse)
def review_page(request: Request, session: DSession, actor: PageActor, record_id: RecordId,
                done: str | None = None) -> Response:
    """审核页 One record: frozen figures, history, and the actions the viewer may take."""
    if actor is None:
        return _login_redirect(request)
    return _render_review(request, session, actor, record_id, done=done)


@router.post("/review/{record_id}", response_class=HTMLResponse)
def review_action(request: Request, session: DSession, actor: PageActor, record_id: RecordId,
                  action: Annotated[str, Form(max_length=16)],
                  text: Annotated[str | None, Form(max_length=4000)] = None,
                  row_version: Annotated[int | None, Form()] = None) -> Response:
    if actor is None:
        return _login_redirect(request)
    try:
        act = Action(action)
    except ValueError:
        refusal = WorkflowRefusal(422, "invalid_value", f"action: {action!r} is not one of "
                                  f"{', '.join(a.value for a in Action)}", "action")
        return _render_review(request, session, actor, record_id, error=refusal)
    try:
        if act is Action.edit:
            service.edit_remarks(session=session, record_id=record_id, actor=actor, remarks=text,
                                 expected_row_version=row_version)
        else:
            service.act(session=session, record_id=record_id, action=act, actor=actor, text=text,
                        expected_row_version=row_version,
                        min_coverage=request.app.state.settings.min_coverage)
    except WorkflowRefusal as refusal:
        return _render_review(request, session, actor, record_id, error=refusal)
    # Post/redirect/get: a reload of the result page does not repeat the action.
    return RedirectResponse(f"/disclosures/review/{record_id}?done={act.value}", status_code=303)
