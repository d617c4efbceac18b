"""The one migration path of the SQL database: every table from one Alembic history with one
version table, the models match it, and databases made by the three old mechanisms upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Float, inspect, select, text

from registry.db import make_engine
from storage.schema import downgrade, migrate

#: A database made by the code before the histories were joined (registry Alembic at 0002 with
#: alembic_version_registry, API create_all with api_schema_version = 1, disclosure Alembic at
#: d0001 with alembic_version_disclosure), holding one building and one user: `sqlite3 .dump`.
PRE_UNIFICATION = Path(__file__).parent / "data" / "pre-unification.sql"
REGISTRY = {"building", "meter", "pv_system", "charging_pile", "weather_station", "weather_assignment", "retrofit",
            "collector", "collector_point"}
API = {"api_user", "api_key", "api_assignment", "api_alert", "api_alert_event", "api_subscription", "api_outbox"}
DISCLOSURE = {"disclosure_record", "disclosure_event"}
ANALYTICS = {"balance_month", "balance_year", "indicator_snapshot_building", "indicator_snapshot_audit"}
OLD_VERSION_TABLES = {"alembic_version_registry", "api_schema_version", "alembic_version_disclosure"}
HEAD = "0011"


def _all_metadata():
    from analytics.balance_store import metadata as analytics_metadata
    from api.db import Base as ApiBase
    from api.disclosure.models import Base as DisclosureBase
    from registry.models import Base as RegistryBase

    return [RegistryBase.metadata, ApiBase.metadata, DisclosureBase.metadata, analytics_metadata]


def _differences(engine) -> list:
    """What autogenerate would change to make the database match the models."""
    def same_float(ctx, inspected, metadata, inspected_type, metadata_type):  # noqa: ANN001 - Alembic's hook
        # The disclosure migration says Float where its model says Double: both are REAL in SQLite
        # and DOUBLE PRECISION-or-wider elsewhere, so that pair is not a difference; any other is.
        if isinstance(inspected_type, Float) and isinstance(metadata_type, Float):
            return False
        return None  # Alembic's own comparison

    with engine.connect() as c:
        ctx = MigrationContext.configure(c, opts={"compare_type": same_float})
        return compare_metadata(ctx, _all_metadata())


def _versions(engine) -> list[str]:
    with engine.connect() as c:
        return [v for (v,) in c.execute(text("SELECT version_num FROM alembic_version"))]


def test_one_history_creates_every_table_with_one_version_table(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/new.db")
    migrate(engine)
    migrate(engine)  # a second run is a no-op
    assert set(inspect(engine).get_table_names()) == REGISTRY | API | DISCLOSURE | ANALYTICS | {"alembic_version"}
    assert _versions(engine) == [HEAD]
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}


def test_models_match_the_migrations(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/cmp.db")
    migrate(engine)
    assert _differences(engine) == []


def _old_database(path: Path, *, without_disclosure: bool = False):
    con = sqlite3.connect(path)
    con.executescript(PRE_UNIFICATION.read_text())
    if without_disclosure:  # the old API created the disclosure tables on the first disclosure request only
        con.executescript("DROP TABLE disclosure_event; DROP TABLE disclosure_record; "
                          "DROP TABLE alembic_version_disclosure;")
    con.close()
    return make_engine(f"sqlite:///{path}")


@pytest.mark.parametrize("without_disclosure", [False, True])
def test_a_database_made_the_old_way_upgrades_in_place(tmp_path, without_disclosure):
    engine = _old_database(tmp_path / "old.db", without_disclosure=without_disclosure)
    assert OLD_VERSION_TABLES - ({"alembic_version_disclosure"} if without_disclosure else set()) \
        <= set(inspect(engine).get_table_names())
    migrate(engine)
    assert set(inspect(engine).get_table_names()) == REGISTRY | API | DISCLOSURE | ANALYTICS | {"alembic_version"}
    assert _versions(engine) == [HEAD]
    # The rows the old code wrote are still there, and the models read them.
    from api.db import User
    from registry.models import Building

    with engine.connect() as c:
        assert c.scalars(select(Building.building_code)).all() == ["510402A001"]
        assert c.scalars(select(User.name)).all() == ["old-admin"]
    assert _differences(engine) == []


def test_old_api_schema_of_an_unknown_version_is_refused(tmp_path):
    engine = _old_database(tmp_path / "odd.db")
    with engine.begin() as c:
        c.execute(text("UPDATE api_schema_version SET version = 2"))
    with pytest.raises(RuntimeError, match="only version 1 can be adopted"):
        migrate(engine)
