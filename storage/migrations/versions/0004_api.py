"""The API's tables: users, keys, building assignments, alerts and their events, subscriptions,
the delivery outbox.

Revision ID: 0004
Revises: 0003

Were created by ``create_all`` with a version number in ``api_schema_version`` (only version 1
ever existed). A database where that already happened adopts them: nothing is created, and the
old version table is dropped. A version other than 1 is refused rather than guessed at.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_VERSION_TABLE = "api_schema_version"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    bind = op.get_bind()
    if OLD_VERSION_TABLE in sa.inspect(bind).get_table_names():
        found = sorted(v for (v,) in bind.execute(sa.text("SELECT version FROM api_schema_version")))
        if found != [1]:
            raise RuntimeError(f"{OLD_VERSION_TABLE} holds {found}; only version 1 can be adopted")
        op.drop_table(OLD_VERSION_TABLE)
        return
    op.create_table(
        "api_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("email", sa.String(200), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "api_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("building_code", sa.String(10), nullable=False),
        sa.Column("district", sa.String(100), nullable=False),
        sa.Column("building_type", sa.String(32), nullable=False),
        sa.Column("ownership", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
        sa.Column("acknowledged_by", sa.String(100), nullable=True),
        sa.Column("acknowledged_at", TZ, nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
        sa.Column("resolved_at", TZ, nullable=True),
        sa.Column("resolution_comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_alert_building_code", "api_alert", ["building_code"])
    # The database itself refuses a second unresolved alert for the same rule and building.
    op.create_index("uq_api_alert_open", "api_alert", ["rule", "building_code"], unique=True,
                    sqlite_where=sa.text("state != 'resolved'"), postgresql_where=sa.text("state != 'resolved'"))
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["api_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
    )
    op.create_table(
        "api_assignment",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("building_code", sa.String(10), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["api_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "building_code"),
    )
    op.create_table(
        "api_alert_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["api_alert.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_alert_event_alert_id", "api_alert_event", ["alert_id"])
    op.create_table(
        "api_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("district", sa.String(100), nullable=True),
        sa.Column("building_type", sa.String(32), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["api_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_subscription_user_id", "api_subscription", ["user_id"])
    op.create_table(
        "api_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["api_alert.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_outbox_alert_id", "api_outbox", ["alert_id"])
    op.create_index("ix_api_outbox_next_attempt_at", "api_outbox", ["next_attempt_at"])


def downgrade() -> None:
    for table in ("api_outbox", "api_subscription", "api_alert_event", "api_assignment", "api_key", "api_alert",
                  "api_user"):
        op.drop_table(table)
