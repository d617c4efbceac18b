"""The one migration path of the SQL database (the registry's SQLite file by default).

Every table of that database (the registry's, the API's and the disclosure's) is created and
changed by the Alembic history in ``storage/migrations/versions``, one line of revisions with one
version table, ``alembic_version``. The services call :func:`migrate` at start-up (the API, the
registry and disclosure command lines); it is idempotent.

Databases made before this history existed had three mechanisms: the registry's Alembic history
(version table ``alembic_version_registry``), ``create_all`` with a number in
``api_schema_version``, and the disclosure's Alembic history (``alembic_version_disclosure``).
They upgrade in place: the registry's revisions keep their ids, so its old version is carried
over (:func:`adopt_registry_history`); revisions 0003 and 0004 find the disclosure and API tables
already there, keep them and drop the old version tables.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, inspect, text

VERSION_TABLE = "alembic_version"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The registry's own version table before the histories were joined.
OLD_REGISTRY_VERSION_TABLE = "alembic_version_registry"

#: Constraint and index names of the models' metadata, so that migrations get stable names on every
#: backend (the registry's and the disclosure's tables use it; revisions 0001-0003 carry its names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_lock = threading.Lock()
_migrated: set[str] = set()


def alembic_config(engine: Engine, metadata: MetaData | None = None) -> Config:
    """Alembic configuration on ``engine``; ``metadata`` (all models) only for autogenerate."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would read a "%" of a URL-encoded password.
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    cfg.attributes["metadata"] = metadata
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade every table of the database to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def migrate_once(engine: Engine) -> None:
    """:func:`migrate` once per database and process: for code paths that may run before the
    service's start-up migrated (the disclosure routes of an app built with ``migrate=False``)."""
    key = engine.url.render_as_string(hide_password=False)
    if key in _migrated:
        return
    with _lock:
        if key not in _migrated:
            migrate(engine)
            _migrated.add(key)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def adopt_registry_history(connection: Connection) -> None:
    """Carry a pre-unification registry version (``0001``/``0002``, same ids here) into
    ``alembic_version`` and drop the old table; a no-op on a new or already adopted database."""
    tables = inspect(connection).get_table_names()
    if OLD_REGISTRY_VERSION_TABLE not in tables or VERSION_TABLE in tables:
        return
    # Alembic's own DDL of a version table; the names are the two constants above.
    versions = [v for (v,) in connection.execute(text("SELECT version_num FROM alembic_version_registry"))]
    connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
    for v in versions:
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": v})
    connection.execute(text("DROP TABLE alembic_version_registry"))
