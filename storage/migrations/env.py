"""The one Alembic environment of the SQL database (registry, API and disclosure tables, one
version table ``alembic_version``); run through ``storage.schema.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.schema import VERSION_TABLE, adopt_registry_history

config = context.config


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        adopt_registry_history(connection)
        context.configure(
            connection=connection,
            # The models live in the rooms that own them (registry, api); storage imports none of
            # them. Autogenerate gets them from the caller (storage.schema.all_metadata).
            target_metadata=config.attributes.get("metadata"),
            version_table=VERSION_TABLE,
            # SQLite cannot ALTER most things; batch mode copies the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; pass a database URL")
run_migrations_online()
