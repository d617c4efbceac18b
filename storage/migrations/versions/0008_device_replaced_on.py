"""The day a meter, PV system or charging pile was exchanged for a new one under the same id
(``replaced_on``, local date): the evidence for a register reset (contract/registers.py).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TABLES = ("meter", "pv_system", "charging_pile")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:  # batch: SQLite cannot alter tables in place
            batch.add_column(sa.Column("replaced_on", sa.Date(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("replaced_on")
