"""rostra import / export / forget / rescore through click's CliRunner."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from tests.factories import make_site

from rostra.archive import background
from rostra.cli import main
from rostra.storage.tables import authors, comments, stories

ARCHIVES = Path(__file__).parent.parent / "fixtures" / "archives"


@pytest.fixture
def rostra(database_url, db, monkeypatch):
    """Run ``rostra ARGS`` against the test database; returns the click Result."""
    for name in ("ROSTRA_CONFIG", "ROSTRA_SECRET_KEY", "ROSTRA_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    env = {"ROSTRA_DATABASE_URL": database_url, "ROSTRA_DEV_MODE": "1", "COLUMNS": "200"}

    def run(*args, input=None):
        return CliRunner().invoke(main, list(map(str, args)), input=input, env=env)

    return run


def _count(db, table=comments):
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_import_prints_a_summary_with_skipped_reasons(rostra, db):
    make_site(db)
    result = rostra("import", "disqus", ARCHIVES / "disqus.xml", "--site", "news")
    assert result.exit_code == 0, result.output
    assert "Comments: 13 created, 0 already there" in result.stderr
    assert "1 × story not in the archive" in result.stderr
    assert "1 × post without dsq:id" in result.stderr
    again = rostra("import", "disqus", ARCHIVES / "disqus.xml", "--site", "news")
    assert "Comments: 0 created, 13 already there" in again.stderr
    assert _count(db) == 13


def test_a_big_file_is_read_in_a_second_process_with_the_same_result(rostra, db, monkeypatch):
    monkeypatch.setattr("rostra.archive.background.MIN_BYTES", 1)  # every file is "big"
    started = []
    real = background._read_in_child
    monkeypatch.setattr(background, "_read_in_child",
                        lambda *args: started.append(args[1]) or real(*args))  # fmt: skip
    make_site(db)
    result = rostra("import", "disqus", ARCHIVES / "disqus.xml", "--site", "news")
    assert result.exit_code == 0, result.output
    assert started == [ARCHIVES / "disqus.xml"]
    assert "Comments: 13 created, 0 already there" in result.stderr
    assert "1 × post without dsq:id" in result.stderr
    with db.connect() as conn:
        counts = sorted(conn.execute(select(stories.c.comment_count)).scalars())
    assert counts == [3, 8]


def test_wordpress_and_isso_imports(rostra, db):
    make_site(db)
    wp = rostra("import", "wordpress", ARCHIVES / "wordpress.xml", "--site", "news")
    isso = rostra("import", "isso", ARCHIVES / "isso.db", "--site", "news",
                  "--base-url", "https://harbour.example")  # fmt: skip
    assert wp.exit_code == 0 and isso.exit_code == 0, wp.output + isso.output
    assert _count(db) == 9 + 9


def test_export_writes_a_file_that_imports_back(rostra, db, tmp_path):
    make_site(db)
    make_site(db, "copy")
    rostra("import", "disqus", ARCHIVES / "disqus.xml", "--site", "news")
    out = tmp_path / "news.jsonl"
    result = rostra("export", "site", "news", "-o", out)
    assert result.exit_code == 0, result.output
    assert "13 comments" in result.stderr
    assert not (tmp_path / "news.jsonl.partial").exists()
    back = rostra("import", "rostra", out, "--site", "copy")
    assert "Comments: 13 created" in back.stderr
    assert _count(db) == 26


def test_export_site_to_standard_output(rostra, db):
    make_site(db)
    rostra("import", "wordpress", ARCHIVES / "wordpress.xml", "--site", "news")
    result = rostra("export", "site", "news")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["type"] == "rostra-export"
    assert sum(1 for line in lines if line["type"] == "comment") == 9


def test_export_and_forget_an_author(rostra, db):
    make_site(db)
    rostra("import", "disqus", ARCHIVES / "disqus.xml", "--site", "news")
    exported = rostra("export", "author", "news", "erin@example.org")
    assert exported.exit_code == 0
    assert "Érin Ünal 🌍" in exported.stdout
    forgot = rostra("forget", "author", "news", "erin@example.org", "--yes")
    assert forgot.exit_code == 0, forgot.output
    with db.connect() as conn:
        names = set(conn.execute(select(authors.c.name)).scalars())
    assert "Érin Ünal 🌍" not in names and "Deleted user" in names
    again = rostra("forget", "author", "news", "erin@example.org", "--yes")
    assert again.exit_code == 1 and "no author" in again.stderr


def test_forget_asks_before_erasing(rostra, db):
    make_site(db)
    rostra("import", "disqus", ARCHIVES / "disqus.xml", "--site", "news")
    result = rostra("forget", "author", "news", "erin@example.org", input="n\n")
    assert result.exit_code == 1
    with db.connect() as conn:
        assert conn.execute(select(func.count()).where(authors.c.forgotten_at.is_not(None))
                            ).scalar_one() == 0  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("disqus", b"<disqus xmlns='http://disqus.com'><post>", "not well-formed XML"),
        ("disqus", b"<?xml version='1.0' encoding='utf-8'?><disqus>\xff\xfe</disqus>", "XML"),
        ("wordpress", b"just some text", "not well-formed XML"),
        ("isso", b"SQLite format 3\x00 but truncated", "Not an SQLite database"),
        ("rostra", b'{"type": "story"}\n', "Not a Rostra export"),
    ],
)
def test_hostile_files_fail_with_one_clear_line(rostra, db, tmp_path, fmt, content, message):
    make_site(db)
    path = tmp_path / "archive"
    path.write_bytes(content)
    result = rostra("import", fmt, path, "--site", "news")
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    assert _count(db) == 0


@pytest.mark.parametrize("damage", ["schema", "pages"])
def test_a_damaged_isso_database_fails_with_one_clear_line(rostra, db, tmp_path, damage):
    from tests.archive.test_isso import _bad_pages, _bad_schema

    make_site(db)
    change = _bad_schema if damage == "schema" else _bad_pages
    path = tmp_path / "comments.db"
    path.write_bytes(change(bytearray((ARCHIVES / "isso.db").read_bytes())))
    result = rostra("import", "isso", path, "--site", "news")
    assert result.exit_code == 1, result.output
    assert "Error:" in result.stderr and "Traceback" not in result.output
    assert _count(db) == 0


def test_an_sqlite_file_that_is_not_isso_is_refused(rostra, db, tmp_path):
    import sqlite3

    make_site(db)
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER)")
    result = rostra("import", "isso", path, "--site", "news")
    assert result.exit_code == 1 and "Not an Isso database" in result.stderr


def test_unknown_site_and_missing_file(rostra, db, tmp_path):
    result = rostra("import", "disqus", ARCHIVES / "disqus.xml", "--site", "nowhere")
    assert result.exit_code == 1 and "no site 'nowhere'" in result.stderr
    missing = rostra("import", "disqus", tmp_path / "missing.xml", "--site", "news")
    assert missing.exit_code == 2


def test_apply_policy_needs_score(rostra, db):
    make_site(db)
    result = rostra("import", "disqus", ARCHIVES / "disqus.xml", "--site", "news",
                    "--apply-policy")  # fmt: skip
    assert result.exit_code == 2 and "--apply-policy needs --score" in result.stderr


@pytest.fixture
def word_engine(monkeypatch):
    """The CLI's engine replaced by the test engine (the shipped model files may be absent)."""
    from tests.factories import WordEngine

    from rostra.cli import archive as archive_cli

    engine = WordEngine()
    monkeypatch.setattr(archive_cli, "_load_engine", lambda settings: engine)
    return engine


def test_import_with_score_then_rescore_since_a_date(rostra, db, word_engine):
    from rostra.storage.tables import signals

    make_site(db)
    imported = rostra("import", "disqus", ARCHIVES / "disqus.xml", "--site", "news", "--score")
    assert imported.exit_code == 0, imported.output
    assert "Scored: 12 comments; statuses changed: 0" in imported.stderr
    result = rostra("rescore", "--site", "news", "--since", "2024-06-10", "--batch", "2")
    assert result.exit_code == 0, result.output
    assert "Scored 3 comments" in result.stderr
    assert _count(db, signals) == 15


def test_rescore_refuses_a_bad_date(rostra, db, word_engine):
    make_site(db)
    result = rostra("rescore", "--site", "news", "--since", "last tuesday")
    assert result.exit_code == 2 and "--since" in result.stderr


def test_a_truncated_export_says_what_was_kept_and_a_rerun_completes(rostra, db, tmp_path):
    make_site(db)
    data = (ARCHIVES / "disqus.xml").read_bytes()
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(data[: data.index(b'<post dsq:id="5009">') + 40])
    result = rostra("import", "disqus", truncated, "--site", "news", "--batch", "2")
    assert result.exit_code == 1
    assert "not well-formed XML" in result.stderr
    assert "8 comments were imported before it" in result.stderr
    again = rostra("import", "disqus", ARCHIVES / "disqus.xml", "--site", "news")
    assert "Comments: 5 created, 8 already there" in again.stderr
