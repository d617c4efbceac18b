"""JSON API of the review workflow (API key required; facility managers: own buildings only)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.disclosure import service
from api.disclosure.schemas import ActionBody, RecordDetail, RecordSummary, RemarksBody, detail
from api.disclosure.web import ActorDep, DSession, api_error
from api.disclosure.workflow import Action, State, WorkflowRefusal
from api.errors import ErrorBody
from api.listing import CSV_RESPONSES, Page, PageDep, respond

router = APIRouter(prefix="/disclosures/records", tags=["disclosures"])

RecordId = Annotated[int, Path(ge=1, le=2**31 - 1, description="disclosure record id")]
REFUSALS = {403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody},
            422: {"model": ErrorBody}}


class PathAction(StrEnum):
    """Workflow actions taken with POST /disclosures/records/{id}/{action}."""

    submit = "submit"
    return_ = "return"
    approve = "approve"
    publish = "publish"
    withdraw = "withdraw"
    comment = "comment"


@router.get("", response_model=Page[RecordSummary], responses=CSV_RESPONSES)
@router.get("/export.csv", response_model=Page[RecordSummary], responses=CSV_RESPONSES,
            name="export_disclosure_records")
def list_records(session: DSession, actor: ActorDep, page: PageDep,
                 year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
                 state: Annotated[list[State] | None, Query(description="repeat for several")] = None,
                 building_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}[A-H][0-9]{3}$")] = None):
    """Every version of every record the caller may see (all states), oldest submission first."""
    rows = service.list_records(session=session, actor=actor, year=year, building_code=building_code,
                                states=[s.value for s in state] if state else None)
    return respond([RecordSummary.of(r) for r in rows], RecordSummary, page, "disclosure_records")


@router.get("/{record_id}", response_model=RecordDetail, responses=REFUSALS)
def get_record(session: DSession, actor: ActorDep, record_id: RecordId) -> RecordDetail:
    """One record with its frozen figures and its full history."""
    try:
        record = service.get_visible(session=session, record_id=record_id, actor=actor)
    except WorkflowRefusal as refusal:
        raise api_error(refusal) from None
    return detail(record, list(service.events(session=session, record_id=record_id)))


@router.post("/{record_id}/{action}", response_model=RecordDetail, responses=REFUSALS)
def take_action(session: DSession, actor: ActorDep, record_id: RecordId, action: PathAction,
                body: ActionBody | None = None) -> RecordDetail:
    """Submit, return (needs ``comment``), approve, publish, withdraw (needs ``reason``) or comment.

    Refusals: 403 ``role_not_allowed``, ``not_assigned``, ``own_submission``; 409 ``not_approved``,
    ``invalid_state``, ``record_immutable``, ``stale_record``; 422 ``comment_required``,
    ``reason_required``.
    """
    body = body or ActionBody()
    act = Action(action.value)
    text = body.reason if act is Action.withdraw else body.comment
    try:
        record = service.act(session=session, record_id=record_id, action=act, actor=actor, text=text,
                             expected_row_version=body.row_version)
    except WorkflowRefusal as refusal:
        raise api_error(refusal) from None
    return detail(record, list(service.events(session=session, record_id=record_id)))


@router.patch("/{record_id}", response_model=RecordDetail, responses=REFUSALS)
def edit_remarks(session: DSession, actor: ActorDep, record_id: RecordId, body: RemarksBody) -> RecordDetail:
    """Change the remarks of a draft or returned record; a published record is refused (409)."""
    try:
        record = service.edit_remarks(session=session, record_id=record_id, actor=actor, remarks=body.remarks,
                                      expected_row_version=body.row_version)
    except WorkflowRefusal as refusal:
        raise api_error(refusal) from None
    return detail(record, list(service.events(session=session, record_id=record_id)))
