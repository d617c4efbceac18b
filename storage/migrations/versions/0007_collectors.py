"""MOHURD data collectors and the mapping of their meter functions to devices and quantities.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collector",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("building_code", sa.String(length=10), nullable=False),
        sa.Column("gateway_id", sa.String(length=64), nullable=False),
        sa.Column("key_sealed", sa.String(length=400), nullable=False),
        sa.Column("installed_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["building_code"], ["building.building_code"],
                                name="fk_collector_building_code_building", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_collector"),
        sa.UniqueConstraint("building_code", "gateway_id", name="uq_collector_building_code"),
    )
    op.create_index("ix_collector_building_code", "collector", ["building_code"])
    op.create_table(
        "collector_point",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.String(length=32), nullable=False),
        sa.Column("function_id", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=5), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.String(length=30), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["collector_id"], ["collector.id"],
                                name="fk_collector_point_collector_id_collector", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_collector_point"),
        sa.UniqueConstraint("collector_id", "meter_id", "function_id", name="uq_collector_point_collector_id"),
    )
    op.create_index("ix_collector_point_collector_id", "collector_point", ["collector_id"])


def downgrade() -> None:
    op.drop_table("collector_point")
    op.drop_table("collector")
