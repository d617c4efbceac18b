"""Schema management of the disclosure tables (Alembic, version table ``alembic_version_disclosure``)."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

VERSION_TABLE = "alembic_version_disclosure"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_lock = threading.Lock()
_migrated: set[str] = set()


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the disclosure schema to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def ensure_schema(engine: Engine) -> None:
    """Migrate once per engine and process: the API calls this on the first disclosure request, so
    the app factory needs no change beyond including the router."""
    key = engine.url.render_as_string(hide_password=False)
    if key in _migrated:
        return
    with _lock:
        if key not in _migrated:
            migrate(engine)
            _migrated.add(key)
