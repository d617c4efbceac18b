"""The review workflow as pure functions: every allowed step and every refusal with its code."""

from __future__ import annotations

import pytest

from api.disclosure.workflow import TRANSITIONS, Action, Actor, RecordView, State, WorkflowRefusal, decide

STAFF = Actor(user_id=1, name="wang", role="bureau_staff")
STAFF2 = Actor(user_id=2, name="li", role="bureau_staff")
FM = Actor(user_id=3, name="zhao", role="facility_manager", buildings=frozenset({"510402A001"}))
FM_OTHER = Actor(user_id=4, name="qian", role="facility_manager", buildings=frozenset({"510402A002"}))
AUDITOR = Actor(user_id=5, name="sun", role="auditor")
ADMIN = Actor(user_id=6, name="root", role="administrator")


def rec(state: State, submitted_by: int | None = None) -> RecordView:
    return RecordView(id=7, building_code="510402A001", year=2025, version=1, state=state,
                      submitted_by_user_id=submitted_by)


@pytest.mark.parametrize(("action", "state", "actor", "text", "after"), [
    (Action.submit, State.draft, FM, None, State.submitted),
    (Action.submit, State.returned, STAFF, None, State.submitted),
    (Action.return_, State.submitted, STAFF, "coverage 62 % is too low", State.returned),
    (Action.approve, State.submitted, STAFF2, None, State.approved),
    (Action.publish, State.approved, STAFF, None, State.published),
    (Action.withdraw, State.published, STAFF, "meter 3 double-counted", State.withdrawn),
    (Action.comment, State.draft, FM, "gas meter replaced in May", State.draft),
    (Action.comment, State.approved, STAFF, "ok", State.approved),
    (Action.edit, State.returned, FM, "note", State.returned),
])
def test_decide_allowed(action, state, actor, text, after):
    assert decide(action, rec(state, submitted_by=1), actor, text) is after


@pytest.mark.parametrize(("action", "state", "actor", "text", "status", "code"), [
    # Only bureau staff approve and publish; auditors and administrators only read.
    (Action.approve, State.submitted, FM, None, 403, "role_not_allowed"),
    (Action.publish, State.approved, AUDITOR, None, 403, "role_not_allowed"),
    (Action.publish, State.approved, ADMIN, None, 403, "role_not_allowed"),
    (Action.comment, State.draft, AUDITOR, "x", 403, "role_not_allowed"),
    # A facility manager acts on their own buildings only; another building's record answers as a
    # missing one would, before the role is looked at.
    (Action.submit, State.draft, FM_OTHER, None, 404, "not_found"),
    (Action.comment, State.draft, FM_OTHER, "x", 404, "not_found"),
    (Action.approve, State.submitted, FM_OTHER, None, 404, "not_found"),
    # Four eyes: the submitter (user 1) may not approve.
    (Action.approve, State.submitted, STAFF, None, 403, "own_submission"),
    # Publishing without approval.
    (Action.publish, State.submitted, STAFF, None, 409, "not_approved"),
    (Action.publish, State.draft, STAFF, None, 409, "not_approved"),
    # A published (or withdrawn, superseded) record is immutable.
    (Action.edit, State.published, STAFF, "new text", 409, "record_immutable"),
    (Action.edit, State.withdrawn, FM, "new text", 409, "record_immutable"),
    (Action.comment, State.superseded, STAFF, "x", 409, "record_immutable"),
    (Action.edit, State.submitted, FM, "x", 409, "invalid_state"),
    (Action.approve, State.draft, STAFF2, None, 409, "invalid_state"),
    (Action.approve, State.approved, STAFF2, None, 409, "invalid_state"),
    (Action.withdraw, State.approved, STAFF, "x", 409, "invalid_state"),
    (Action.submit, State.published, STAFF, None, 409, "invalid_state"),
    # Returning and withdrawing must say why.
    (Action.return_, State.submitted, STAFF2, None, 422, "comment_required"),
    (Action.return_, State.submitted, STAFF2, "   ", 422, "comment_required"),
    (Action.withdraw, State.published, STAFF, "", 422, "reason_required"),
    (Action.comment, State.draft, STAFF, "x" * 4001, 422, "text_too_long"),
])
def test_decide_refused(action, state, actor, text, status, code):
    with pytest.raises(WorkflowRefusal) as err:
        decide(action, rec(state, submitted_by=1), actor, text)
    assert (err.value.status, err.value.code) == (status, code)
    assert "7" in err.value.message or actor.role in err.value.message or err.value.field


def test_another_buildings_record_is_not_named():
    with pytest.raises(WorkflowRefusal) as err:
        decide(Action.comment, rec(State.draft), FM_OTHER, "x")
    assert (err.value.message, err.value.field) == ("disclosure 7 does not exist", "record_id")


def test_refusal_messages_name_record_role_and_state():
    with pytest.raises(WorkflowRefusal) as err:
        decide(Action.publish, rec(State.submitted), STAFF)
    assert err.value.message == ("disclosure 7 (510402A001, 2025, version 1) is submitted; only an approved "
                                 "disclosure can be published")
    with pytest.raises(WorkflowRefusal) as err:
        decide(Action.approve, rec(State.submitted), AUDITOR)
    assert err.value.message == "role auditor may not approve a disclosure; allowed: bureau_staff"


def test_facility_manager_visibility():
    assert FM.may_see("510402A001") and not FM.may_see("510402A002")
    assert AUDITOR.may_see("510402A002") and STAFF.may_see("anything")
    assert not Actor(user_id=9, name="x", role="facility_manager").may_see("510402A001")  # no assignment


def low(state: State, *, overridden: bool = False) -> RecordView:
    """A record with 2.5 % coverage (876 of 35,040 quarter-hour readings), by user 1."""
    return RecordView(id=8, building_code="510402A001", year=2026, version=1, state=state, submitted_by_user_id=1,
                      coverage=876 / 35_040, coverage_overridden=overridden)


@pytest.mark.parametrize(("action", "state", "actor"), [
    (Action.submit, State.draft, FM), (Action.submit, State.returned, STAFF),
    (Action.approve, State.submitted, STAFF2), (Action.publish, State.approved, STAFF)])
def test_below_minimum_coverage_refused_until_overridden(action, state, actor):
    with pytest.raises(WorkflowRefusal) as e:
        decide(action, low(state), actor, min_coverage=0.9)
    assert (e.value.status, e.value.code, e.value.field) == (409, "insufficient_coverage", "coverage")
    assert "2.5%" in e.value.message and "90%" in e.value.message  # 876 / 35,040 = 2.5 %
    assert decide(action, low(state, overridden=True), actor, min_coverage=0.9) is TRANSITIONS[action][1]
    assert decide(action, low(state), actor, min_coverage=0.02) is TRANSITIONS[action][1]  # 2.5 % >= 2 %


def test_gate_leaves_other_actions_alone():
    assert decide(Action.return_, low(State.submitted), STAFF2, "look at meter 3", min_coverage=0.9) is State.returned
    assert decide(Action.discard, low(State.draft), STAFF, "built from 9 days", min_coverage=0.9) is State.discarded


@pytest.mark.parametrize(("action", "record", "actor", "text", "status", "code"), [
    (Action.override, low(State.draft), FM, "please", 403, "role_not_allowed"),
    (Action.override, low(State.draft), STAFF, None, 422, "reason_required"),
    (Action.override, rec(State.draft), STAFF, "why not", 409, "override_not_needed"),  # coverage 1.0
    (Action.override, low(State.published), STAFF, "late", 409, "invalid_state"),
    (Action.discard, rec(State.draft), FM, "mine", 403, "role_not_allowed"),
    (Action.discard, rec(State.draft), STAFF, " ", 422, "reason_required"),
    (Action.discard, rec(State.submitted), STAFF, "wrong year", 409, "invalid_state"),
    (Action.comment, rec(State.discarded), STAFF, "hello", 409, "record_immutable"),
    (Action.submit, rec(State.discarded), STAFF, None, 409, "invalid_state"),
])
def test_override_and_discard_refusals(action, record, actor, text, status, code):
    with pytest.raises(WorkflowRefusal) as e:
        decide(action, record, actor, text, min_coverage=0.9)
    assert (e.value.status, e.value.code) == (status, code)
