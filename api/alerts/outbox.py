"""The persistent delivery outbox: queue in the alert's transaction, deliver later, retry forever.

A message leaves the outbox only by being delivered (``delivered_at`` set; the row stays as
a record). A failed attempt sets ``next_attempt_at`` with capped exponential backoff; there
is no attempt limit, so a receiver that is down for a day gets its alerts when it is back.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.db import Alert, OutboxMessage, Subscription, User, as_utc
from contract.topics import alert_topic
from storage.clip import clip
from storage.retry import capped_backoff

log = logging.getLogger(__name__)


def alert_payload(alert: Alert, event: str) -> dict:
    """What every channel sends: the alert as the API shows it, plus the event."""
    return {"event": event, "alert_id": alert.id, "rule": alert.rule, "building_code": alert.building_code,
            "district": alert.district, "building_type": alert.building_type, "state": alert.state,
            "message": alert.message, "details": alert.details,
            "opened_at": as_utc(alert.opened_at).isoformat(),
            "resolved_at": as_utc(alert.resolved_at).isoformat() if alert.resolved_at else None,
            "resolved_by": alert.resolved_by, "resolution_comment": alert.resolution_comment}


def matching_subscriptions(session: Session, alert: Alert) -> list[Subscription]:
    """Subscriptions whose district and building type (each optional) match the alert."""
    return list(session.scalars(select(Subscription).join(User, User.id == Subscription.user_id).where(
        or_(Subscription.district.is_(None), Subscription.district == alert.district),
        or_(Subscription.building_type.is_(None), Subscription.building_type == alert.building_type),
    ).order_by(Subscription.id)))


def queue_notifications(session: Session, *, alert: Alert, event: str, now: dt.datetime) -> int:
    """Queue the MQTT message and one message per matching subscription; returns how many."""
    payload = alert_payload(alert, event)
    rows = [OutboxMessage(alert_id=alert.id, event=event, channel="mqtt",
                          target=alert_topic(alert.building_code, alert.rule), payload=payload,
                          created_at=now, next_attempt_at=now)]
    for sub in matching_subscriptions(session, alert):
        rows.append(OutboxMessage(alert_id=alert.id, event=event, channel=sub.channel, target=sub.target,
                                  payload=payload, created_at=now, next_attempt_at=now))
    session.add_all(rows)
    return len(rows)


def backoff_s(attempts: int, *, base_s: float, cap_s: float) -> float:
    """Delay before the next attempt after ``attempts`` failures: base * 2**(attempts-1), capped. [s]"""
    return capped_backoff(attempts - 1, base_s, cap_s)


@dataclass
class DrainReport:
    delivered: int = 0
    failed: int = 0


#: channel -> function(target, payload) that raises on failure.
Sender = Callable[[str, dict], None]


def drain(session: Session, *, senders: dict[str, Sender], now: dt.datetime, base_s: float, cap_s: float,
          batch: int = 200) -> DrainReport:
    """Try every due message once, committing after each so progress survives a crash."""
    report = DrainReport()
    due = session.scalars(select(OutboxMessage).where(
        OutboxMessage.delivered_at.is_(None), OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id).limit(batch)).all()
    for msg in due:
        send = senders.get(msg.channel)
        try:
            if send is None:
                raise RuntimeError(f"no sender configured for channel {msg.channel!r}")
            send(msg.target, msg.payload)
        except Exception as e:  # noqa: BLE001 - any failure is retried; the loop must go on
            msg.attempts += 1
            msg.last_error = clip(f"{type(e).__name__}: {e}", 1000)
            msg.next_attempt_at = now + dt.timedelta(seconds=backoff_s(msg.attempts, base_s=base_s, cap_s=cap_s))
            report.failed += 1
            log.warning("outbox %s %s -> %s failed (attempt %d): %s", msg.id, msg.channel, msg.target,
                        msg.attempts, msg.last_error)
        else:
            msg.attempts += 1
            msg.delivered_at = now
            report.delivered += 1
        session.commit()
    return report
