"""The review workflow of a disclosure as pure functions: who may do what, from which state.

    draft --submit--> submitted --return--> returned --submit--> submitted
                      submitted --approve--> approved --publish--> published --withdraw--> withdrawn
    draft, returned --discard--> discarded

A record whose data coverage is below the minimum (``EP_MIN_COVERAGE``) cannot be
submitted, approved or published until bureau staff ``override`` it with a reason (an event; the
state does not change). A regenerated draft supersedes the open (not yet published) versions of the same building and
year; publishing a new version withdraws the previously published one. ``decide`` raises a
``WorkflowRefusal`` with an HTTP status, a stable code and a message for every refusal, so the
service layer applies nothing it has not checked first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    draft = "draft"
    submitted = "submitted"
    returned = "returned"
    approved = "approved"
    published = "published"
    withdrawn = "withdrawn"
    superseded = "superseded"
    discarded = "discarded"


class Action(StrEnum):
    submit = "submit"
    return_ = "return"
    approve = "approve"
    publish = "publish"
    withdraw = "withdraw"
    comment = "comment"
    edit = "edit"
    discard = "discard"
    #: Let a record below the minimum coverage go through review anyway (reason required).
    override = "override"


BUREAU = "bureau_staff"
FACILITY_MANAGER = "facility_manager"

#: The bulk command line (draft generation, bulk discard) acts as this role.
SYSTEM_ROLE = "system"

#: Roles allowed to take each action (facility managers only on their own buildings).
ALLOWED_ROLES: dict[Action, frozenset[str]] = {
    Action.submit: frozenset({BUREAU, FACILITY_MANAGER}),
    Action.return_: frozenset({BUREAU}),
    Action.approve: frozenset({BUREAU}),
    Action.publish: frozenset({BUREAU}),
    Action.withdraw: frozenset({BUREAU}),
    Action.comment: frozenset({BUREAU, FACILITY_MANAGER}),
    Action.edit: frozenset({BUREAU, FACILITY_MANAGER}),
    #: The command line discards in bulk as SYSTEM_ROLE, naming who asked (no HTTP user has that role).
    Action.discard: frozenset({BUREAU, SYSTEM_ROLE}),
    Action.override: frozenset({BUREAU}),
}

#: Roles that may read every record, published or not (facility managers: their own buildings).
READ_ALL_ROLES = frozenset({BUREAU, "administrator", "auditor"})

#: action -> (states it may start from, state it leads to; None = state unchanged).
TRANSITIONS: dict[Action, tuple[frozenset[State], State | None]] = {
    Action.submit: (frozenset({State.draft, State.returned}), State.submitted),
    Action.return_: (frozenset({State.submitted}), State.returned),
    Action.approve: (frozenset({State.submitted}), State.approved),
    Action.publish: (frozenset({State.approved}), State.published),
    Action.withdraw: (frozenset({State.published}), State.withdrawn),
    Action.comment: (frozenset({State.draft, State.submitted, State.returned, State.approved}), None),
    Action.edit: (frozenset({State.draft, State.returned}), None),
    Action.discard: (frozenset({State.draft, State.returned}), State.discarded),
    Action.override: (frozenset({State.draft, State.submitted, State.returned, State.approved}), None),
}

#: States in which nothing about the record may change any more (except publish -> withdraw).
CLOSED_STATES = frozenset({State.published, State.withdrawn, State.superseded, State.discarded})
#: States a newer version supersedes.
OPEN_STATES = frozenset({State.draft, State.submitted, State.returned, State.approved})

#: Actions that must say why (the text is kept in the event table).
TEXT_REQUIRED: dict[Action, str] = {Action.return_: "comment", Action.withdraw: "reason", Action.comment: "comment",
                                    Action.discard: "reason", Action.override: "reason"}
#: Steps towards publication that a record below the minimum coverage may not take un-overridden.
COVERAGE_GATED = frozenset({Action.submit, Action.approve, Action.publish})
MAX_TEXT_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: the API principal plus, for facility managers, the buildings assigned to them."""

    user_id: int
    name: str
    role: str
    #: Building codes a facility manager is assigned; None = every building.
    buildings: frozenset[str] | None = None

    @property
    def sees_all(self) -> bool:
        return self.role in READ_ALL_ROLES or self.role == SYSTEM_ROLE

    def may_see(self, building_code: str) -> bool:
        if self.sees_all:
            return True
        return self.role == FACILITY_MANAGER and self.buildings is not None and building_code in self.buildings


@dataclass(frozen=True, slots=True)
class RecordView:
    """The parts of a record the workflow decides on."""

    id: int
    building_code: str
    year: int
    version: int
    state: State
    submitted_by_user_id: int | None = None
    #: Share of the expected readings present (0-1), from the frozen snapshot.
    coverage: float = 1.0
    #: Bureau staff have overridden the minimum coverage for this record (an ``override`` event).
    coverage_overridden: bool = False

    def label(self) -> str:
        return f"disclosure {self.id} ({self.building_code}, {self.year}, version {self.version})"


class WorkflowRefusal(Exception):
    """A refused action: ``status`` (HTTP), ``code`` (stable), ``message``, ``field``."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def check_visible(actor: Actor, record: RecordView) -> None:
    """Refuse a facility manager another building's record with the answer a missing record gets
    (404 ``not_found``, no building named): the id must not reveal which buildings have records,
    drafts included."""
    if not actor.may_see(record.building_code):
        raise WorkflowRefusal(404, "not_found", f"disclosure {record.id} does not exist", "record_id")


def check_permission(action: Action, record: RecordView, actor: Actor) -> None:
    """Visibility (404), then the role (403 ``role_not_allowed``): what must hold before anything
    else about the record (its state, its row version) is looked at or reported."""
    check_visible(actor, record)
    allowed = ALLOWED_ROLES[action]
    if actor.role not in allowed:
        raise WorkflowRefusal(403, "role_not_allowed",
                              f"role {actor.role} may not {action.value} a disclosure; allowed: "
                              f"{', '.join(sorted(allowed))}")


def decide(action: Action, record: RecordView, actor: Actor, text: str | None = None, *,
           min_coverage: float = 0.0) -> State:
    """The state the record moves to, or a ``WorkflowRefusal`` saying why not.

    Checks, in this order: building visibility and role (``check_permission``), a closed
    (published/withdrawn/superseded/discarded) record, the state, the four-eyes rule, the required
    comment or reason, and the minimum coverage (``min_coverage``, 0-1) for submit, approve and
    publish.
    """
    check_permission(action, record, actor)
    sources, target = TRANSITIONS[action]
    if record.state not in sources:
        raise _wrong_state(action, record, sources)
    if action is Action.approve and record.submitted_by_user_id == actor.user_id:
        raise WorkflowRefusal(403, "own_submission",
                              f"{actor.name} submitted {record.label()}; another bureau staff member must "
                              "approve it")
    field = TEXT_REQUIRED.get(action)
    if field is not None:
        if text is None or not text.strip():
            raise WorkflowRefusal(422, f"{field}_required", f"{field}: {action.value} needs a non-empty {field}",
                                  field)
    if text is not None and len(text) > MAX_TEXT_CHARS:
        raise WorkflowRefusal(422, "text_too_long", f"{field or 'text'}: at most {MAX_TEXT_CHARS} characters "
                              f"(got {len(text)})", field or "text")
    if action is Action.override and record.coverage >= min_coverage:
        raise WorkflowRefusal(409, "override_not_needed",
                              f"{record.label()} covers {record.coverage:.1%} of the expected readings, at or "
                              f"above the minimum {min_coverage:.0%}: nothing to override", "coverage")
    if action in COVERAGE_GATED and record.coverage < min_coverage and not record.coverage_overridden:
        raise WorkflowRefusal(409, "insufficient_coverage",
                              f"cannot {action.value} {record.label()}: its data cover {record.coverage:.1%} of "
                              f"the expected readings, below the minimum {min_coverage:.0%}; bureau staff may "
                              "override with a reason (action override)", "coverage")
    return record.state if target is None else target


def _wrong_state(action: Action, record: RecordView, sources: frozenset[State]) -> WorkflowRefusal:
    expected = " or ".join(sorted(s.value for s in sources))
    if action in (Action.edit, Action.comment) and record.state in CLOSED_STATES:
        hint = "; generate a new version instead" if action is Action.edit else ""
        return WorkflowRefusal(409, "record_immutable",
                               f"{record.label()} is {record.state.value} and can no longer be changed{hint}")
    if action is Action.publish:
        return WorkflowRefusal(409, "not_approved",
                               f"{record.label()} is {record.state.value}; only an approved disclosure can be "
                               "published")
    return WorkflowRefusal(409, "invalid_state",
                           f"cannot {action.value} {record.label()}: it is {record.state.value}, must be {expected}")
