"""NotificationStore: who wants which e-mail, and what the e-mails are about (replies, reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.orm import aliased

from rostra.domain.comments import CommentStatus
from rostra.domain.errors import AuthorNotFound
from rostra.domain.messages import ReportLine
from rostra.storage.tables import (
    authors,
    comments,
    reports,
    site_moderators,
    sites,
    stories,
    users,
)


@dataclass(frozen=True, slots=True)
class ReplyNotice:
    """A reply and the author it answers: everything a reply e-mail says."""

    reply_id: int
    reply_status: CommentStatus
    reply_body: str
    replier: str
    story_title: str
    story_url: str
    recipient_id: int
    recipient: str
    email: str | None
    wants_replies: bool  # opted in, and not forgotten since


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    email: str


class NotificationStore:
    @staticmethod
    def set_reply_notifications(conn: Connection, author_id: int, enabled: bool) -> None:
        changed = conn.execute(
            update(authors).where(authors.c.id == author_id).values(notify_replies=enabled)
        ).rowcount
        if not changed:
            raise AuthorNotFound(f"No author {author_id}")

    @staticmethod
    def wants_replies(conn: Connection, author_id: int) -> bool:
        value = conn.execute(
            select(authors.c.notify_replies).where(authors.c.id == author_id)
        ).scalar_one_or_none()
        if value is None:
            raise AuthorNotFound(f"No author {author_id}")
        return bool(value)

    @staticmethod
    def reply_notice(conn: Connection, reply_id: int) -> ReplyNotice | None:
        """The reply ``reply_id`` and its parent's author (None: not a reply, or either the
        parent or its author is gone)."""
        parent = aliased(comments)
        replier = aliased(authors)
        recipient = aliased(authors)
        row = conn.execute(
            select(
                comments.c.id,
                comments.c.status,
                comments.c.body,
                replier.c.name.label("replier"),
                stories.c.title,
                stories.c.url,
                recipient.c.id.label("recipient_id"),
                recipient.c.name.label("recipient"),
                recipient.c.email,
                recipient.c.notify_replies,
                recipient.c.forgotten_at,
            )
            .select_from(comments)
            .join(parent, parent.c.id == comments.c.parent_id)
            .join(recipient, recipient.c.id == parent.c.author_id)
            .join(stories, stories.c.id == comments.c.story_id)
            .outerjoin(replier, replier.c.id == comments.c.author_id)
            .where(comments.c.id == reply_id)
        ).first()
        if row is None:
            return None
        return ReplyNotice(
            reply_id=row.id,
            reply_status=CommentStatus(row.status),
            reply_body=row.body,
            replier=row.replier or "Someone",
            story_title=row.title,
            story_url=row.url,
            recipient_id=row.recipient_id,
            recipient=row.recipient,
            email=row.email,
            wants_replies=bool(row.notify_replies) and row.forgotten_at is None,
        )

    @staticmethod
    def parent_author_wants_replies(conn: Connection, parent_id: int) -> int | None:
        """The id of the author of ``parent_id`` if they opted in to replies and have an
        address; None otherwise."""
        row = conn.execute(
            select(authors.c.id)
            .select_from(comments)
            .join(authors, authors.c.id == comments.c.author_id)
            .where(
                comments.c.id == parent_id,
                authors.c.notify_replies.is_(True),
                authors.c.email.is_not(None),
                authors.c.forgotten_at.is_(None),
            )
        ).first()
        return None if row is None else int(row.id)

    @staticmethod
    def digest_recipients(conn: Connection, site_id: int) -> list[Recipient]:
        """The site's moderators who have an e-mail address and an enabled account."""
        rows = conn.execute(
            select(users.c.username, users.c.email)
            .join(site_moderators, site_moderators.c.user_id == users.c.id)
            .where(
                site_moderators.c.site_id == site_id,
                users.c.email.is_not(None),
                users.c.disabled.is_(False),
            )
            .order_by(users.c.id)
        )
        return [Recipient(name=r.username, email=r.email) for r in rows if r.email.strip()]

    @staticmethod
    def reports_between(
        conn: Connection, site_id: int, since: datetime | None, until: datetime
    ) -> list[ReportLine]:
        """Comments reported in (``since``, ``until``], still unresolved, most reported first."""
        window = [reports.c.site_id == site_id, reports.c.created_at <= until,
                  reports.c.resolved_at.is_(None)]
        if since is not None:
            window.append(reports.c.created_at > since)
        rows = conn.execute(
            select(
                comments.c.id,
                comments.c.body,
                stories.c.title,
                func.min(reports.c.reason).label("reason"),
                func.count().label("n"),
            )
            .select_from(reports)
            .join(comments, comments.c.id == reports.c.comment_id)
            .join(stories, stories.c.id == comments.c.story_id)
            .where(and_(*window))
            .group_by(comments.c.id, comments.c.body, stories.c.title)
            .order_by(func.count().desc(), comments.c.id)
            .limit(50)
        )
        return [
            ReportLine(comment_id=r.id, reason=r.reason, excerpt=r.body, story_title=r.title,
                       count=int(r.n))
            for r in rows
        ]

    @staticmethod
    def site_name(conn: Connection, site_id: int) -> tuple[str, str]:
        """(slug, name) of the site."""
        row = conn.execute(select(sites.c.slug, sites.c.name).where(sites.c.id == site_id)).one()
        return row.slug, row.name
