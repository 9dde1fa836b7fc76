"""Aggregate reads for the moderators' workspace: the dashboard's series and tables, the
stored signals a threshold preview re-decides, and small lists the pages offer as filters.

Read-only. Grouping by day happens in SQL (``date()`` on SQLite, a cast on PostgreSQL) so a
busy site's month is a few dozen rows, not every comment.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, Row, and_, case, cast, func, select

from rostra.domain.comments import CommentStatus
from rostra.domain.moderation import Decision
from rostra.storage.reviews import queue_row_select
from rostra.storage.tables import (
    authors,
    comments,
    moderation_log,
    reports,
    signals,
    stories,
    users,
)

#: Log actions that are a moderator's decision on a comment (for time to decision).
DECISION_ACTIONS = ("approve", "reject", "spam")


@dataclass(frozen=True, slots=True)
class DayCounts:
    day: date
    posted: int = 0
    published: int = 0
    held: int = 0  # still pending
    rejected: int = 0  # rejected or spam


@dataclass(frozen=True, slots=True)
class StoryActivity:
    story_id: int
    title: str
    url: str
    posted: int
    held: int


@dataclass(frozen=True, slots=True)
class ReportedAuthor:
    author_id: int
    name: str
    reports: int
    comments: int
    banned_until: datetime | None


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """The current (latest, non-shadow) signal of one comment, as the engine stored it."""

    comment_id: int
    scores: dict[str, float]
    spam: dict[str, float]
    reasons: list[dict[str, Any]]
    decision: str


def _day(conn: Connection, column: Any) -> Any:
    if conn.dialect.name == "sqlite":
        return func.date(column)
    return cast(column, Date)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _window(site_id: int, since: datetime, story_id: int | None) -> Any:
    condition = and_(comments.c.site_id == site_id, comments.c.created_at >= since,
                     comments.c.status != CommentStatus.DELETED.value)
    if story_id is not None:
        condition = and_(condition, comments.c.story_id == story_id)
    return condition


def daily_counts(
    conn: Connection, site_id: int, since: datetime, *, story_id: int | None = None
) -> list[DayCounts]:
    """Comments posted per day since ``since``, split by their status now."""
    day = _day(conn, comments.c.created_at).label("day")
    rows = conn.execute(
        select(day, comments.c.status, func.count().label("n"))
        .where(_window(site_id, since, story_id))
        .group_by(day, comments.c.status)
    )
    found: dict[date, dict[str, int]] = {}
    for row in rows:
        tally = found.setdefault(_as_date(row.day), {})
        tally[row.status] = tally.get(row.status, 0) + int(row.n)
    result = []
    for key in sorted(found):
        tally = found[key]
        result.append(DayCounts(
            day=key,
            posted=sum(tally.values()),
            published=tally.get(CommentStatus.PUBLISHED.value, 0),
            held=tally.get(CommentStatus.PENDING.value, 0),
            rejected=tally.get(CommentStatus.REJECTED.value, 0)
            + tally.get(CommentStatus.SPAM.value, 0),
        ))
    return result


def held_by_label(
    conn: Connection, site_id: int, since: datetime, *, story_id: int | None = None
) -> dict[date, dict[str, int]]:
    """{day posted: {label: comments the engine held for review with that label}} since
    ``since``, whatever moderators decided later. A comment held for two labels counts for
    each; premoderation holds (the engine saw nothing) and engine rejections count for none.

    Grouped by day and the stored label set, which has few distinct values, then split.
    """
    day = _day(conn, comments.c.created_at).label("day")
    rows = conn.execute(
        select(day, comments.c.flagged_labels, func.count().label("n"))
        .where(_window(site_id, since, story_id),
               comments.c.decision == Decision.REVIEW.value, comments.c.flagged_labels != "")
        .group_by(day, comments.c.flagged_labels)
    )
    found: dict[date, dict[str, int]] = {}
    for row in rows:
        tally = found.setdefault(_as_date(row.day), {})
        for label in row.flagged_labels.split():
            tally[label] = tally.get(label, 0) + int(row.n)
    return dict(sorted(found.items()))


def decision_delays(
    conn: Connection, site_id: int, since: datetime, *, story_id: int | None = None
) -> list[tuple[date, float]]:
    """(day posted, seconds until a moderator's first decision) for decided comments."""
    first = (
        select(moderation_log.c.comment_id, func.min(moderation_log.c.created_at).label("at"))
        .where(moderation_log.c.site_id == site_id,
               moderation_log.c.actor.in_(("moderator", "admin")),
               moderation_log.c.action.in_(DECISION_ACTIONS))
        .group_by(moderation_log.c.comment_id)
        .subquery()
    )
    rows = conn.execute(
        select(comments.c.created_at, first.c.at)
        .join(first, first.c.comment_id == comments.c.id)
        .where(_window(site_id, since, story_id))
    )
    delays = []
    for row in rows:
        decided = row.at
        if isinstance(decided, str):  # func.min() loses the column type on SQLite
            decided = datetime.fromisoformat(decided)
        if decided.tzinfo is None:
            decided = decided.replace(tzinfo=row.created_at.tzinfo)
        delays.append((row.created_at.date(), max(0.0, (decided - row.created_at).total_seconds())))
    return delays


def median_delay_by_day(delays: list[tuple[date, float]]) -> dict[date, float]:
    by_day: dict[date, list[float]] = {}
    for day, seconds in delays:
        by_day.setdefault(day, []).append(seconds)
    return {day: statistics.median(values) for day, values in sorted(by_day.items())}


def busiest_stories(
    conn: Connection, site_id: int, since: datetime, *, limit: int = 10
) -> list[StoryActivity]:
    held = func.sum(case((comments.c.status == CommentStatus.PENDING.value, 1), else_=0))
    rows = conn.execute(
        select(stories.c.id, stories.c.title, stories.c.url,
               func.count(comments.c.id).label("posted"), held.label("held"))
        .join(comments, comments.c.story_id == stories.c.id)
        .where(_window(site_id, since, None))
        .group_by(stories.c.id, stories.c.title, stories.c.url)
        .order_by(func.count(comments.c.id).desc(), stories.c.id)
        .limit(limit)
    )
    return [StoryActivity(story_id=r.id, title=r.title, url=r.url, posted=int(r.posted),
                          held=int(r.held or 0)) for r in rows]


def most_reported_authors(
    conn: Connection, site_id: int, since: datetime, *, limit: int = 10
) -> list[ReportedAuthor]:
    """Authors whose comments readers reported most since ``since``."""
    count = func.count(reports.c.id)
    rows = conn.execute(
        select(authors.c.id, authors.c.name, authors.c.comment_count, authors.c.banned_until,
               count.label("n"))
        .join(comments, comments.c.id == reports.c.comment_id)
        .join(authors, authors.c.id == comments.c.author_id)
        .where(reports.c.site_id == site_id, reports.c.created_at >= since)
        .group_by(authors.c.id, authors.c.name, authors.c.comment_count, authors.c.banned_until)
        .order_by(count.desc(), authors.c.id)
        .limit(limit)
    )
    return [ReportedAuthor(author_id=r.id, name=r.name, reports=int(r.n),
                           comments=int(r.comment_count), banned_until=r.banned_until)
            for r in rows]


def recent_signals(conn: Connection, site_id: int, limit: int) -> list[StoredSignal]:
    """The current signal of each of the site's last ``limit`` scored comments, newest first."""
    latest = (
        select(func.max(signals.c.id).label("id"))
        .join(comments, comments.c.id == signals.c.comment_id)
        .where(comments.c.site_id == site_id, signals.c.shadow.is_(False))
        .group_by(signals.c.comment_id)
        .order_by(signals.c.comment_id.desc())
        .limit(limit)
        .subquery()
    )
    rows = conn.execute(
        select(signals.c.comment_id, signals.c.scores, signals.c.spam, signals.c.reasons,
               signals.c.decision)
        .join(latest, latest.c.id == signals.c.id)
        .order_by(signals.c.comment_id.desc())
    )
    return [StoredSignal(comment_id=r.comment_id, scores=dict(r.scores or {}),
                         spam=dict(r.spam or {}), reasons=list(r.reasons or []),
                         decision=r.decision) for r in rows]


def recent_stories(conn: Connection, site_id: int, *, limit: int = 100) -> list[tuple[int, str]]:
    """(id, title) of the site's newest stories, for filter menus."""
    rows = conn.execute(
        select(stories.c.id, stories.c.title)
        .where(stories.c.site_id == site_id)
        .order_by(stories.c.id.desc())
        .limit(limit)
    )
    return [(r.id, r.title) for r in rows]


def log_actions(conn: Connection, site_id: int) -> list[str]:
    """The distinct actions in a site's log, for the audit page's filter."""
    rows = conn.execute(
        select(moderation_log.c.action).where(moderation_log.c.site_id == site_id)
        .group_by(moderation_log.c.action).order_by(moderation_log.c.action)
    )
    return [r.action for r in rows]


def card_row(conn: Connection, site_id: int, comment_id: int) -> Row[Any] | None:
    """One comment with the author and story columns a queue row has (any status)."""
    return conn.execute(
        queue_row_select()
        .where(comments.c.site_id == site_id, comments.c.id == comment_id)
    ).first()


def log_users(conn: Connection, site_id: int) -> list[tuple[int, str]]:
    """(id, username) of the staff who appear in a site's log, for the audit page's filter."""
    rows = conn.execute(
        select(users.c.id, users.c.username)
        .join(moderation_log, moderation_log.c.user_id == users.c.id)
        .where(moderation_log.c.site_id == site_id)
        .group_by(users.c.id, users.c.username).order_by(users.c.username)
    )
    return [(r.id, r.username) for r in rows]
