"""Alembic environment of the disclosure tables; run through ``api.disclosure.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from api.disclosure.db import VERSION_TABLE
from api.disclosure.models import Base

config = context.config


def _include(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001 - Alembic's hook signature
    # Same database as the registry and the API: only look at our own tables.
    return type_ != "table" or (name or "").startswith("disclosure_")


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            include_object=_include,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; pass a database URL")
run_migrations_online()
