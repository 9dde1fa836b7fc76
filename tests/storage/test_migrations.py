"""``alembic upgrade head`` on an empty database gives exactly the tables of ``tables.py``."""

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from rostra.storage import migrations
from rostra.storage.database import make_engine
from rostra.storage.tables import metadata


@pytest.fixture
def empty_db(database_url):
    """The ``database_url`` database with every table dropped (the fixture creates them)."""
    engine = make_engine(database_url)
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    yield engine
    # Leave the tables the other tests of the session expect.
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    metadata.create_all(engine)
    engine.dispose()


def test_upgrade_head_matches_the_declared_tables(empty_db):
    assert migrations.current(empty_db) is None
    migrations.upgrade(empty_db)
    assert migrations.is_current(empty_db)
    with empty_db.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []
    tables = set(inspect(empty_db).get_table_names()) - {"alembic_version"}
    assert tables == set(metadata.tables)


def test_upgrade_twice_is_a_no_op_and_downgrade_empties(empty_db):
    migrations.upgrade(empty_db)
    migrations.upgrade(empty_db)
    migrations.downgrade(empty_db, "base")
    assert set(inspect(empty_db).get_table_names()) <= {"alembic_version"}


def test_alembic_command_line_finds_the_migrations(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        env={"ROSTRA_DATABASE_URL": url, "PATH": ""}, capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert migrations.is_current(make_engine(url))
