"""The building balance by local month and year (``balance_month``, ``balance_year``), written by
the rollup job's month step beside InfluxDB's ``building_1mo`` (analytics/balance_store.py):
a whole-year read of a province's buildings from rows instead of InfluxDB series.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# analytics.balance.BALANCE_FIELDS as of this revision, copied on purpose: a migration must not
# change when the code's list does (a later field is a later revision;
# tests/storage/test_schema.py holds the models to the migrations).
_FIELDS = (
    "load_kwh", "main_meter_kwh", "lighting_sockets_kwh", "hvac_kwh", "power_kwh", "special_kwh",
    "unmetered_kwh", "electricity_from_grid_kwh", "electricity_kwh",
    "pv_generation_kwh", "pv_self_consumed_kwh", "pv_to_grid_kwh",
    "ev_energy_kwh", "ev_session_energy_kwh", "ev_pv_energy_kwh", "ev_sessions",
    "natural_gas_m3", "lpg_kg", "manufactured_gas_m3", "district_heat_kwh", "district_cooling_kwh",
    "diesel_kg", "gasoline_kg", "coal_kg", "renewable_heat_kwh", "water_m3",
    "readings", "covered_s", "metered_days",
)


def _fields() -> list[sa.Column]:
    return [sa.Column(f, sa.Float(), nullable=False) for f in _FIELDS]


def upgrade() -> None:
    op.create_table("balance_month", sa.Column("month", sa.Date(), nullable=False),
                    sa.Column("building_code", sa.String(32), nullable=False), *_fields(),
                    sa.PrimaryKeyConstraint("month", "building_code", name=op.f("pk_balance_month")))
    op.create_table("balance_year", sa.Column("year", sa.Integer(), nullable=False),
                    sa.Column("building_code", sa.String(32), nullable=False), *_fields(),
                    sa.PrimaryKeyConstraint("year", "building_code", name=op.f("pk_balance_year")))


def downgrade() -> None:
    op.drop_table("balance_year")
    op.drop_table("balance_month")
