"""Isso's SQLite database, read directly (read-only) without Isso's code.

Tables (isso/db/threads.py and comments.py): ``threads(id, uri, title)`` and
``comments(tid, id, parent, created, modified, mode, remote_addr, text, author, email,
website, likes, dislikes, voters, notification)``; ``created``/``modified`` are Unix
timestamps, ``mode`` is 1 valid, 2 pending, 4 deleted, and ``text`` is Markdown.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from rostra.archive.records import (
    ArchiveError,
    ArchiveRecord,
    ImportedComment,
    ImportedStory,
    Skipped,
    author_identity,
    oversized,
)
from rostra.domain.comments import CommentStatus
from rostra.domain.rendering import render_markdown

SOURCE = "isso"
STATUS_FOR_MODE: dict[int, CommentStatus] = {
    1: CommentStatus.PUBLISHED,
    2: CommentStatus.PENDING,
    4: CommentStatus.DELETED,
}
_REQUIRED = {
    "threads": {"id", "uri", "title"},
    "comments": {
        "tid",
        "id",
        "parent",
        "created",
        "modified",
        "mode",
        "remote_addr",
        "text",
        "author",
        "email",
    },
}


def open_isso(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to an Isso database; ``ArchiveError`` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"No such file: {path.name}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        for table, columns in _REQUIRED.items():
            if table not in tables:
                raise ArchiveError(f"Not an Isso database: {path.name} has no {table} table")
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if missing := columns - present:
                raise ArchiveError(
                    f"Not an Isso database: {table} lacks {', '.join(sorted(missing))}"
                )
    except sqlite3.DatabaseError as exc:
        raise ArchiveError(f"Not an SQLite database: {path.name} ({exc})") from exc
    except UnicodeDecodeError as exc:
        # SQLite's own message quotes the damaged bytes, which Python then cannot decode.
        raise ArchiveError(f"Not an SQLite database: {path.name} (damaged schema)") from exc
    conn.text_factory = bytes  # decode ourselves, so one bad row is skipped, not fatal
    return conn


def count_isso_records(path: str | Path) -> int:
    """Threads plus comments, for a progress bar."""
    conn = open_isso(path)
    try:
        threads = conn.execute("SELECT count(*) FROM threads").fetchone()[0]
        comments = conn.execute("SELECT count(*) FROM comments").fetchone()[0]
        return int(threads) + int(comments)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"The Isso database cannot be read: {_reason(exc)}") from exc
    finally:
        conn.close()


def read_isso(path: str | Path, *, base_url: str = "") -> Iterator[ArchiveRecord]:
    """Threads, then comments by id. Isso stores paths; ``base_url`` makes them full URLs."""
    conn = open_isso(path)
    try:
        yield from _threads(conn, base_url.rstrip("/"))
        yield from _comments(conn)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"The Isso database cannot be read: {_reason(exc)}") from exc
    finally:
        conn.close()


def _reason(exc: Exception) -> str:
    return "damaged data" if isinstance(exc, UnicodeDecodeError) else str(exc)


def _decode(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")  # UnicodeDecodeError: the caller skips the row
    return str(value)


def _timestamp(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _threads(conn: sqlite3.Connection, base_url: str) -> Iterator[ArchiveRecord]:
    rows = conn.execute(
        "SELECT t.id, t.uri, t.title, (SELECT min(created) FROM comments c WHERE c.tid = t.id)"
        " FROM threads t ORDER BY t.id"
    )
    for tid, raw_uri, raw_title, first_created in rows:
        where = f"thread id={tid}"
        try:
            uri = (_decode(raw_uri) or "").strip()
            title = (_decode(raw_title) or "").strip()
        except UnicodeDecodeError:
            yield Skipped("invalid UTF-8 in thread", where)
            continue
        if not uri:
            yield Skipped("thread without a uri", where)
            continue
        url = base_url + uri if base_url and uri.startswith("/") else uri
        if len(url) > 2048:
            yield Skipped("thread uri longer than 2048 characters", where)
            continue
        yield ImportedStory(
            external_id=str(tid),
            url=url,
            title=(title or url)[:500],
            created_at=_timestamp(first_created),
        )


def _comments(conn: sqlite3.Connection) -> Iterator[ArchiveRecord]:
    rows = conn.execute(
        "SELECT tid, id, parent, created, modified, mode, remote_addr, text, author, email"
        " FROM comments ORDER BY id"
    )
    for (
        tid,
        ident,
        parent,
        created,
        modified,
        mode,
        raw_ip,
        raw_text,
        raw_author,
        raw_email,
    ) in rows:
        where = f"comment id={ident}"
        if tid is None:
            yield Skipped("comment without a thread", where)
            continue
        status = STATUS_FOR_MODE.get(mode) if isinstance(mode, int) else None
        if status is None:
            yield Skipped(f"unknown mode {mode!r}", where)
            continue
        created_at = _timestamp(created)
        if created_at is None:
            yield Skipped("comment without a valid created time", where)
            continue
        try:
            text = _decode(raw_text) or ""
            author_name = _decode(raw_author)
            email = _decode(raw_email)
            ip = _decode(raw_ip)
        except UnicodeDecodeError:
            yield Skipped("invalid UTF-8 in comment", where)
            continue
        too_big = oversized(text)
        if too_big is not None:
            yield Skipped(too_big.reason, where)
            continue
        yield ImportedComment(
            external_id=str(ident),
            story_external_id=str(tid),
            parent_external_id=None if parent is None else str(parent),
            author=author_identity(SOURCE, name=author_name, email=email),
            body=text,
            html=render_markdown(text),
            status=status,
            created_at=created_at,
            source=SOURCE,
            edited_at=_timestamp(modified) if modified else None,
            ip=(ip or "").strip()[:64] or None,
        )
