"""Reads behind exports (a whole site, streamed; one author, for a data-access request) and
the erasure behind ``rostra forget author``.

Export records are plain dicts keyed like docs/export.md; ``rostra.archive.rostra_jsonl``
writes them out. Ids are ours; the import maps them again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, or_, select, update

from rostra.domain.comments import CommentStatus
from rostra.domain.errors import AuthorNotFound
from rostra.storage.tables import (
    authors,
    bans,
    comment_edits,
    comments,
    examples,
    moderation_log,
    reactions,
    reports,
    signals,
    stories,
)

STREAM_ROWS = 1000
#: The name a forgotten author's comments are shown under.
FORGOTTEN_NAME = "Deleted user"

Record = tuple[str, dict[str, Any]]

_STORY_FIELDS = ("id", "url", "title", "closed", "premoderation", "close_after_days",
                 "comment_count", "top_level_count", "created_at")  # fmt: skip
_AUTHOR_FIELDS = ("id", "kind", "external_id", "name", "email", "created_at", "last_seen_at",
                  "banned_until", "comment_count", "approved_count", "rejected_count",
                  "report_count", "notify_replies", "forgotten_at")  # fmt: skip
_COMMENT_FIELDS = ("id", "story_id", "parent_id", "root_id", "depth", "author_id", "body",
                   "html", "status", "featured", "decision", "severity", "flagged_labels",
                   "reviewed", "version", "reply_count", "reaction_count", "report_count", "ip",
                   "source", "external_id", "created_at", "edited_at")  # fmt: skip


def _fields(row: Row[Any], names: tuple[str, ...]) -> dict[str, Any]:
    mapping = row._mapping
    return {name: mapping[name] for name in names}


def _comment_query() -> Any:
    parent = comments.alias("parent")
    return select(
        *(comments.c[name] for name in _COMMENT_FIELDS),
        parent.c.source.label("parent_source"),
        parent.c.external_id.label("parent_external_id"),
    ).select_from(comments.outerjoin(parent, parent.c.id == comments.c.parent_id))


def _with_edits(conn: Connection, rows: list[Row[Any]]) -> Iterator[Record]:
    edits: dict[int, list[dict[str, Any]]] = {}
    query = (
        select(comment_edits.c.comment_id, comment_edits.c.body, comment_edits.c.html,
               comment_edits.c.edited_at)
        .where(comment_edits.c.comment_id.in_([row.id for row in rows]))
        .order_by(comment_edits.c.comment_id, comment_edits.c.id)
    )  # fmt: skip
    for comment_id, body, html, edited_at in conn.execute(query):
        edits.setdefault(comment_id, []).append(
            {"body": body, "html": html, "edited_at": edited_at}
        )
    for row in rows:
        record = _fields(row, _COMMENT_FIELDS)
        record["parent_source"] = row.parent_source
        record["parent_external_id"] = row.parent_external_id
        record["edits"] = edits.get(row.id, [])
        yield ("comment", record)


def site_records(conn: Connection, site_id: int) -> Iterator[Record]:
    """Every story, author and comment of a site, streamed in id order.

    Run it inside one transaction so the export is a consistent snapshot.
    """
    streamed = conn.execution_options(yield_per=STREAM_ROWS)
    story_rows = streamed.execute(
        select(stories).where(stories.c.site_id == site_id).order_by(stories.c.id)
    )
    for row in story_rows:
        yield ("story", _fields(row, _STORY_FIELDS))
    author_rows = streamed.execute(
        select(authors).where(authors.c.site_id == site_id).order_by(authors.c.id)
    )
    for row in author_rows:
        yield ("author", _fields(row, _AUTHOR_FIELDS))
    comment_rows = streamed.execute(
        _comment_query().where(comments.c.site_id == site_id).order_by(comments.c.id)
    )
    for partition in comment_rows.partitions():
        yield from _with_edits(conn, list(partition))


def find_authors(conn: Connection, site_id: int, ref: str) -> list[int]:
    """Ids of the site's authors named by ``ref``: a numeric id or an email address."""
    ref = ref.strip()
    query = select(authors.c.id).where(authors.c.site_id == site_id).order_by(authors.c.id)
    if ref.isdigit():
        query = query.where(authors.c.id == int(ref))
    elif "@" in ref:
        query = query.where(authors.c.email == ref)
    else:
        raise AuthorNotFound(f"{ref!r} is neither an author id nor an email address")
    found = list(conn.execute(query).scalars())
    if not found:
        raise AuthorNotFound(f"no author {ref!r} on this site")
    return found


def author_records(conn: Connection, site_id: int, author_ids: list[int]) -> Iterator[Record]:
    """Everything stored about the given authors: profile, comments, the engine's signals on
    those comments, the site's learning examples made of them, reactions, reports, bans and
    moderation-log entries about them."""
    for row in conn.execute(
        select(authors).where(authors.c.site_id == site_id, authors.c.id.in_(author_ids))
    ):
        yield ("author", _fields(row, _AUTHOR_FIELDS))
    rows = conn.execution_options(yield_per=STREAM_ROWS).execute(
        _comment_query()
        .where(comments.c.site_id == site_id, comments.c.author_id.in_(author_ids))
        .order_by(comments.c.id)
    )
    for partition in rows.partitions():
        yield from _with_edits(conn, list(partition))
    theirs = select(comments.c.id).where(
        comments.c.site_id == site_id, comments.c.author_id.in_(author_ids)
    )
    for row in conn.execute(
        select(signals).where(signals.c.comment_id.in_(theirs)).order_by(signals.c.id)
    ):
        yield ("signal", dict(row._mapping))
    for row in conn.execute(
        select(examples)
        .where(
            examples.c.site_id == site_id,
            or_(examples.c.author_id.in_(author_ids), examples.c.comment_id.in_(theirs)),
        )
        .order_by(examples.c.id)
    ):
        yield ("example", dict(row._mapping))
    for row in conn.execute(
        select(reactions)
        .where(reactions.c.author_id.in_(author_ids))
        .order_by(reactions.c.comment_id)
    ):
        yield ("reaction", dict(row._mapping))
    for row in conn.execute(
        select(reports).where(reports.c.author_id.in_(author_ids)).order_by(reports.c.id)
    ):
        yield ("report", dict(row._mapping))
    for row in conn.execute(
        select(bans).where(bans.c.author_id.in_(author_ids)).order_by(bans.c.id)
    ):
        yield ("ban", dict(row._mapping))
    for row in conn.execute(
        select(moderation_log)
        .where(moderation_log.c.site_id == site_id, moderation_log.c.author_id.in_(author_ids))
        .order_by(moderation_log.c.id)
    ):
        yield ("moderation", dict(row._mapping))


def forget_author(
    conn: Connection, site_id: int, author_id: int, *, remove_comments: bool, now: datetime
) -> dict[str, Any]:
    """Erase an author's name, email, external id, the IPs of their comments and the notes
    of the reports they filed (the reports stay, with their reason).

    With ``remove_comments`` their comments become ``deleted`` with empty text and no edit
    history; otherwise they stay, shown under ``FORGOTTEN_NAME``. Returns what changed, for
    the audit log (counts only, never the erased values). Counters are the caller's to redo.
    """
    row = conn.execute(
        select(authors.c.id).where(authors.c.site_id == site_id, authors.c.id == author_id)
    ).first()
    if row is None:
        raise AuthorNotFound(f"no author {author_id} on this site")
    conn.execute(
        update(authors)
        .where(authors.c.id == author_id)
        .values(
            name=FORGOTTEN_NAME,
            email=None,
            external_id=None,
            notify_replies=False,
            forgotten_at=now,
        )
    )
    mine = (comments.c.site_id == site_id) & (comments.c.author_id == author_id)
    ids = list(conn.execute(select(comments.c.id).where(mine)).scalars())
    conn.execute(update(comments).where(mine).values(ip=None))
    notes = conn.execute(
        update(reports)
        .where(reports.c.site_id == site_id, reports.c.author_id == author_id,
               reports.c.note.is_not(None))
        .values(note=None)
    ).rowcount  # fmt: skip
    removed = 0
    if remove_comments and ids:
        for start in range(0, len(ids), STREAM_ROWS):
            chunk = ids[start : start + STREAM_ROWS]
            conn.execute(delete(comment_edits).where(comment_edits.c.comment_id.in_(chunk)))
            removed += conn.execute(
                update(comments)
                .where(comments.c.id.in_(chunk))
                .values(
                    status=CommentStatus.DELETED.value,
                    body="",
                    html="",
                    version=comments.c.version + 1,
                )
            ).rowcount
    story_ids = list(conn.execute(select(comments.c.story_id).where(mine).distinct()).scalars())
    return {"comments": len(ids), "removed": removed, "report_notes": notes,
            "story_ids": story_ids}
