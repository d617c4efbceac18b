"""Initial registry schema: building, meter, pv_system, charging_pile.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _device_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("installed_on", sa.Date(), nullable=False),
        sa.Column("building_code", sa.String(length=10), nullable=False),
    ]


def _device_constraints(table: str) -> list:
    return [
        sa.ForeignKeyConstraint(["building_code"], ["building.building_code"],
                                name=f"fk_{table}_building_code_building", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("building_code", "device_id", name=f"uq_{table}_building_code"),
    ]


def upgrade() -> None:
    op.create_table(
        "building",
        sa.Column("building_code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("building_type", sa.String(length=20), nullable=False),
        sa.Column("floor_area_m2", sa.Float(), nullable=False),
        sa.Column("climate_zone", sa.String(length=40), nullable=False),
        sa.Column("ownership", sa.String(length=40), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=False),
        sa.Column("latitude_deg", sa.Float(), nullable=False),
        sa.Column("longitude_deg", sa.Float(), nullable=False),
        sa.Column("occupants", sa.Integer(), nullable=False),
        sa.Column("year_built", sa.Integer(), nullable=True),
        sa.Column("gateway_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("building_code", name="pk_building"),
    )
    for col in ("building_type", "district", "ownership"):
        op.create_index(f"ix_building_{col}", "building", [col])

    op.create_table(
        "meter",
        *_device_columns(),
        sa.Column("carrier", sa.String(length=30), nullable=False),
        sa.Column("sub_item", sa.String(length=30), nullable=True),
        sa.Column("parent_device_id", sa.String(length=64), nullable=True),
        *_device_constraints("meter"),
    )
    op.create_table(
        "pv_system",
        *_device_columns(),
        sa.Column("capacity_kwp", sa.Float(), nullable=False),
        sa.Column("tilt_deg", sa.Float(), nullable=False),
        sa.Column("azimuth_deg", sa.Float(), nullable=False),
        sa.Column("has_grid_meter", sa.Boolean(), nullable=False),
        *_device_constraints("pv_system"),
    )
    op.create_table(
        "charging_pile",
        *_device_columns(),
        sa.Column("pile_kind", sa.String(length=20), nullable=False),
        sa.Column("rated_power_kw", sa.Float(), nullable=False),
        *_device_constraints("charging_pile"),
    )
    for table in ("meter", "pv_system", "charging_pile"):
        op.create_index(f"ix_{table}_building_code", table, ["building_code"])


def downgrade() -> None:
    for table in ("charging_pile", "pv_system", "meter"):
        op.drop_index(f"ix_{table}_building_code", table_name=table)
        op.drop_table(table)
    for col in ("ownership", "district", "building_type"):
        op.drop_index(f"ix_building_{col}", table_name="building")
    op.drop_table("building")
