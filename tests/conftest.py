"""Shared fixtures: a fresh database per test on SQLite and, when configured, on PostgreSQL.

PostgreSQL runs are enabled by ``ROSTRA_TEST_DATABASE_URL`` (CI sets it); each test session
creates a database of its own on that server and drops it at the end. Without the variable,
or when the server is unreachable, the PostgreSQL runs skip with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from rostra.storage.database import make_engine
from rostra.storage.tables import metadata

PG_URL_ENV = "ROSTRA_TEST_DATABASE_URL"


def _pg_admin_url() -> str | None:
    url = os.environ.get(PG_URL_ENV)
    if not url:
        return None
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a database created for this test session on the PostgreSQL server."""
    admin_url = _pg_admin_url()
    if admin_url is None:
        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV} (e.g. postgresql://postgres@127.0.0.1/test)")
    name = f"rostra_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        admin.dispose()
        pytest.skip(f"PostgreSQL at {PG_URL_ENV} is unreachable: {exc.__class__.__name__}")
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def _pg_engine(pg_server_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_server_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _empty_pg(engine: Engine) -> None:
    # DELETE on these few-row tables takes ~10 ms where TRUNCATE takes ~500 ms; sequences then
    # restart as TRUNCATE ... RESTART IDENTITY would, so ids begin at 1 in every test.
    with engine.begin() as conn:
        # Like the SQLite databases: tables made by create_all, no Alembic revision recorded.
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
        sequences = conn.execute(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        ).scalars()
        for name in list(sequences):
            conn.execute(text(f'ALTER SEQUENCE "{name}" RESTART'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A URL of an empty, fully created database; tests using it run on both backends."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/rostra.db"
        engine = make_engine(url)
        metadata.create_all(engine)
        engine.dispose()
        yield url
    else:
        engine = request.getfixturevalue("_pg_engine")
        _empty_pg(engine)
        yield engine.url.render_as_string(hide_password=False)


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """An Engine on a fresh database (SQLite file or the session's PostgreSQL database)."""
    from rostra.actions.adaptation import forget_loaded_models

    # Site models are cached per process by row id (a server has one database); each test's
    # fresh database numbers its rows from 1 again.
    forget_loaded_models()
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
