"""What every command shares: schema preparation and turning errors into one-line messages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from rostra.config import Settings
from rostra.domain.errors import RostraError
from rostra.storage import migrations
from rostra.storage.database import is_sqlite

F = TypeVar("F", bound=Callable[..., Any])


def _database_reason(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def prepare_schema(engine: Engine) -> None:
    """SQLite is migrated on first use (zero-config); PostgreSQL must be upgraded on purpose."""
    try:
        if is_sqlite(engine):
            migrations.ensure_schema(engine)
        elif not migrations.is_current(engine):
            raise click.ClickException(
                "the database schema is not current; run `rostra db upgrade` first"
            )
    except migrations.SchemaMismatch as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot use the database: {_database_reason(exc)}") from None


def serving_engine(settings: Settings) -> Any:
    """The moderation engine as the server runs it (both tiers), loaded here so that a missing
    or broken model is one clear line instead of a traceback."""
    from rostra.moderation.engine import ModerationEngine

    try:
        return ModerationEngine.from_model_dir(settings.model_dir)
    except RostraError as exc:
        raise click.ClickException(f"cannot load the moderation models: {exc.message}") from None


def friendly(command: F) -> F:
    """Rostra, database and file errors as one line and a non-zero exit, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RostraError as exc:
            raise click.ClickException(exc.message) from None
        except SQLAlchemyError as exc:
            refused = getattr(exc, "orig", None)
            if isinstance(refused, RostraError):  # a value the storage types refused
                raise click.ClickException(refused.message) from None
            raise click.ClickException(f"database error: {_database_reason(exc)}") from None
        except OSError as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}") from None

    return wrapper  # type: ignore[return-value]
