"""Engine, sessions and migrations of the registry database.

SQLite by default (no server to start); any SQLAlchemy URL (e.g. ``postgresql+psycopg://...``)
by argument or the ``REGISTRY_DATABASE_URL`` environment variable. The API's and the disclosure's
tables live in the same database; one Alembic history creates and changes all of them
(``storage/schema.py``): :func:`migrate` here is that one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# The one migration path of this database, under the name the services have always called.
from storage.schema import downgrade, migrate  # noqa: F401

DEFAULT_URL = "sqlite:///var/registry.db"


def database_url(url: str | None = None) -> str:
    """The explicit ``url``, else ``REGISTRY_DATABASE_URL``, else the SQLite default."""
    return url or os.environ.get("REGISTRY_DATABASE_URL") or DEFAULT_URL


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """Create an engine for the registry.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy database URL; default :func:`database_url`. For a file-based SQLite URL the
        parent folder is created.
    echo : bool
        Log SQL statements.
    """
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo)

        # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked per connection.
        @event.listens_for(engine, "connect")
        def _fk_on(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception."""
    with make_sessionmaker(engine)() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
