"""The indicator snapshot stores each building's finished body (``body_json``) instead of its
annual row (``row_json``): serving a building is then one primary-key read and no JSON work
(analytics/snapshot.py, docs/benchmarks/api.md).

The snapshot is a cache the rollup job rewrites at the end of every run, so it is emptied:
until the next run the API builds the city frames itself, as it does without a snapshot.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _create(payload_column: str) -> None:
    op.create_table("indicator_snapshot_building",
                    sa.Column("year", sa.Integer(), nullable=False), sa.Column("basis", sa.String(32), nullable=False),
                    sa.Column("building_code", sa.String(32), nullable=False),
                    sa.Column("as_of_day", sa.Date(), nullable=False),
                    sa.Column("rollup_ms", sa.BigInteger(), nullable=False),
                    sa.Column(payload_column, sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint("year", "basis", "building_code",
                                            name=op.f("pk_indicator_snapshot_building")))


def upgrade() -> None:
    op.drop_table("indicator_snapshot_building")
    _create("body_json")
    op.execute("DELETE FROM indicator_snapshot_audit")  # one snapshot: both tables from the same run


def downgrade() -> None:
    op.drop_table("indicator_snapshot_building")
    _create("row_json")
    op.execute("DELETE FROM indicator_snapshot_audit")
