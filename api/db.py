"""The API's own tables, in the same database as the building registry.

Schema version 1, created with ``create_all`` (see docs/api.md, "Storage"): the version is
stored in ``api_schema_version`` so a later migration can tell which schema it finds. The
tables use their own metadata, so they never collide with the registry's migrations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

SCHEMA_VERSION = 1


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "api_schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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


def as_utc(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite drops the zone of a stored time; every time stored here is UTC."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=dt.UTC)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    kwargs: dict = {}
    if url.startswith("sqlite"):
        # The web server hands sessions between threads; SQLite must allow it.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record) -> None:  # noqa: ANN001 - DB-API connection
            cur = conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()
    return engine


def create_schema(engine: Engine) -> None:
    """Create the API tables if missing and record the schema version; refuse a newer one."""
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        found = s.scalar(select(SchemaVersion.version).order_by(SchemaVersion.version.desc()))
        if found is None:
            s.add(SchemaVersion(version=SCHEMA_VERSION))
            s.commit()
        elif found > SCHEMA_VERSION:
            raise RuntimeError(f"database has API schema version {found}; this code knows {SCHEMA_VERSION}")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def sessions(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as s:
        yield s
