"""The API's own tables, in the same database as the building registry.

Created and changed by the database's one Alembic history (storage/schema.py, revision 0004);
a change here needs a new revision there (tests/storage/test_schema.py compares the two).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Imported by the API modules from here, beside the tables whose times they fill and read.
from storage.utc import as_utc, utcnow  # noqa: F401


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "api_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key: ``ep_<key_id>_<secret>``; only a salted scrypt hash of the secret is kept."""

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("api_user.id", ondelete="CASCADE"))
    salt: Mapped[bytes]
    secret_hash: Mapped[bytes]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Assignment(Base):
    """A facility manager may see a building only through a row here."""

    __tablename__ = "api_assignment"
    user_id: Mapped[int] = mapped_column(ForeignKey("api_user.id", ondelete="CASCADE"), primary_key=True)
    building_code: Mapped[str] = mapped_column(String(10), primary_key=True)


class Alert(Base):
    """One occurrence of a rule's condition at a building, from open to resolved."""

    __tablename__ = "api_alert"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    building_code: Mapped[str] = mapped_column(String(10), index=True)
    district: Mapped[str] = mapped_column(String(100))
    building_type: Mapped[str] = mapped_column(String(32))
    ownership: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # open, acknowledged, resolved
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), default=None)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(100), default=None)  # "auto" when it cleared
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    resolution_comment: Mapped[str | None] = mapped_column(Text, default=None)

    # The database itself refuses a second unresolved alert for the same rule and building.
    __table_args__ = (
        Index("uq_api_alert_open", "rule", "building_code", unique=True,
              sqlite_where=text("state != 'resolved'"), postgresql_where=text("state != 'resolved'")),
    )


class AlertEvent(Base):
    """Full history: every state change with who and when."""

    __tablename__ = "api_alert_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("api_alert.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(16))  # opened, acknowledged, resolved
    actor: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text, default=None)


class Subscription(Base):
    """An auditor's wish to be told about alerts of a district and/or building type."""

    __tablename__ = "api_subscription"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("api_user.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # webhook, email
    target: Mapped[str] = mapped_column(String(500))  # URL or e-mail address
    district: Mapped[str | None] = mapped_column(String(100), default=None)
    building_type: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboxMessage(Base):
    """A notification to deliver; kept until delivered (and afterwards, as a record)."""

    __tablename__ = "api_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("api_alert.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))  # webhook, mqtt, email
    target: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


