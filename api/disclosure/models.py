"""Disclosure tables (prefix ``disclosure_``), in the registry's database.

Created and changed by the database's one Alembic history (storage/schema.py, revision 0003),
like the registry's and the API's tables. A ``before_update`` guard refuses, below the service layer, any
change to a record's frozen snapshot and any edit of a closed (published/withdrawn) record.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint, event, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.attributes import get_history

from storage.schema import NAMING_CONVENTION
from storage.utc import as_utc, utcnow  # noqa: F401 - also imported from here by the disclosure modules


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DisclosureRecord(Base):
    """One version of one building's disclosure for one reporting year."""

    __tablename__ = "disclosure_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_code: Mapped[str] = mapped_column(String(10), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)

    # The frozen figures and what they rest on.
    snapshot_version: Mapped[int] = mapped_column(Integer)
    figures: Mapped[dict] = mapped_column(JSON)
    figures_sha256: Mapped[str] = mapped_column(String(64))
    conversion_basis: Mapped[str] = mapped_column(String(40))
    factor_table_version: Mapped[str] = mapped_column(String(80))
    coverage: Mapped[float]

    # Copied from the snapshot so the public list can filter and sort in SQL.
    building_name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(100), index=True)
    building_type: Mapped[str] = mapped_column(String(20), index=True)
    audit_required: Mapped[bool]
    energy_tce: Mapped[float]
    eui_kgce_per_m2: Mapped[float]

    #: Explanatory note by the building or the bureau; editable while draft or returned.
    remarks: Mapped[str | None] = mapped_column(Text, default=None)

    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    submitted_by_user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    submitted_by: Mapped[str | None] = mapped_column(String(100), default=None)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    approved_by: Mapped[str | None] = mapped_column(String(100), default=None)
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    published_by: Mapped[str | None] = mapped_column(String(100), default=None)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    withdraw_reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: Optimistic lock: two reviewers acting on the same version at once cannot both win.
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}
    __table_args__ = (
        UniqueConstraint("building_code", "year", "version", name="uq_disclosure_record_version"),
        # The database itself refuses two published versions of one building and year.
        Index("uq_disclosure_record_published", "building_code", "year", unique=True,
              sqlite_where=text("state = 'published'"), postgresql_where=text("state = 'published'")),
    )


class DisclosureEvent(Base):
    """Who did what to a record, when, and why (comments, return comments, withdraw reasons)."""

    __tablename__ = "disclosure_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("disclosure_record.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(16))  # generate, submit, ..., supersede, discard, override
    actor_user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    actor_name: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16), default=None)
    to_state: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text, default=None)


#: Columns that are frozen from the moment the record is written.
FROZEN_COLUMNS = ("building_code", "year", "version", "snapshot_version", "figures", "figures_sha256",
                  "conversion_basis", "factor_table_version", "coverage", "building_name", "district",
                  "building_type", "audit_required", "energy_tce", "eui_kgce_per_m2", "created_at",
                  "created_by")
#: What may still change on a published record: only its withdrawal.
WITHDRAW_COLUMNS = frozenset({"state", "withdrawn_at", "withdraw_reason", "row_version"})


class FrozenRecordError(RuntimeError):
    """A write that would change frozen figures or a closed record; a programming error, never user input."""


@event.listens_for(DisclosureRecord, "before_update")
def _guard_frozen(_mapper, _conn, target: DisclosureRecord) -> None:
    for name in FROZEN_COLUMNS:
        if get_history(target, name).has_changes():
            raise FrozenRecordError(f"disclosure {target.id}: {name} is frozen at generation time")
    old_state = get_history(target, "state").deleted
    was = old_state[0] if old_state else target.state
    if was in ("withdrawn", "superseded", "discarded"):
        raise FrozenRecordError(f"disclosure {target.id} is {was} and can no longer change")
    if was == "published":
        changed = {c.key for c in _mapper.column_attrs if get_history(target, c.key).has_changes()}
        if not changed <= WITHDRAW_COLUMNS or target.state != "withdrawn":
            raise FrozenRecordError(f"disclosure {target.id} is published; only a withdrawal may change it "
                                    f"(tried {sorted(changed)})")
