"""JSON API of the review workflow (API key required; facility managers: own buildings only)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from api.deps import require
from api.disclosure import service
from api.disclosure.schemas import (
    ActionBody,
    GenerateBody,
    GenerateFailure,
    GenerateResult,
    RecordDetail,
    RecordSummary,
    RemarksBody,
    detail,
)
from api.disclosure.source import collect
from api.disclosure.web import ActorDep, DSession, actor_of, api_error
from api.disclosure.workflow import TEXT_REQUIRED, Action, Actor, State, WorkflowRefusal
from api.errors import APIError, ErrorBody
from api.listing import CSV_RESPONSES, Page, PageDep, respond
from api.params import BuildingCode, DbId, Year
from api.security import Principal, Role

router = APIRouter(prefix="/disclosures/records", tags=["disclosures"])

RecordId = Annotated[DbId, Path(description="disclosure record id")]
REFUSALS = {403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody},
            422: {"model": ErrorBody}}


def generator(session: DSession,
              user: Annotated[Principal, Depends(require(Role.bureau_staff, Role.administrator))]) -> Actor:
    """Generation is an operations task: bureau staff and administrators (403 for other roles)."""
    return actor_of(session, user)


GeneratorDep = Annotated[Actor, Depends(generator)]


class PathAction(StrEnum):
    """Workflow actions taken with POST /disclosures/records/{id}/{action}."""

    submit = "submit"
    return_ = "return"
    approve = "approve"
    publish = "publish"
    withdraw = "withdraw"
    comment = "comment"
    discard = "discard"
    override = "override"


@router.get("", response_model=Page[RecordSummary], responses=CSV_RESPONSES)
@router.get("/export.csv", response_model=Page[RecordSummary], responses=CSV_RESPONSES,
            name="export_disclosure_records")
def list_records(session: DSession, actor: ActorDep, page: PageDep,
                 year: Annotated[Year | None, Query()] = None,
                 state: Annotated[list[State] | None, Query(description="repeat for several")] = None,
                 building_code: Annotated[BuildingCode | None, Query()] = None):
    """Every version of every record the caller may see (all states), oldest submission first."""
    rows = service.list_records(session=session, actor=actor, year=year, building_code=building_code,
                                states=[s.value for s in state] if state else None)
    return respond([RecordSummary.of(r) for r in rows], RecordSummary, page, "disclosure_records")


@router.post("/generate", response_model=GenerateResult, responses=REFUSALS)
def generate(request: Request, session: DSession, actor: GeneratorDep, body: GenerateBody) -> GenerateResult:
    """Freeze the analytics of ``year`` into new draft versions for the listed buildings.

    Ranks stay among all buildings of a type. A building whose open version already holds the same
    figures is reported as unchanged; one that fails is reported with its reason, the others are
    stored (one transaction per building).
    """
    try:
        results = list(collect(influx=request.app.state.influx_rollups, session=session, year=body.year,
                               codes=body.building_codes, basis=body.basis, region=body.region))
    except ValueError as exc:  # e.g. equal_value without a region for buildings in several provinces
        raise APIError(422, "invalid_value", str(exc), "region") from None
    out = GenerateResult(year=body.year, created=[], unchanged=[], failed=[])
    for code, figures in results:
        if isinstance(figures, Exception):
            out.failed.append(GenerateFailure(building_code=code, message=str(figures)))
            continue
        stored = service.store_draft(session=session, figures=figures, actor=actor)
        summary = RecordSummary.of(service.get_record(session=session, record_id=stored.record_id))
        (out.created if stored.created else out.unchanged).append(summary)
    return out


@router.get("/{record_id}", response_model=RecordDetail, responses=REFUSALS)
def get_record(session: DSession, actor: ActorDep, record_id: RecordId) -> RecordDetail:
    """One record with its frozen figures and its full history."""
    try:
        record = service.get_visible(session=session, record_id=record_id, actor=actor)
    except WorkflowRefusal as refusal:
        raise api_error(refusal) from None
    return detail(record, list(service.events(session=session, record_id=record_id)))


@router.post("/{record_id}/{action}", response_model=RecordDetail, responses=REFUSALS)
def take_action(request: Request, session: DSession, actor: ActorDep, record_id: RecordId, action: PathAction,
                body: ActionBody | None = None) -> RecordDetail:
    """Submit, return (needs ``comment``), approve, publish, withdraw (needs ``reason``), comment,
    discard a draft (needs ``reason``) or override the minimum coverage (needs ``reason``).

    Refusals: 404 ``not_found`` (also another building's record for a facility manager); 403
    ``role_not_allowed``, ``own_submission``; 409 ``not_approved``, ``invalid_state``,
    ``record_immutable``, ``stale_record``, ``insufficient_coverage``, ``override_not_needed``; 422
    ``comment_required``, ``reason_required``.
    """
    body = body or ActionBody()
    act = Action(action.value)
    text = body.reason if TEXT_REQUIRED.get(act) == "reason" else body.comment
    try:
        record = service.act(session=session, record_id=record_id, action=act, actor=actor, text=text,
                             expected_row_version=body.row_version,
                             min_coverage=request.app.state.settings.min_coverage)
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
