"""Server commands: ``rostra serve``, ``rostra demo`` and ``rostra db upgrade|status``."""

from __future__ import annotations

import ctypes
import os
import secrets
import sys
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from rostra.cli import main
from rostra.cli.context import prepare_schema, serving_engine
from rostra.config import Settings, load_settings
from rostra.storage import migrations
from rostra.storage.database import make_engine

WORKER_START_SECONDS = 120


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise click.ClickException(f"invalid settings: {messages}") from None





#: glibc's allocator settings for the server, each unless the environment already sets it:
#: (environment variable, mallopt parameter, value). At most two malloc arenas instead of up
#: to eight per core for the request threads, and freed heap above 1 MiB given back to the
#: system. With them, a server that had posted ~4,000 comments and served 32 concurrent reads
#: of the whole thread grew to ~300 MB instead of ~350 MB (docs/benchmarks.md).
ALLOCATOR_SETTINGS = (
    ("MALLOC_ARENA_MAX", -8, 2),  # M_ARENA_MAX
    ("MALLOC_TRIM_THRESHOLD_", -1, 1 << 20),  # M_TRIM_THRESHOLD
)


def _tune_allocator() -> list[str]:
    """Apply ALLOCATOR_SETTINGS to this process (mallopt: it is running already) and, through
    the environment, to the Uvicorn process it becomes and its workers. Returns the variables
    applied; none where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return []
    applied = []
    for variable, parameter, value in ALLOCATOR_SETTINGS:
        if variable in os.environ:
            continue  # the operator's choice; glibc read it when this process started
        if mallopt(parameter, value) == 1:
            os.environ[variable] = str(value)
            applied.append(variable)
    return applied


def uvicorn_argv(host: str, port: int, workers: int) -> list[str]:
    """The Uvicorn command line that serves Rostra."""
    # The CLI does not import the web layer (layers: cli and web are siblings); Uvicorn builds
    # the app from the environment in each worker, the only process when workers == 1.
    return [
        sys.executable, "-m", "uvicorn", "rostra.web.app:app_from_environment", "--factory",
        "--host", host, "--port", str(port), "--workers", str(workers),
        "--log-level", "info", "--proxy-headers",
        # A worker loads the models before it can answer the supervisor's ping; on a busy
        # machine that takes longer than Uvicorn's default 5 s, which would kill it in a loop.
        "--timeout-worker-healthcheck", str(WORKER_START_SECONDS),
    ]


def _run(host: str, port: int, workers: int) -> None:
    """Become Uvicorn (exec, same process id): the server then holds none of what the CLI
    loaded for its checks (Alembic, the first copy of the models), ~20 MB less memory."""
    argv = uvicorn_argv(host, port, workers)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes (use PostgreSQL for more than one).")
def serve(host: str, port: int, workers: int) -> None:
    """Run the Rostra server (Uvicorn)."""
    _tune_allocator()  # before the models load and the request threads start
    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        prepare_schema(engine)
    finally:
        engine.dispose()
    if workers > 1 and settings.database_url.startswith("sqlite"):
        click.echo("note: several workers on SQLite share one writer; PostgreSQL scales better",
                   err=True)
    serving_engine(settings)  # checked once here; each worker then loads its own copy
    _run(host, port, workers)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the schema migrations to the configured database."""
    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        if revision == "head":
            done = migrations.ensure_schema(engine)
        else:
            migrations.upgrade(engine, revision)
            done = "upgraded"
        click.echo(f"database {done}: revision {migrations.current(engine)}")
    except migrations.SchemaMismatch as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise click.ClickException(f"database error: {reason}") from None
    finally:
        engine.dispose()


@db.command("status")
def db_status() -> None:
    """Show the database's schema revision and the newest one."""
    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        click.echo(f"current: {migrations.current(engine) or 'none'}; head: {migrations.head()}")
    finally:
        engine.dispose()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="Create the demo data and exit.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Create ./rostra.db with a demo site, a heated thread and a moderator; then serve it."""
    from rostra.cli.demo_data import seed_demo

    _tune_allocator()  # the server it becomes holds what `rostra serve` would (~20 MB less)
    public_url = f"http://{host}:{port}"
    os.environ.setdefault("ROSTRA_DATABASE_URL", "sqlite:///./rostra.db")
    os.environ.setdefault("ROSTRA_DEV_MODE", "1")  # plain http on localhost: non-Secure cookies
    os.environ.setdefault("ROSTRA_PUBLIC_URL", public_url)
    if "ROSTRA_SECRET_KEY" not in os.environ:
        os.environ["ROSTRA_SECRET_KEY"] = secrets.token_urlsafe(32)
    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        prepare_schema(engine)
        click.echo("Loading the moderation models...")
        moderation_engine = serving_engine(settings)
        report = seed_demo(engine, moderation_engine, public_url=public_url)
    finally:
        engine.dispose()
    click.echo(report.summary())
    if not no_serve:
        del moderation_engine  # the server process loads its own
        _run(host, port, 1)
