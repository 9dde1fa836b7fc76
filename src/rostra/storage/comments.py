"""CommentStore: one comment at a time — insert, read, change state, and keep the counts right.

Every change of a comment's status goes through :meth:`CommentStore.transition`, the one place
that moves the stored counters (story totals, parent reply counts, author tallies). Counters
change with ``SET n = n + :delta`` in the same transaction, never read-modify-write, so
concurrent writers on PostgreSQL cannot lose an update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, Row, bindparam, insert, select, update

from rostra.domain.comments import CommentStatus
from rostra.domain.errors import CommentNotFound, Conflict
from rostra.domain.moderation import Decision
from rostra.storage.tables import authors, comment_edits, comments, stories

_PUBLISHED = CommentStatus.PUBLISHED
_REJECTED = (CommentStatus.REJECTED, CommentStatus.SPAM)


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    site_id: int
    story_id: int
    parent_id: int | None
    root_id: int | None
    depth: int
    author_id: int | None
    body: str
    html: str
    status: CommentStatus
    featured: bool
    decision: Decision | None
    severity: float
    flagged_labels: tuple[str, ...]
    reviewed: bool
    version: int
    reply_count: int
    reaction_count: int
    report_count: int
    created_at: datetime
    edited_at: datetime | None
    source: str = "rostra"

    def state(self) -> dict[str, Any]:
        """What a moderation-log entry records as before/after, and a 409 shows as current."""
        return {
            "status": self.status.value,
            "featured": self.featured,
            "reviewed": self.reviewed,
            "version": self.version,
        }


def encode_labels(labels: set[str] | tuple[str, ...] | list[str]) -> str:
    """``" insult threat "``: spaces around every label so ``LIKE '% insult %'`` matches one."""
    ordered = sorted(set(labels))
    return f" {' '.join(ordered)} " if ordered else ""


def _to_comment(row: Row[Any]) -> Comment:
    return Comment(
        id=row.id,
        site_id=row.site_id,
        story_id=row.story_id,
        parent_id=row.parent_id,
        root_id=row.root_id,
        depth=row.depth,
        author_id=row.author_id,
        body=row.body,
        html=row.html,
        status=CommentStatus(row.status),
        featured=row.featured,
        decision=Decision(row.decision) if row.decision else None,
        severity=row.severity,
        flagged_labels=tuple(row.flagged_labels.split()),
        reviewed=row.reviewed,
        version=row.version,
        reply_count=row.reply_count,
        reaction_count=row.reaction_count,
        report_count=row.report_count,
        created_at=row.created_at,
        edited_at=row.edited_at,
        source=row.source,
    )


def _tally(status: CommentStatus) -> tuple[int, int]:
    """(published, rejected) contribution of one comment in ``status``."""
    return (1 if status is _PUBLISHED else 0, 1 if status in _REJECTED else 0)


# Built once: values go in as parameters (building a statement costs ~4x executing it).
# The insert hands back the whole stored row, so a new comment is never read back.
_INSERT_COMMENT = insert(comments).returning(*comments.c)
_GET = select(comments).where(comments.c.id == bindparam("b_id"))
_GET_ON_SITE = _GET.where(comments.c.site_id == bindparam("b_site"))
_N = bindparam("b_n", type_=Integer)
_COUNT_STORY_TOP = (
    update(stories)
    .where(stories.c.id == bindparam("b_story"))
    .values(comment_count=stories.c.comment_count + _N,
            top_level_count=stories.c.top_level_count + _N)
)
_COUNT_STORY_REPLY = (
    update(stories)
    .where(stories.c.id == bindparam("b_story"))
    .values(comment_count=stories.c.comment_count + _N)
)
_COUNT_PARENT_REPLY = (
    update(comments)
    .where(comments.c.id == bindparam("b_parent"))
    .values(reply_count=comments.c.reply_count + _N)
)
_PUB = bindparam("b_pub", type_=Integer)
_REJ = bindparam("b_rej", type_=Integer)
_COUNT_AUTHOR = (
    update(authors)
    .where(authors.c.id == bindparam("b_author"))
    .values(approved_count=authors.c.approved_count + _PUB,
            rejected_count=authors.c.rejected_count + _REJ)
)
# A new comment moves all of its author's tallies in one statement.
_COUNT_AUTHOR_COMMENT = (
    update(authors)
    .where(authors.c.id == bindparam("b_author"))
    .values(comment_count=authors.c.comment_count + 1, last_seen_at=bindparam("b_now"),
            approved_count=authors.c.approved_count + _PUB,
            rejected_count=authors.c.rejected_count + _REJ)
)


class CommentStore:
    @staticmethod
    def get(conn: Connection, comment_id: int, *, site_id: int | None = None) -> Comment:
        if site_id is None:
            row = conn.execute(_GET, {"b_id": comment_id}).first()
        else:
            row = conn.execute(_GET_ON_SITE, {"b_id": comment_id, "b_site": site_id}).first()
        if row is None:
            raise CommentNotFound(f"No comment {comment_id} on this site")
        return _to_comment(row)

    @staticmethod
    def get_many(conn: Connection, ids: list[int]) -> dict[int, Comment]:
        if not ids:
            return {}
        rows = conn.execute(select(comments).where(comments.c.id.in_(ids)))
        return {row.id: _to_comment(row) for row in rows}

    @staticmethod
    def add(
        conn: Connection,
        *,
        site_id: int,
        story_id: int,
        parent: Comment | None,
        author_id: int | None,
        body: str,
        html: str,
        status: CommentStatus,
        decision: Decision | None,
        severity: float,
        flagged_labels: tuple[str, ...] | list[str] | set[str],
        now: datetime,
        ip: str | None = None,
        source: str = "rostra",
        external_id: str | None = None,
    ) -> Comment:
        """Insert a comment and count it; returns the stored comment."""
        root_id = None if parent is None else (parent.root_id or parent.id)
        result = conn.execute(_INSERT_COMMENT, {
            "site_id": site_id,
            "story_id": story_id,
            "parent_id": None if parent is None else parent.id,
            "root_id": root_id,
            "depth": 0 if parent is None else parent.depth + 1,
            "author_id": author_id,
            "body": body,
            "html": html,
            "status": status.value,
            "featured": False,
            "decision": None if decision is None else decision.value,
            "severity": severity,
            "flagged_labels": encode_labels(flagged_labels),
            "reviewed": False,
            "version": 1,
            "reply_count": 0,
            "reaction_count": 0,
            "report_count": 0,
            "ip": ip,
            "source": source,
            "external_id": external_id,
            "created_at": now,
        })
        comment = _to_comment(result.one())
        published, rejected = _tally(status)
        if author_id is not None:
            conn.execute(_COUNT_AUTHOR_COMMENT, {"b_author": author_id, "b_now": now,
                                                 "b_pub": published, "b_rej": rejected})
        CommentStore._count_thread(conn, comment, published)
        return comment

    @staticmethod
    def _count_thread(conn: Connection, comment: Comment, published: int) -> None:
        """Move the story's totals and the parent's reply count by ``published``."""
        if not published:
            return
        if comment.parent_id is None:
            conn.execute(_COUNT_STORY_TOP, {"b_story": comment.story_id, "b_n": published})
        else:
            conn.execute(_COUNT_STORY_REPLY, {"b_story": comment.story_id, "b_n": published})
            conn.execute(_COUNT_PARENT_REPLY, {"b_parent": comment.parent_id, "b_n": published})

    @staticmethod
    def _count(conn: Connection, comment: Comment, published: int, rejected: int) -> None:
        """Move the stored counters by the given deltas for ``comment``."""
        CommentStore._count_thread(conn, comment, published)
        if comment.author_id is not None and (published or rejected):
            conn.execute(_COUNT_AUTHOR, {"b_author": comment.author_id, "b_pub": published,
                                         "b_rej": rejected})

    @staticmethod
    def transition(
        conn: Connection,
        comment: Comment,
        *,
        expected_version: int,
        status: CommentStatus | None = None,
        featured: bool | None = None,
        reviewed: bool | None = None,
        resolve_reports: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> Comment:
        """Change state if the stored version is ``expected_version``; else raise Conflict.

        The conditional UPDATE is atomic on both databases: of two moderators deciding the
        same version, exactly one matches a row; the other gets Conflict with the current state.
        """
        if comment.version != expected_version:
            raise Conflict(
                "This comment was changed by someone else; reload and decide again",
                current=comment.state(),
            )
        values: dict[str, Any] = {"version": comments.c.version + 1, **(extra or {})}
        if status is not None:
            values["status"] = status.value
        if featured is not None:
            values["featured"] = featured
        if reviewed is not None:
            values["reviewed"] = reviewed
        if resolve_reports:
            values["report_count"] = 0
        result = conn.execute(
            update(comments)
            .where(comments.c.id == comment.id, comments.c.version == expected_version)
            .values(**values)
        )
        if result.rowcount != 1:
            current = CommentStore.get(conn, comment.id)
            raise Conflict(
                "This comment was changed by someone else; reload and decide again",
                current=current.state(),
            )
        # The row was at ``expected_version``, i.e. exactly ``comment``: count from its status.
        updated = CommentStore.get(conn, comment.id)
        pub_before, rej_before = _tally(comment.status)
        pub_after, rej_after = _tally(updated.status)
        CommentStore._count(conn, updated, pub_after - pub_before, rej_after - rej_before)
        return updated

    @staticmethod
    def replace_body(
        conn: Connection,
        comment: Comment,
        *,
        body: str,
        html: str,
        status: CommentStatus,
        decision: Decision,
        severity: float,
        flagged_labels: tuple[str, ...] | list[str] | set[str],
        now: datetime,
    ) -> Comment:
        """An author's edit: keep the old text in ``comment_edits``, store the new one."""
        conn.execute(
            insert(comment_edits).values(
                comment_id=comment.id, body=comment.body, html=comment.html, edited_at=now
            )
        )
        return CommentStore.transition(
            conn,
            comment,
            expected_version=comment.version,
            status=status,
            reviewed=False if status is not comment.status else None,
            extra={
                "body": body,
                "html": html,
                "decision": decision.value,
                "severity": severity,
                "flagged_labels": encode_labels(flagged_labels),
                "edited_at": now,
            },
        )

    @staticmethod
    def edits(conn: Connection, comment_id: int) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(comment_edits.c.body, comment_edits.c.html, comment_edits.c.edited_at)
            .where(comment_edits.c.comment_id == comment_id)
            .order_by(comment_edits.c.id)
        )
        return [{"body": r.body, "html": r.html, "edited_at": r.edited_at} for r in rows]

    @staticmethod
    def add_reaction_count(conn: Connection, comment_id: int, delta: int) -> None:
        conn.execute(
            update(comments)
            .where(comments.c.id == comment_id)
            .values(reaction_count=comments.c.reaction_count + delta)
        )

    @staticmethod
    def add_report_count(conn: Connection, comment_id: int, delta: int) -> None:
        conn.execute(
            update(comments)
            .where(comments.c.id == comment_id)
            .values(report_count=comments.c.report_count + delta)
        )
