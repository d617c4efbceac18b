"""The indicator snapshot (``indicator_snapshot_building``, ``indicator_snapshot_audit``): the
city's annual and audit frames computed by the rollup job, one row per building and per building
and audit window, which the API serves one building and the audit list from (analytics/snapshot.py).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("indicator_snapshot_building",
                    sa.Column("year", sa.Integer(), nullable=False), sa.Column("basis", sa.String(32), nullable=False),
                    sa.Column("building_code", sa.String(32), nullable=False),
                    sa.Column("as_of_day", sa.Date(), nullable=False),
                    sa.Column("rollup_ms", sa.BigInteger(), nullable=False),
                    sa.Column("row_json", sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint("year", "basis", "building_code",
                                            name=op.f("pk_indicator_snapshot_building")))
    op.create_table("indicator_snapshot_audit",
                    sa.Column("year", sa.Integer(), nullable=False), sa.Column("basis", sa.String(32), nullable=False),
                    sa.Column("building_code", sa.String(32), nullable=False),
                    sa.Column("window", sa.String(32), nullable=False),
                    sa.Column("position", sa.Integer(), nullable=False),
                    sa.Column("triggered", sa.Boolean(), nullable=False),
                    sa.Column("energy_excess_tce", sa.Float(), nullable=True),
                    sa.Column("district", sa.String(100), nullable=False),
                    sa.Column("building_type", sa.String(20), nullable=False),
                    sa.Column("ownership", sa.String(40), nullable=False),
                    sa.Column("list_order", sa.Integer(), nullable=False),
                    sa.Column("row_json", sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint("year", "basis", "building_code", "window",
                                            name=op.f("pk_indicator_snapshot_audit")))
    op.create_index("ix_indicator_snapshot_audit_list", "indicator_snapshot_audit",
                    ["year", "basis", "triggered", "list_order"])
    op.create_index("ix_indicator_snapshot_audit_all", "indicator_snapshot_audit", ["year", "basis", "list_order"])


def downgrade() -> None:
    op.drop_index("ix_indicator_snapshot_audit_all", table_name="indicator_snapshot_audit")
    op.drop_index("ix_indicator_snapshot_audit_list", table_name="indicator_snapshot_audit")
    op.drop_table("indicator_snapshot_audit")
    op.drop_table("indicator_snapshot_building")
