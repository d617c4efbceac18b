"""Keep the fleet file's optional simulation targets, so an export gives back what was imported.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("building") as batch:
        batch.add_column(sa.Column("simulation", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("building") as batch:
        batch.drop_column("simulation")
