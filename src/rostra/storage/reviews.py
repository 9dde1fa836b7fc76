"""ReviewStore: the engine's signals, reader reports, the moderation log and the review queues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update

from rostra.domain.comments import CommentStatus
from rostra.domain.labels import LABELS, SPAM
from rostra.domain.moderation import ModerationResult
from rostra.storage._keyset import after, decode_cursor, encode_cursor, order
from rostra.storage._upsert import insert_ignore
from rostra.storage.tables import (
    authors,
    comments,
    moderation_log,
    reports,
    signals,
    stories,
    users,
)


class Queue(StrEnum):
    """The review queues; each is a filter over ``comments`` of one site."""

    PENDING = "pending"  # held by the engine, word lists or premoderation
    REPORTED = "reported"  # unresolved reader reports, whatever the status
    UNMODERATED = "unmoderated"  # published by the engine, never looked at by a moderator
    REJECTED = "rejected"  # rejected or spam
    APPROVED = "approved"  # published after a moderator looked
    ALL = "all"


class QueueSort(StrEnum):
    SEVERITY = "severity"  # most dangerous first
    OLDEST = "oldest"  # waiting longest first
    NEWEST = "newest"


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Which comments of a queue to list. ``min_score``/``max_score`` bound the comment's
    severity (its highest score) or, with a model ``label`` or spam, that label's score in the
    current signal (a word-list label has no score of its own: severity again)."""

    queue: Queue = Queue.PENDING
    story_id: int | None = None
    author_id: int | None = None
    label: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    site_id: int | None
    comment_id: int | None
    author_id: int | None
    user_id: int | None
    username: str | None
    actor: str
    action: str
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime


def _queue_condition(queue: Queue) -> Any:
    c = comments.c
    if queue is Queue.PENDING:
        return c.status == CommentStatus.PENDING.value
    if queue is Queue.REPORTED:
        return (c.report_count > 0) & (c.status != CommentStatus.DELETED.value)
    if queue is Queue.UNMODERATED:
        return (c.status == CommentStatus.PUBLISHED.value) & (c.reviewed.is_(False))
    if queue is Queue.REJECTED:
        return c.status.in_([CommentStatus.REJECTED.value, CommentStatus.SPAM.value])
    if queue is Queue.APPROVED:
        return (c.status == CommentStatus.PUBLISHED.value) & (c.reviewed.is_(True))
    return c.status != CommentStatus.DELETED.value


def _score_of(label: str | None) -> Any:
    """The score a score range bounds: the label's in the comment's current (newest,
    non-shadow) signal when it is a model label or spam, else the comment's severity."""
    if label in LABELS:
        value = signals.c.scores[label].as_float()
    elif label == SPAM:
        value = signals.c.spam[SPAM].as_float()
    else:
        return comments.c.severity
    current = (
        select(value)
        .where(signals.c.comment_id == comments.c.id, signals.c.shadow.is_(False))
        .order_by(signals.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(current, 0.0)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SORTS: dict[QueueSort, list[tuple[Any, str]]] = {
    QueueSort.SEVERITY: [(comments.c.severity, "desc"), (comments.c.id, "desc")],
    QueueSort.OLDEST: [(comments.c.created_at, "asc"), (comments.c.id, "asc")],
    QueueSort.NEWEST: [(comments.c.created_at, "desc"), (comments.c.id, "desc")],
}


# Built once: values go in as parameters (building the statement costs ~4x executing it).
_INSERT_SIGNAL = insert(signals)



def queue_row_select() -> Select[Any]:
    """A comment with the author and story columns that a queue row (or card) shows."""
    return (
        select(
            comments,
            authors.c.name.label("author_name"),
            authors.c.kind.label("author_kind"),
            authors.c.comment_count.label("author_comment_count"),
            authors.c.approved_count.label("author_approved_count"),
            authors.c.rejected_count.label("author_rejected_count"),
            authors.c.report_count.label("author_report_count"),
            authors.c.banned_until.label("author_banned_until"),
            authors.c.created_at.label("author_created_at"),
            stories.c.title.label("story_title"),
            stories.c.url.label("story_url"),
        )
        .outerjoin(authors, authors.c.id == comments.c.author_id)
        .join(stories, stories.c.id == comments.c.story_id)
    )

class ReviewStore:
    # -- signals -------------------------------------------------------------------------
    @staticmethod
    def add_signal(
        conn: Connection,
        comment_id: int,
        result: ModerationResult,
        *,
        model_version: str,
        now: datetime,
        shadow: bool = False,
    ) -> None:
        conn.execute(_INSERT_SIGNAL, {
            "comment_id": comment_id,
            "tier": result.tier,
            "model_version": model_version[:64],
            "scores": {k: round(v, 4) for k, v in result.scores.items()},
            "spam": {k: round(v, 4) for k, v in result.spam.items()},
            "reasons": [r.to_dict() for r in result.reasons],
            "decision": result.decision.value,
            "shadow": shadow,
            "created_at": now,
        })

    @staticmethod
    def signals(conn: Connection, comment_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """Every signal of each comment, newest first (the first is the current one)."""
        found: dict[int, list[dict[str, Any]]] = {i: [] for i in comment_ids}
        if not comment_ids:
            return found
        rows = conn.execute(
            select(signals)
            .where(signals.c.comment_id.in_(comment_ids))
            .order_by(signals.c.comment_id, signals.c.id.desc())
        )
        for r in rows:
            found[r.comment_id].append(
                {
                    "tier": r.tier,
                    "model_version": r.model_version,
                    "scores": r.scores,
                    "spam": r.spam,
                    "reasons": r.reasons,
                    "decision": r.decision,
                    "shadow": r.shadow,
                    "created_at": r.created_at,
                }
            )
        return found

    # -- reports -------------------------------------------------------------------------
    @staticmethod
    def add_report(
        conn: Connection,
        *,
        site_id: int,
        comment_id: int,
        author_id: int,
        reason: str,
        note: str | None,
        now: datetime,
    ) -> bool:
        """Record a reader's report; False when this reader already reported this comment."""
        return insert_ignore(
            conn,
            reports,
            {
                "site_id": site_id,
                "comment_id": comment_id,
                "author_id": author_id,
                "reason": reason,
                "note": note,
                "created_at": now,
            },
            ("comment_id", "author_id"),
        )

    @staticmethod
    def resolve_reports(conn: Connection, comment_id: int, *, now: datetime) -> int:
        return int(
            conn.execute(
                update(reports)
                .where(reports.c.comment_id == comment_id, reports.c.resolved_at.is_(None))
                .values(resolved_at=now)
            ).rowcount
        )

    @staticmethod
    def reports(conn: Connection, comment_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """Unresolved reports of each comment, oldest first."""
        found: dict[int, list[dict[str, Any]]] = {i: [] for i in comment_ids}
        if not comment_ids:
            return found
        rows = conn.execute(
            select(reports)
            .where(reports.c.comment_id.in_(comment_ids), reports.c.resolved_at.is_(None))
            .order_by(reports.c.id)
        )
        for r in rows:
            found[r.comment_id].append(
                {"reason": r.reason, "note": r.note, "author_id": r.author_id,
                 "created_at": r.created_at}
            )
        return found

    # -- moderation log ------------------------------------------------------------------
    @staticmethod
    def log(
        conn: Connection,
        *,
        site_id: int | None,
        action: str,
        actor: str,
        now: datetime,
        comment_id: int | None = None,
        author_id: int | None = None,
        user_id: int | None = None,
        reason: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            insert(moderation_log).values(
                site_id=site_id,
                comment_id=comment_id,
                author_id=author_id,
                user_id=user_id,
                actor=actor,
                action=action,
                reason=reason,
                before=before,
                after=after,
                created_at=now,
            )
        )

    @staticmethod
    def log_entries(
        conn: Connection,
        site_id: int,
        *,
        comment_id: int | None = None,
        author_id: int | None = None,
        user_id: int | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[LogEntry]:
        """Newest first; ``before_id`` continues a previous page. ``since`` (inclusive) and
        ``until`` (exclusive) bound the entries' time."""
        m = moderation_log.c
        query = (
            select(moderation_log, users.c.username)
            .outerjoin(users, users.c.id == m.user_id)
            .where(m.site_id == site_id)
            .order_by(m.id.desc())
            .limit(limit)
        )
        for column, value in (
            (m.comment_id, comment_id),
            (m.author_id, author_id),
            (m.user_id, user_id),
            (m.action, action),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(m.created_at >= since)
        if until is not None:
            query = query.where(m.created_at < until)
        if before_id is not None:
            query = query.where(m.id < before_id)
        return [
            LogEntry(
                id=r.id,
                site_id=r.site_id,
                comment_id=r.comment_id,
                author_id=r.author_id,
                user_id=r.user_id,
                username=r.username,
                actor=r.actor,
                action=r.action,
                reason=r.reason,
                before=r.before,
                after=r.after,
                created_at=r.created_at,
            )
            for r in conn.execute(query)
        ]

    # -- queues --------------------------------------------------------------------------
    @staticmethod
    def _filtered(site_id: int, flt: QueueFilter) -> Select[Any]:
        c = comments.c
        query = (
            queue_row_select()
            .where(c.site_id == site_id, _queue_condition(flt.queue))
        )
        if flt.story_id is not None:
            query = query.where(c.story_id == flt.story_id)
        if flt.author_id is not None:
            query = query.where(c.author_id == flt.author_id)
        if flt.label:
            query = query.where(c.flagged_labels.like(f"% {_escape_like(flt.label)} %", "\\"))
        if flt.min_score is not None or flt.max_score is not None:
            score = _score_of(flt.label)
            if flt.min_score is not None:
                query = query.where(score >= flt.min_score)
            if flt.max_score is not None:
                query = query.where(score <= flt.max_score)
        if flt.text:
            pattern = f"%{_escape_like(flt.text.lower())}%"
            query = query.where(func.lower(c.body).like(pattern, "\\"))
        return query

    @staticmethod
    def queue(
        conn: Connection,
        site_id: int,
        flt: QueueFilter,
        *,
        sort: QueueSort = QueueSort.SEVERITY,
        cursor: str | None = None,
        limit: int = 25,
    ) -> tuple[list[Any], str | None]:
        """One page of a queue and the cursor of the next page (None at the end)."""
        columns = _SORTS[sort]
        query = ReviewStore._filtered(site_id, flt).order_by(*order(columns)).limit(limit + 1)
        if cursor:
            query = query.where(after(columns, decode_cursor(cursor, f"q:{sort}", len(columns))))
        rows = list(conn.execute(query))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor(f"q:{sort}", [getattr(last, c.key) for c, _ in columns])
        return rows, next_cursor

    @staticmethod
    def queue_counts(conn: Connection, site_id: int) -> dict[str, int]:
        counts = {}
        for queue in (Queue.PENDING, Queue.REPORTED, Queue.UNMODERATED, Queue.REJECTED,
                      Queue.APPROVED):
            counts[queue.value] = conn.execute(
                select(func.count())
                .select_from(comments)
                .where(comments.c.site_id == site_id, _queue_condition(queue))
            ).scalar_one()
        return counts
