"""AuthorStore: reading commenters, their tallies, bans and history.

Authors are created by ``rostra.storage.identities`` (SSO, guests); this store reads them and
records bans. Tallies (``comment_count``, ``approved_count`` ...) are moved by the comment store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update

from rostra.domain.errors import AuthorNotFound
from rostra.domain.moderation import AuthorContext
from rostra.storage.tables import authors, bans, comments

#: How many of an author's last-hour texts the engine sees (near-duplicate and flood checks).
RECENT_TEXTS = 20

#: ``banned_until`` of a permanent ban (``bans.until`` is NULL for those).
PERMANENT = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Author:
    id: int
    site_id: int
    kind: str
    external_id: str | None
    name: str
    email: str | None
    created_at: datetime
    last_seen_at: datetime | None
    banned_until: datetime | None
    comment_count: int
    approved_count: int
    rejected_count: int
    report_count: int

    def is_banned(self, now: datetime) -> bool:
        return self.banned_until is not None and self.banned_until > now


@dataclass(frozen=True, slots=True)
class Ban:
    id: int
    author_id: int
    user_id: int | None
    reason: str | None
    created_at: datetime
    until: datetime | None  # None: permanent
    lifted_at: datetime | None
    lifted_by: int | None

    def is_active(self, now: datetime) -> bool:
        return self.lifted_at is None and (self.until is None or self.until > now)


@dataclass(frozen=True, slots=True)
class BanHistory:
    """How often an author was banned, and the newest ban (the current one, if any is)."""

    count: int
    latest: Ban


def _ban(r: Any) -> Ban:
    return Ban(id=r.id, author_id=r.author_id, user_id=r.user_id, reason=r.reason,
               created_at=r.created_at, until=r.until, lifted_at=r.lifted_at,
               lifted_by=r.lifted_by)


def _to_author(row: Row[Any]) -> Author:
    return Author(
        id=row.id,
        site_id=row.site_id,
        kind=row.kind,
        external_id=row.external_id,
        name=row.name,
        email=row.email,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        banned_until=row.banned_until,
        comment_count=row.comment_count,
        approved_count=row.approved_count,
        rejected_count=row.rejected_count,
        report_count=row.report_count,
    )


# Built once: values go in as parameters (building a statement costs ~4x executing it).
_GET = select(authors).where(authors.c.id == bindparam("b_id"))
_GET_ON_SITE = _GET.where(authors.c.site_id == bindparam("b_site"))


class AuthorStore:
    @staticmethod
    def get(conn: Connection, author_id: int, *, site_id: int | None = None) -> Author:
        if site_id is None:
            row = conn.execute(_GET, {"b_id": author_id}).first()
        else:
            row = conn.execute(_GET_ON_SITE, {"b_id": author_id, "b_site": site_id}).first()
        if row is None:
            raise AuthorNotFound(f"No author {author_id} on this site")
        return _to_author(row)

    @staticmethod
    def context(conn: Connection, author: Author, *, now: datetime) -> AuthorContext:
        """What the moderation engine may know: last-hour texts (newest first), pace, approvals."""
        since = now - timedelta(hours=1)
        recent = conn.execute(
            select(comments.c.body)
            .where(comments.c.author_id == author.id, comments.c.created_at >= since)
            .order_by(comments.c.created_at.desc())
            .limit(RECENT_TEXTS)
        ).scalars().all()
        last_hour = conn.execute(
            select(func.count())
            .select_from(comments)
            .where(comments.c.author_id == author.id, comments.c.created_at >= since)
        ).scalar_one()
        return AuthorContext(
            recent_texts=tuple(recent),
            comments_last_hour=int(last_hour),
            approved_count=author.approved_count,
        )

    @staticmethod
    def add_report_count(conn: Connection, author_id: int, delta: int) -> None:
        conn.execute(
            update(authors)
            .where(authors.c.id == author_id)
            .values(report_count=authors.c.report_count + delta)
        )

    @staticmethod
    def ban(
        conn: Connection,
        author: Author,
        *,
        until: datetime | None,
        reason: str | None,
        user_id: int | None,
        now: datetime,
    ) -> Ban:
        """Ban ``author`` until ``until`` (None: for good); a newer ban replaces older ones."""
        conn.execute(
            update(bans)
            .where(bans.c.author_id == author.id, bans.c.lifted_at.is_(None))
            .values(lifted_at=now, lifted_by=user_id)
        )
        result = conn.execute(
            insert(bans).values(
                site_id=author.site_id,
                author_id=author.id,
                user_id=user_id,
                reason=reason,
                created_at=now,
                until=until,
            ).returning(bans.c.id)
        )
        conn.execute(
            update(authors)
            .where(authors.c.id == author.id)
            .values(banned_until=PERMANENT if until is None else until)
        )
        ban_id = int(result.scalar_one())
        return AuthorStore.bans(conn, author.id, ban_id=ban_id)[0]

    @staticmethod
    def lift_ban(conn: Connection, author: Author, *, user_id: int | None, now: datetime) -> int:
        """Lift every active ban; returns how many there were."""
        lifted = conn.execute(
            update(bans)
            .where(bans.c.author_id == author.id, bans.c.lifted_at.is_(None))
            .values(lifted_at=now, lifted_by=user_id)
        ).rowcount
        conn.execute(update(authors).where(authors.c.id == author.id).values(banned_until=None))
        return int(lifted)

    @staticmethod
    def bans(conn: Connection, author_id: int, *, ban_id: int | None = None) -> list[Ban]:
        query = select(bans).where(bans.c.author_id == author_id).order_by(bans.c.id.desc())
        if ban_id is not None:
            query = query.where(bans.c.id == ban_id)
        return [_ban(r) for r in conn.execute(query)]

    @staticmethod
    def ban_histories(conn: Connection, author_ids: list[int]) -> dict[int, BanHistory]:
        """The ban history of each author that has one (two queries for a page of cards)."""
        if not author_ids:
            return {}
        ids = sorted(set(author_ids))
        counted = (
            select(bans.c.author_id, func.count().label("n"), func.max(bans.c.id).label("last"))
            .where(bans.c.author_id.in_(ids))
            .group_by(bans.c.author_id)
            .subquery()
        )
        rows = conn.execute(select(bans, counted.c.n).join(counted, counted.c.last == bans.c.id))
        return {r.author_id: BanHistory(count=int(r.n), latest=_ban(r)) for r in rows}

    @staticmethod
    def comments(
        conn: Connection, author_id: int, *, before_id: int | None = None, limit: int = 50
    ) -> list[Row[Any]]:
        """The author's comments, newest first, every status (for moderators)."""
        query = (
            select(
                comments.c.id,
                comments.c.story_id,
                comments.c.parent_id,
                comments.c.body,
                comments.c.html,
                comments.c.status,
                comments.c.decision,
                comments.c.severity,
                comments.c.flagged_labels,
                comments.c.reviewed,
                comments.c.featured,
                comments.c.version,
                comments.c.report_count,
                comments.c.created_at,
                comments.c.edited_at,
            )
            .where(comments.c.author_id == author_id)
            .order_by(comments.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(comments.c.id < before_id)
        return list(conn.execute(query))
