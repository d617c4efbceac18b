"""Engine, sessions and migrations of the registry database.

SQLite by default (no server to start); any SQLAlchemy URL (e.g. ``postgresql+psycopg://...``)
by argument or ``EP_DATABASE_URL``, the one name every service and command line reads (from the
environment, else from the running platform's settings file, storage/settings.py). The API's and the disclosure's
tables live in the same database; one Alembic history creates and changes all of them
(``storage/schema.py``): :func:`migrate` here is that one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# The one migration path of this database, under the name the services have always called.
from storage.schema import downgrade, migrate  # noqa: F401
from storage.settings import platform_env

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///var/registry.db"


#: How long a SQLite connection waits for another process's write lock. [s]
SQLITE_BUSY_TIMEOUT_S = 30.0
#: Connections a SQLite engine keeps open: anyio's default worker-thread limit, the most reads the
#: API runs at once. With SQLAlchemy's default of 5, every read beyond the fifth opened and closed
#: a connection (with its PRAGMA): a third of a snapshot request's CPU at 50 clients
#: (docs/benchmarks/api.md). An idle connection holds no page cache until it reads.
SQLITE_POOL_SIZE = 40


def database_url(url: str | None = None) -> str:
    """The explicit ``url``, else ``EP_DATABASE_URL`` (environment, then the platform settings
    file), else the SQLite default. ``REGISTRY_DATABASE_URL``, its former name, still works
    from the environment, with a deprecation warning."""
    if url:
        return url
    if os.environ.get("EP_DATABASE_URL"):
        return os.environ["EP_DATABASE_URL"]
    if os.environ.get("REGISTRY_DATABASE_URL"):
        log.warning("REGISTRY_DATABASE_URL is deprecated and will be removed: set EP_DATABASE_URL")
        return os.environ["REGISTRY_DATABASE_URL"]
    return platform_env().get("EP_DATABASE_URL") or DEFAULT_URL


def no_buildings_message(engine: Engine) -> str:
    """What a command that needs buildings says on an empty registry (then it exits non-zero):
    the usual cause is a database other than the running platform's."""
    return (f"the registry {engine.url.render_as_string(hide_password=True)} has no buildings: import a fleet "
            "(python -m registry import) or point EP_DATABASE_URL at the platform's database (docs/settings.md)")


def make_engine(url: str | None = None, *, echo: bool = False,
                busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S) -> Engine:
    """Create an engine for the registry.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy database URL; default :func:`database_url`. For a file-based SQLite URL the
        parent folder is created.
    echo : bool
        Log SQL statements.
    busy_timeout_s : float
        SQLite: how long a statement waits for another connection's lock before it fails. 0 for
        reads that must never wait (the API's reads on its event loop, api/routers/indicators.py).
    """
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Several processes share the embedded database (API, alert scheduler, CLIs, the collector
        # gateway), and each migrates it at start: wait for another's write lock instead of failing
        # with "database is locked" after pysqlite's default 5 s on a loaded machine.
        engine = create_engine(url, echo=echo, connect_args={"timeout": busy_timeout_s},
                               pool_size=SQLITE_POOL_SIZE)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked per connection.
            cur.execute("PRAGMA foreign_keys=ON")
            # Write-ahead log: readers never wait for a writer. The rollup job replaces the indicator
            # snapshot in one transaction (30 s at 100,000 buildings); with the rollback journal
            # every API read of the registry waited for it. Kept in the file once set (a no-op after);
            # an in-memory database answers "memory" and stays so. synchronous stays FULL: a
            # committed API key or disclosure survives a power cut.
            cur.execute("PRAGMA journal_mode=WAL")
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
