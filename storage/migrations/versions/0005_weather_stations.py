"""Weather stations and their assignment to buildings or districts (baselines need weather).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "weather_station",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("host_building_code", sa.String(10), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("latitude_deg", sa.Float(), nullable=False),
        sa.Column("longitude_deg", sa.Float(), nullable=False),
        sa.Column("installed_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_weather_station"),
        sa.UniqueConstraint("host_building_code", "device_id", name="uq_weather_station_host_building_code"),
    )
    op.create_table(
        "weather_assignment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("building_code", sa.String(10), nullable=True),
        sa.Column("district", sa.String(100), nullable=True),
        sa.CheckConstraint("(building_code IS NULL) <> (district IS NULL)", name="ck_weather_assignment_one_target"),
        sa.ForeignKeyConstraint(["station_id"], ["weather_station.id"], ondelete="CASCADE",
                                name="fk_weather_assignment_station_id_weather_station"),
        sa.PrimaryKeyConstraint("id", name="pk_weather_assignment"),
        sa.UniqueConstraint("building_code", name="uq_weather_assignment_building_code"),
        sa.UniqueConstraint("district", name="uq_weather_assignment_district"),
    )
    op.create_index("ix_weather_assignment_station_id", "weather_assignment", ["station_id"])


def downgrade() -> None:
    op.drop_index("ix_weather_assignment_station_id", table_name="weather_assignment")
    op.drop_table("weather_assignment")
    op.drop_table("weather_station")
