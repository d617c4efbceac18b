"""Disclosure schema: disclosure_record (versions with frozen figures) and disclosure_event.

Revision ID: 0003
Revises: 0002

Was the disclosure package's own Alembic history (revision ``d0001``, version table
``alembic_version_disclosure``). A database where that history already created the tables adopts
them: nothing is created, and the old version table is dropped.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_VERSION_TABLE = "alembic_version_disclosure"

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    tables = sa.inspect(op.get_bind()).get_table_names()
    if OLD_VERSION_TABLE in tables:
        # d0001 was the only revision of the old history: its tables are this revision's.
        op.drop_table(OLD_VERSION_TABLE)
        return
    op.create_table(
        "disclosure_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_code", sa.String(10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("snapshot_version", sa.Integer(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("figures_sha256", sa.String(64), nullable=False),
        sa.Column("conversion_basis", sa.String(40), nullable=False),
        sa.Column("factor_table_version", sa.String(80), nullable=False),
        sa.Column("coverage", sa.Float(), nullable=False),
        sa.Column("building_name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(100), nullable=False),
        sa.Column("building_type", sa.String(20), nullable=False),
        sa.Column("audit_required", sa.Boolean(), nullable=False),
        sa.Column("energy_tce", sa.Float(), nullable=False),
        sa.Column("eui_kgce_per_m2", sa.Float(), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("submitted_by_user_id", sa.Integer(), nullable=True),
        sa.Column("submitted_by", sa.String(100), nullable=True),
        sa.Column("submitted_at", TZ, nullable=True),
        sa.Column("approved_by", sa.String(100), nullable=True),
        sa.Column("approved_at", TZ, nullable=True),
        sa.Column("published_by", sa.String(100), nullable=True),
        sa.Column("published_at", TZ, nullable=True),
        sa.Column("withdrawn_at", TZ, nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_disclosure_record"),
        sa.UniqueConstraint("building_code", "year", "version", name="uq_disclosure_record_version"),
    )
    for col in ("building_code", "year", "state", "district", "building_type"):
        op.create_index(f"ix_disclosure_record_{col}", "disclosure_record", [col])
    op.create_index("uq_disclosure_record_published", "disclosure_record", ["building_code", "year"], unique=True,
                    sqlite_where=sa.text("state = 'published'"), postgresql_where=sa.text("state = 'published'"))
    op.create_table(
        "disclosure_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(100), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["disclosure_record.id"],
                                name="fk_disclosure_event_record_id_disclosure_record", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_disclosure_event"),
    )
    op.create_index("ix_disclosure_event_record_id", "disclosure_event", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_disclosure_event_record_id", table_name="disclosure_event")
    op.drop_table("disclosure_event")
    op.drop_index("uq_disclosure_record_published", table_name="disclosure_record")
    for col in ("building_type", "district", "state", "year", "building_code"):
        op.drop_index(f"ix_disclosure_record_{col}", table_name="disclosure_record")
    op.drop_table("disclosure_record")
