"""Alerts: list, read with history, acknowledge, resolve, evaluate on demand, subscriptions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.alerts import engine
from api.alerts.rules import Rule, RuleParams
from api.db import Alert, AlertEvent, Subscription, as_utc, utcnow
from api.deps import AuditorUser, CurrentUser, ScopeDep, SessionDep
from api.errors import APIError, not_found
from api.listing import CSV_RESPONSES, FilterDep, Page, PageDep, respond
from api.params import DbId
from api.security import Principal, Role
from contract.vocabulary import BuildingType

router = APIRouter(prefix="/alerts", tags=["alerts"])

AlertId = Annotated[DbId, Path()]
State = Literal["open", "acknowledged", "resolved"]


class AlertOut(BaseModel):
    id: int
    rule: str
    building_code: str
    district: str
    building_type: str
    ownership: str
    state: str
    message: str
    details: dict
    opened_at: dt.datetime
    last_seen_at: dt.datetime
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    resolution_comment: str | None

    @classmethod
    def of(cls, a: Alert) -> AlertOut:
        d = {k: getattr(a, k) for k in cls.model_fields}
        for k in ("opened_at", "last_seen_at", "acknowledged_at", "resolved_at"):
            d[k] = as_utc(d[k])
        return cls(**d)


class EventOut(BaseModel):
    at: dt.datetime
    event: str
    actor: str
    comment: str | None


class AlertDetail(AlertOut):
    history: list[EventOut]


class ResolveBody(BaseModel):
    comment: str = Field(min_length=1, max_length=2000, description="why the alert is closed")


class SubscriptionIn(BaseModel):
    channel: Literal["webhook", "email"]
    target: str = Field(min_length=3, max_length=500, description="https://... URL or e-mail address")
    district: str | None = Field(default=None, max_length=100)
    building_type: BuildingType | None = None


class SubscriptionOut(BaseModel):
    id: int
    user_id: int
    channel: str
    target: str
    district: str | None
    building_type: str | None


class EvaluationOut(BaseModel):
    evaluated_at: dt.datetime
    buildings: int
    findings: int
    opened: list[int]
    updated: list[int]
    resolved: list[int]


def _get(session, alert_id: int, scope: frozenset[str] | None) -> Alert:
    a = session.get(Alert, alert_id)
    # A facility manager learns nothing about other buildings' alerts, not even that they exist.
    if a is None or (scope is not None and a.building_code not in scope):
        raise not_found("alert", alert_id, "alert_id")
    return a


@router.get("", response_model=Page[AlertOut], responses=CSV_RESPONSES)
@router.get("/export.csv", response_model=Page[AlertOut], responses=CSV_RESPONSES, name="export_alerts")
def list_alerts(session: SessionDep, scope: ScopeDep, filt: FilterDep, page: PageDep,
                state: Annotated[State | None, Query()] = None,
                rule: Annotated[Rule | None, Query()] = None):
    """Alerts, newest first; facility managers see their buildings' alerts only."""
    stmt = select(Alert).order_by(Alert.opened_at.desc(), Alert.id.desc())
    if scope is not None:
        stmt = stmt.where(Alert.building_code.in_(scope))
    if state is not None:
        stmt = stmt.where(Alert.state == state)
    if rule is not None:
        stmt = stmt.where(Alert.rule == rule.value)
    rows = [a for a in session.scalars(stmt)
            if filt.matches(district=a.district, building_type=a.building_type, ownership=a.ownership)]
    return respond([AlertOut.of(a) for a in rows], AlertOut, page, "alerts")


@router.get("/rules", response_model=dict)
def rule_parameters(_: CurrentUser) -> dict:
    """The rules and the parameters they are evaluated with."""
    return {"rules": [r.value for r in Rule], "parameters": RuleParams().as_dict()}


@router.post("/evaluate", response_model=EvaluationOut)
def evaluate_now(request: Request, session: SessionDep, _: AuditorUser) -> EvaluationOut:
    """Evaluate every rule for every building now (the scheduler does this periodically)."""
    r = engine.evaluate(session, influx=request.app.state.influx, ctx=request.app.state.alert_context,
                        now=utcnow())
    return EvaluationOut(evaluated_at=r.evaluated_at, buildings=r.buildings, findings=len(r.findings),
                         opened=r.opened, updated=r.updated, resolved=r.resolved)


@router.get("/subscriptions", response_model=Page[SubscriptionOut], responses=CSV_RESPONSES)
@router.get("/subscriptions/export.csv", response_model=Page[SubscriptionOut], responses=CSV_RESPONSES,
            name="export_subscriptions")
def list_subscriptions(session: SessionDep, user: AuditorUser, page: PageDep,
                       filt: FilterDep):
    """The caller's subscriptions (an administrator sees everyone's)."""
    if filt.ownership is not None:
        raise APIError(422, "invalid_value", "ownership: subscriptions are by district or building type only",
                       "ownership")
    stmt = select(Subscription).order_by(Subscription.id)
    if user.role != Role.administrator:
        stmt = stmt.where(Subscription.user_id == user.user_id)
    rows = [s for s in session.scalars(stmt)
            if (filt.district is None or s.district == filt.district)
            and (filt.building_type is None or s.building_type == filt.building_type.value)]
    return respond([SubscriptionOut.model_validate(s, from_attributes=True) for s in rows], SubscriptionOut,
                   page, "subscriptions")


@router.post("/subscriptions", response_model=SubscriptionOut, status_code=201)
def subscribe(session: SessionDep, user: AuditorUser, body: SubscriptionIn) -> SubscriptionOut:
    """Be told about alerts of a district and/or building type (both empty: every alert)."""
    if body.channel == "webhook" and not body.target.startswith(("https://", "http://")):
        raise APIError(422, "invalid_value", f"target: a webhook needs an http(s) URL (got {body.target!r})",
                       "target")
    if body.channel == "email" and ("@" not in body.target or any(c.isspace() for c in body.target)):
        raise APIError(422, "invalid_value", f"target: not an e-mail address ({body.target!r})", "target")
    s = Subscription(user_id=user.user_id, channel=body.channel, target=body.target, district=body.district,
                     building_type=body.building_type.value if body.building_type else None)
    session.add(s)
    session.commit()
    return SubscriptionOut.model_validate(s, from_attributes=True)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def unsubscribe(session: SessionDep, user: AuditorUser,
                subscription_id: Annotated[DbId, Path()]) -> None:
    s = session.get(Subscription, subscription_id)
    if s is None or (user.role != Role.administrator and s.user_id != user.user_id):
        raise not_found("subscription", subscription_id, "subscription_id")
    session.delete(s)
    session.commit()


@router.get("/{alert_id}", response_model=AlertDetail)
def get_alert(session: SessionDep, scope: ScopeDep, alert_id: AlertId) -> AlertDetail:
    a = _get(session, alert_id, scope)
    events = session.scalars(select(AlertEvent).where(AlertEvent.alert_id == a.id).order_by(AlertEvent.id))
    return AlertDetail(**AlertOut.of(a).model_dump(),
                       history=[EventOut(at=as_utc(e.at), event=e.event, actor=e.actor, comment=e.comment)
                                for e in events])


def _transition(session, user: Principal, alert_id: int, scope) -> Alert:
    a = _get(session, alert_id, scope)
    if a.state == "resolved":
        raise APIError(409, "conflict", f"alert {alert_id} is already resolved", "alert_id")
    return a


@router.post("/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(session: SessionDep, user: AuditorUser, scope: ScopeDep, alert_id: AlertId) -> AlertOut:
    a = _transition(session, user, alert_id, scope)
    if a.state == "acknowledged":
        raise APIError(409, "conflict", f"alert {alert_id} was acknowledged by {a.acknowledged_by}", "alert_id")
    engine.acknowledge(session, alert=a, actor=user.name, now=utcnow())
    session.commit()
    return AlertOut.of(a)


@router.post("/{alert_id}/resolve", response_model=AlertOut)
def resolve(session: SessionDep, user: AuditorUser, scope: ScopeDep, alert_id: AlertId,
            body: ResolveBody) -> AlertOut:
    """Close an alert by hand; if its condition still holds, the next evaluation opens a new one."""
    a = _transition(session, user, alert_id, scope)
    engine.resolve(session, alert=a, actor=user.name, comment=body.comment, now=utcnow())
    session.commit()
    return AlertOut.of(a)
