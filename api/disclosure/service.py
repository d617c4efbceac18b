"""Disclosure data access and actions: one transaction per action, nothing half-applied.

Every action reads the record, asks ``workflow.decide`` whether it is allowed, writes the new
state and its event, and commits; any refusal or failure rolls the whole action back. Functions
take keyword-only arguments, as in the registry's data access.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from api.disclosure.figures import Figures, snapshot_json, snapshot_sha256
from api.disclosure.models import DisclosureEvent, DisclosureRecord, utcnow
from api.disclosure.workflow import (
    OPEN_STATES,
    SYSTEM_ROLE,
    Action,
    Actor,
    RecordView,
    State,
    WorkflowRefusal,
    check_permission,
    check_visible,
    decide,
)

#: The actor recorded for work done by the bulk command line rather than a person.
SYSTEM_ACTOR = Actor(user_id=0, name="system", role=SYSTEM_ROLE)


def view(record: DisclosureRecord, *, coverage_overridden: bool = False) -> RecordView:
    return RecordView(id=record.id, building_code=record.building_code, year=record.year, version=record.version,
                      state=State(record.state), submitted_by_user_id=record.submitted_by_user_id,
                      coverage=record.coverage, coverage_overridden=coverage_overridden)


def coverage_overridden(*, session: Session, record_id: int) -> bool:
    """Bureau staff overrode the minimum coverage for this record: the override is its event."""
    return session.scalar(select(func.count()).select_from(DisclosureEvent).where(
        DisclosureEvent.record_id == record_id, DisclosureEvent.action == Action.override.value)) > 0


def _event(session: Session, record: DisclosureRecord, action: str, actor: Actor, from_state: str | None,
           to_state: str, text: str | None = None) -> None:
    session.add(DisclosureEvent(record_id=record.id, at=utcnow(), action=action,
                                actor_user_id=actor.user_id or None, actor_name=actor.name, actor_role=actor.role,
                                from_state=from_state, to_state=to_state, text=text))


def get_record(*, session: Session, record_id: int) -> DisclosureRecord:
    record = session.get(DisclosureRecord, record_id)
    if record is None:
        raise WorkflowRefusal(404, "not_found", f"disclosure {record_id} does not exist", "record_id")
    return record


def get_visible(*, session: Session, record_id: int, actor: Actor) -> DisclosureRecord:
    """The record, if ``actor`` may see it (404, as for a missing record, for another building of a
    facility manager)."""
    record = get_record(session=session, record_id=record_id)
    check_visible(actor, view(record))
    return record


def events(*, session: Session, record_id: int) -> Sequence[DisclosureEvent]:
    return session.scalars(select(DisclosureEvent).where(DisclosureEvent.record_id == record_id)
                           .order_by(DisclosureEvent.at, DisclosureEvent.id)).all()


# --- generation ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoreResult:
    record_id: int
    version: int
    created: bool  # False: the latest open version already holds exactly these figures


def store_draft(*, session: Session, figures: Figures, actor: Actor = SYSTEM_ACTOR) -> StoreResult:
    """Freeze ``figures`` as a new draft version of its building and year, in one transaction.

    Open versions (draft, submitted, returned, approved) of the same building and year are
    superseded. When the newest version is open and already holds identical figures, nothing is
    written, so re-running the bulk generation is harmless.
    """
    snapshot = snapshot_json(figures)
    digest = snapshot_sha256(snapshot)
    try:
        latest = session.scalars(
            select(DisclosureRecord)
            .where(DisclosureRecord.building_code == figures.building_code, DisclosureRecord.year == figures.year)
            .order_by(DisclosureRecord.version.desc()).limit(1)).first()
        if latest is not None and latest.state in OPEN_STATES and latest.figures_sha256 == digest:
            return StoreResult(latest.id, latest.version, created=False)
        for old in session.scalars(select(DisclosureRecord).where(
                DisclosureRecord.building_code == figures.building_code, DisclosureRecord.year == figures.year,
                DisclosureRecord.state.in_([s.value for s in OPEN_STATES]))):
            _event(session, old, "supersede", actor, old.state, State.superseded.value,
                   f"superseded by a regenerated version {(latest.version if latest else 0) + 1}")
            old.state = State.superseded.value
        record = DisclosureRecord(
            building_code=figures.building_code, year=figures.year,
            version=(latest.version if latest else 0) + 1, state=State.draft.value,
            snapshot_version=figures.snapshot_version, figures=snapshot, figures_sha256=digest,
            conversion_basis=figures.conversion_basis, factor_table_version=figures.factor_table_version,
            coverage=figures.coverage, building_name=figures.building_name,
            district=figures.district, building_type=figures.building_type,
            audit_required=figures.audit_required, energy_tce=figures.energy_tce,
            eui_kgce_per_m2=figures.eui_kgce_per_m2, created_at=utcnow(), created_by=actor.name)
        session.add(record)
        session.flush()
        _event(session, record, "generate", actor, None, State.draft.value)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return StoreResult(record.id, record.version, created=True)


# --- workflow actions ---------------------------------------------------------------------------

@contextmanager
def _transaction(session: Session, record_id: int) -> Iterator[None]:
    """One action, all or nothing: any failure rolls back; concurrent changes become clear 409s."""
    try:
        yield
    except StaleDataError:
        session.rollback()
        raise WorkflowRefusal(409, "stale_record", f"disclosure {record_id} was changed by someone else at the "
                              "same moment; reload and retry") from None
    except IntegrityError:
        session.rollback()
        raise WorkflowRefusal(409, "conflict", f"disclosure {record_id}: another version of this building and "
                              "year was published at the same moment; reload and retry") from None
    except BaseException:
        session.rollback()
        raise


def act(*, session: Session, record_id: int, action: Action, actor: Actor, min_coverage: float,
        text: str | None = None, expected_row_version: int | None = None) -> DisclosureRecord:
    """Apply one workflow action (not ``edit``) and its event in one transaction.

    ``expected_row_version`` (from the page the reviewer looked at) refuses an action on a record
    that changed since, so nobody approves something they have not seen. ``min_coverage`` (0-1,
    the ``min_coverage`` setting (``EP_MIN_COVERAGE``)) gates submit, approve and publish unless overridden.
    """
    with _transaction(session, record_id):
        record = get_record(session=session, record_id=record_id)
        # Permission first: a stale row version must not tell a stranger that the record exists.
        check_permission(action, view(record), actor)
        _check_row_version(record, expected_row_version)
        before = State(record.state)
        overridden = coverage_overridden(session=session, record_id=record_id)
        after = decide(action, view(record, coverage_overridden=overridden), actor, text,
                       min_coverage=min_coverage)
        now = utcnow()
        clean = text.strip() if text else None
        if action is Action.submit:
            record.submitted_by_user_id, record.submitted_by, record.submitted_at = actor.user_id, actor.name, now
        elif action is Action.approve:
            record.approved_by, record.approved_at = actor.name, now
        elif action is Action.publish:
            _withdraw_previous(session, record, actor)
            record.published_by, record.published_at = actor.name, now
        elif action is Action.withdraw:
            record.withdrawn_at, record.withdraw_reason = now, clean
        record.state = after.value
        _event(session, record, action.value, actor, before.value, after.value, clean)
        session.commit()
    return record


def _check_row_version(record: DisclosureRecord, expected: int | None) -> None:
    if expected is not None and record.row_version != expected:
        raise WorkflowRefusal(409, "stale_record", f"disclosure {record.id} changed since you loaded it "
                              f"(row version {expected}, now {record.row_version}); reload and retry", "row_version")


def _withdraw_previous(session: Session, record: DisclosureRecord, actor: Actor) -> None:
    # One published version per building and year: the new one replaces the old one, on the record.
    for old in session.scalars(select(DisclosureRecord).where(
            DisclosureRecord.building_code == record.building_code, DisclosureRecord.year == record.year,
            DisclosureRecord.state == State.published.value, DisclosureRecord.id != record.id)):
        reason = f"replaced by version {record.version}"
        old.state, old.withdrawn_at, old.withdraw_reason = State.withdrawn.value, utcnow(), reason
        _event(session, old, "withdraw", actor, State.published.value, State.withdrawn.value, reason)
    session.flush()


def edit_remarks(*, session: Session, record_id: int, actor: Actor, remarks: str | None,
                 expected_row_version: int | None = None) -> DisclosureRecord:
    """Change the explanatory note of a draft or returned record (the figures stay frozen)."""
    with _transaction(session, record_id):
        record = get_record(session=session, record_id=record_id)
        check_permission(Action.edit, view(record), actor)
        _check_row_version(record, expected_row_version)
        state = decide(Action.edit, view(record), actor, remarks)
        record.remarks = remarks.strip() if remarks and remarks.strip() else None
        _event(session, record, "edit", actor, state.value, state.value, record.remarks)
        session.commit()
    return record


# --- lists --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PublicFilter:
    """Filters of the public list; all exact matches except ``q`` (name or code contains)."""

    district: str | None = None
    building_type: str | None = None
    year: int | None = None
    audit_required: bool | None = None
    q: str | None = None


def list_published(*, session: Session, filt: PublicFilter = PublicFilter(), offset: int = 0,
                   limit: int | None = None, min_coverage: float = 0.0) -> tuple[Sequence[DisclosureRecord], int]:
    """Published records (only those) matching ``filt``, newest year first, and their total count.

    ``audit_required=False`` means "audit not required", a verdict that needs at least
    ``min_coverage`` (api.disclosure.public_view): records below it are "insufficient data" and
    left out of that filter."""
    stmt = select(DisclosureRecord).where(DisclosureRecord.state == State.published.value)
    if filt.district:
        stmt = stmt.where(DisclosureRecord.district == filt.district)
    if filt.building_type:
        stmt = stmt.where(DisclosureRecord.building_type == filt.building_type)
    if filt.year is not None:
        stmt = stmt.where(DisclosureRecord.year == filt.year)
    if filt.audit_required is not None:
        stmt = stmt.where(DisclosureRecord.audit_required == filt.audit_required)
        if not filt.audit_required:
            stmt = stmt.where(DisclosureRecord.coverage >= min_coverage)
    if filt.q:
        like = f"%{filt.q.strip()}%"
        stmt = stmt.where(or_(DisclosureRecord.building_name.ilike(like), DisclosureRecord.building_code.ilike(like)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(DisclosureRecord.year.desc(), DisclosureRecord.building_code).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return session.scalars(stmt).all(), total


def published_facets(*, session: Session) -> dict[str, list]:
    """Values the public filters offer: only those that occur among published records."""
    def distinct(col):  # noqa: ANN001, ANN202 - a column
        return list(session.scalars(select(col).where(DisclosureRecord.state == State.published.value)
                                    .distinct().order_by(col)))
    return {"district": distinct(DisclosureRecord.district), "building_type": distinct(DisclosureRecord.building_type),
            "year": sorted(distinct(DisclosureRecord.year), reverse=True)}


def published_of_building(*, session: Session, building_code: str) -> Sequence[DisclosureRecord]:
    return session.scalars(select(DisclosureRecord).where(
        DisclosureRecord.building_code == building_code, DisclosureRecord.state == State.published.value)
        .order_by(DisclosureRecord.year.desc())).all()


def list_records(*, session: Session, actor: Actor, year: int | None = None, states: Sequence[str] | None = None,
                 building_code: str | None = None) -> Sequence[DisclosureRecord]:
    """Records ``actor`` may see (a facility manager: own buildings only), oldest submission first."""
    stmt = select(DisclosureRecord)
    if not actor.sees_all:
        stmt = stmt.where(DisclosureRecord.building_code.in_(sorted(actor.buildings or ())))
    if year is not None:
        stmt = stmt.where(DisclosureRecord.year == year)
    if states:
        stmt = stmt.where(DisclosureRecord.state.in_(list(states)))
    if building_code is not None:
        stmt = stmt.where(DisclosureRecord.building_code == building_code)
    stmt = stmt.order_by(DisclosureRecord.submitted_at.is_(None), DisclosureRecord.submitted_at,
                         DisclosureRecord.building_code, DisclosureRecord.year, DisclosureRecord.version)
    return session.scalars(stmt).all()
