import os
import platform
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from tests.factories import WordEngine

from rostra.cli import main
from rostra.cli.demo_data import THREAD, seed_demo
from rostra.storage import migrations
from rostra.storage.database import make_engine
from rostra.storage.reviews import Queue, QueueFilter, ReviewStore
from rostra.storage.tables import comments, stories, users


def test_demo_seeds_a_thread_through_the_engine_once(db):
    report = seed_demo(db, WordEngine(), public_url="http://127.0.0.1:8000")
    assert report.created and report.password
    assert sum(report.counts.values()) == len(THREAD)
    with db.connect() as conn:
        story = conn.execute(select(stories)).one()
        statuses = conn.execute(select(comments.c.status)).scalars().all()
        held, _ = ReviewStore.queue(conn, 1, QueueFilter(queue=Queue.PENDING))
        assert conn.execute(select(users.c.username)).scalars().all() == ["moderator"]
    assert story.url == "http://127.0.0.1:8000/demo"
    assert story.comment_count == statuses.count("published")
    assert report.password in report.summary()
    again = seed_demo(db, WordEngine(), public_url="http://127.0.0.1:8000")
    assert not again.created and again.password is None
    with db.connect() as conn:
        assert len(conn.execute(select(comments.c.id)).all()) == len(THREAD)


def test_db_upgrade_creates_the_schema(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/fresh.db"
    monkeypatch.setenv("ROSTRA_DATABASE_URL", url)
    monkeypatch.setenv("ROSTRA_DEV_MODE", "1")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "upgraded" in result.output
    assert migrations.is_current(make_engine(url))
    again = CliRunner().invoke(main, ["db", "upgrade"])
    assert "current" in again.output


def test_db_upgrade_stamps_tables_made_by_create_all(database_url, monkeypatch):
    monkeypatch.setenv("ROSTRA_DATABASE_URL", database_url)
    monkeypatch.setenv("ROSTRA_DEV_MODE", "1")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "stamped" in result.output


def test_serve_refuses_unsafe_settings(monkeypatch):
    monkeypatch.delenv("ROSTRA_DEV_MODE", raising=False)
    monkeypatch.delenv("ROSTRA_SECRET_KEY", raising=False)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code != 0
    assert "ROSTRA_SECRET_KEY" in result.output


@pytest.mark.postgres
def test_serve_refuses_an_outdated_postgresql_schema(pg_server_url, monkeypatch):
    from sqlalchemy import text

    engine = make_engine(pg_server_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    monkeypatch.setenv("ROSTRA_DATABASE_URL", pg_server_url)
    monkeypatch.setenv("ROSTRA_DEV_MODE", "1")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code != 0 and "rostra db upgrade" in result.output


_SHOW_ALLOCATOR = (
    "import os; from rostra.cli.server import _tune_allocator; "
    "print(_tune_allocator(), os.environ.get('MALLOC_ARENA_MAX'), "
    "os.environ.get('MALLOC_TRIM_THRESHOLD_'))"
)


@pytest.mark.parametrize(("preset", "expected"), [
    ({}, "['MALLOC_ARENA_MAX', 'MALLOC_TRIM_THRESHOLD_'] 2 1048576"),
    ({"MALLOC_ARENA_MAX": "4"}, "['MALLOC_TRIM_THRESHOLD_'] 4 1048576"),
])
def test_serve_caps_the_allocator_unless_the_environment_chose(preset, expected):
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("the allocator settings are glibc's")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", _SHOW_ALLOCATOR], env={**env, **preset},
                          capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == expected


def test_demo_serves_with_the_allocator_settings_of_serve(tmp_path, monkeypatch):
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("the allocator settings are glibc's")
    from rostra.cli import server

    for variable, _parameter, _value in server.ALLOCATOR_SETTINGS:
        monkeypatch.delenv(variable, raising=False)  # restored after the test
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROSTRA_DATABASE_URL", f"sqlite:///{tmp_path}/demo.db")
    monkeypatch.setenv("ROSTRA_DEV_MODE", "1")
    monkeypatch.setenv("ROSTRA_PUBLIC_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("ROSTRA_SECRET_KEY", "a-long-random-test-secret-for-the-demo-0123")
    monkeypatch.setattr(server, "serving_engine", lambda settings: WordEngine())
    handed: dict[str, str | None] = {}

    def become_uvicorn(host: str, port: int, workers: int) -> None:
        handed.update({v: os.environ.get(v) for v, _p, _x in server.ALLOCATOR_SETTINGS})

    monkeypatch.setattr(server, "_run", become_uvicorn)
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert handed == {"MALLOC_ARENA_MAX": "2", "MALLOC_TRIM_THRESHOLD_": str(1 << 20)}


def test_serve_hands_over_to_uvicorn_with_options_it_accepts():
    from uvicorn.main import main as uvicorn_command

    from rostra.cli.server import WORKER_START_SECONDS, uvicorn_argv

    argv = uvicorn_argv("127.0.0.1", 8123, 3)
    assert argv[:3] == [sys.executable, "-m", "uvicorn"]
    ctx = uvicorn_command.make_context("uvicorn", argv[3:])
    assert ctx.params["app"] == "rostra.web.app:app_from_environment"
    assert ctx.params["factory"] is True and ctx.params["proxy_headers"] is True
    assert (ctx.params["host"], ctx.params["port"], ctx.params["workers"]) == ("127.0.0.1",
                                                                             8123, 3)
    assert ctx.params["timeout_worker_healthcheck"] == WORKER_START_SECONDS
