"""Alembic migrations of the schema in ``rostra.storage.tables``, and helpers to run them.

``alembic.ini`` at the repository root points here (``rostra:storage/migrations``), so
``alembic upgrade head`` works from a checkout; ``rostra db upgrade`` and ``rostra serve`` use
:func:`upgrade` and :func:`is_current`, which need no ini file and work from an installed
package.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

HERE = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if url is not None:
        # ``%`` is ConfigParser's interpolation character; URLs may contain it (passwords).
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the newest by default)."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current(engine) == head()


class SchemaMismatch(Exception):
    """The database has tables that migrations did not make and that differ from tables.py."""


def ensure_schema(engine: Engine) -> str:
    """Bring the database to the newest schema; returns what was done.

    An empty database is migrated from scratch; one at an older revision is upgraded; one
    whose tables were made by ``metadata.create_all`` (no Alembic revision yet) is stamped
    as current when its tables match ``tables.py``, else SchemaMismatch.
    """
    from alembic.autogenerate import compare_metadata
    from sqlalchemy import inspect

    from rostra.storage.tables import metadata

    revision = current(engine)
    if revision == head():
        return "current"
    if revision is None and set(inspect(engine).get_table_names()) & set(metadata.tables):
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        if diffs:
            raise SchemaMismatch(
                f"the database has Rostra tables but no migration revision, and they differ "
                f"from this version's schema ({len(diffs)} differences)"
            )
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.stamp(config, "head")
        return "stamped"
    upgrade(engine)
    return "upgraded"
