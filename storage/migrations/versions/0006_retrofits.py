"""Energy-saving retrofits, whose savings analytics/savings.py verifies.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retrofit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("building_code", sa.String(10), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.Column("measures", sa.String(500), nullable=False),
        sa.Column("carrier", sa.String(30), nullable=False),
        sa.Column("expected_saving_share", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_retrofit"),
    )
    op.create_index("ix_retrofit_building_code", "retrofit", ["building_code"])


def downgrade() -> None:
    op.drop_index("ix_retrofit_building_code", table_name="retrofit")
    op.drop_table("retrofit")
