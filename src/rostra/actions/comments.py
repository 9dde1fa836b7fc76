"""What readers do: post, edit and delete their comments, react, report.

Each action is one transaction. Scoring happens before the first write so that a slow model
never holds a write lock; the writes (story, comment, signals, counters, event, log) then
commit together or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Connection, Engine, delete

from rostra.actions import notifications
from rostra.actions.adaptation import record_shadow, site_scoring
from rostra.domain.comments import STATUS_FOR_DECISION, CommentStatus
from rostra.domain.errors import (
    AuthorBanned,
    CommentNotFound,
    EditWindowExpired,
    InvalidInput,
    NotAllowed,
    StoryClosed,
    Unauthenticated,
)
from rostra.domain.identity import Reader
from rostra.domain.moderation import AuthorContext, Decision, ModerationResult
from rostra.domain.rendering import render_markdown
from rostra.domain.sites import Premoderation, Site
from rostra.domain.text import refuse_unstorable
from rostra.moderation.policy import Policy
from rostra.storage._upsert import insert_ignore
from rostra.storage.authors import Author, AuthorStore
from rostra.storage.comments import Comment, CommentStore
from rostra.storage.database import transaction
from rostra.storage.events import EventKind, EventStore
from rostra.storage.identities import create_guest_author
from rostra.storage.reviews import ReviewStore
from rostra.storage.stories import Story, StoryStore
from rostra.storage.tables import reactions
from rostra.storage.writers import serialized_writes

REPORT_REASONS = ("abuse", "spam", "off_topic", "other")
_LINK = re.compile(r"https?://|www\.|\]\(", re.IGNORECASE)


class ModerationEngineLike(Protocol):
    """What actions need of ``rostra.moderation.engine.ModerationEngine``."""

    def moderate(
        self,
        texts: Sequence[str],
        *,
        policy: Policy,
        contexts: Sequence[AuthorContext],
        tier: str | None = None,
        explain: bool = True,
    ) -> list[ModerationResult]: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """The server settings actions obey (``rostra.config.Settings`` holds them)."""

    max_comment_chars: int = 10_000
    edit_window_seconds: int = 15 * 60
    max_reply_depth: int = 50
    tier: str | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    comment: Comment
    story: Story

    @property
    def public_status(self) -> str:
        """What the author is told: published, or held for review (never why)."""
        return author_view_status(self.comment.status)


def author_view_status(status: CommentStatus) -> str:
    if status is CommentStatus.PUBLISHED:
        return "published"
    if status is CommentStatus.DELETED:
        return "deleted"
    return "pending"


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- validation ---------------------------------------------------------------------------


def clean_text(value: str, field: str, *, max_chars: int, required: bool = True) -> str:
    """Stripped text, refusing what databases choke on (NUL, lone surrogates) and lengths."""
    value = value.strip()
    refuse_unstorable(value, field)
    if required and not value:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > max_chars:
        raise InvalidInput(
            f"{field} is longer than {max_chars} characters", field=field, max_chars=max_chars
        )
    return value


def canonical_url(url: str) -> str:
    """The story key: an absolute http(s) URL without its fragment."""
    url = clean_text(url, "url", max_chars=2048)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise InvalidInput("url must be an absolute http(s) URL", field="url")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/",
                       parts.query, ""))


def _policy(site: Site) -> Policy:
    return Policy.from_dict(site.policy)


def _labels(result: ModerationResult) -> set[str]:
    """The labels that drove the decision: thresholds crossed and word-list matches (a link's
    span reason alone does not flag a comment)."""
    return {r.label for r in result.reasons if r.source in ("policy", "wordlist")}


def _severity(result: ModerationResult) -> float:
    values = list(result.scores.values()) + [result.spam.get("spam", 0.0)]
    return round(max(values, default=0.0), 4)


def _premoderated(site: Site, story: Story | None, author: Author, body: str) -> bool:
    if story is not None and story.premoderation:
        return True
    mode = site.settings.premoderation
    if mode is Premoderation.ALL:
        return True
    if mode is Premoderation.NEW_AUTHORS:
        return author.approved_count < site.settings.premoderation_k
    if mode is Premoderation.LINKS:
        return bool(_LINK.search(body))
    return False


def status_for(
    decision: Decision, site: Site, story: Story | None, author: Author, body: str
) -> CommentStatus:
    """The engine's decision, then the site's and story's premoderation on top."""
    status = STATUS_FOR_DECISION[decision]
    if status is CommentStatus.PUBLISHED and _premoderated(site, story, author, body):
        return CommentStatus.PENDING
    return status


def posting_tier(site: Site, limits: Limits) -> str:
    """The engine tier a post on ``site`` is scored with: the site's choice, else the server's
    tier for live posting."""
    return str(site.policy.get("tier") or limits.tier)


def _score(
    engine: ModerationEngineLike, site: Site, body: str, context: AuthorContext, limits: Limits
) -> ModerationResult:
    tier = None if "tier" in site.policy else limits.tier
    return engine.moderate([body], policy=_policy(site), contexts=[context], tier=tier)[0]


def model_version(engine: ModerationEngineLike) -> str:
    return str(getattr(engine, "version", None) or getattr(engine, "model_version", "unknown"))


def _record(
    conn: Connection,
    engine: ModerationEngineLike,
    comment: Comment,
    result: ModerationResult,
    now: datetime,
) -> None:
    """Signals for moderators, and a log entry when the engine (not a person) held it."""
    ReviewStore.add_signal(conn, comment.id, result, model_version=model_version(engine), now=now)
    if comment.status is not CommentStatus.PUBLISHED:
        ReviewStore.log(
            conn,
            site_id=comment.site_id,
            comment_id=comment.id,
            author_id=comment.author_id,
            actor="system",
            action="hold" if comment.status is CommentStatus.PENDING else "reject",
            reason=", ".join(sorted(_labels(result))) or "premoderation",
            after=comment.state(),
            now=now,
        )


def announce_change(conn: Connection, before: CommentStatus | None, after: Comment,
              now: datetime) -> None:
    """Append the live-update event for a change of visibility (or of a visible text)."""
    was = before is CommentStatus.PUBLISHED
    now_visible = after.status is CommentStatus.PUBLISHED
    kind = None
    if now_visible and not was:
        kind = EventKind.PUBLISHED
    elif was and not now_visible:
        kind = EventKind.REMOVED
    if kind is not None:
        EventStore.append(
            conn, site_id=after.site_id, story_id=after.story_id, comment_id=after.id, kind=kind,
            now=now,
        )


def _author_for(conn: Connection, site: Site, author_id: int, now: datetime) -> Author:
    author = AuthorStore.get(conn, author_id, site_id=site.id)
    if author.is_banned(now):
        raise AuthorBanned()
    return author


# -- actions ------------------------------------------------------------------------------


def post_comment(
    db: Engine,
    engine: ModerationEngineLike,
    *,
    site: Site,
    author_id: int | None,
    body: str,
    guest: tuple[str, str | None] | None = None,
    url: str | None = None,
    title: str | None = None,
    story_id: int | None = None,
    parent_id: int | None = None,
    ip: str | None = None,
    limits: Limits = Limits(),
    now: datetime | None = None,
) -> Posted:
    """Post a comment or a reply on the story ``story_id`` or at ``url`` (created if new).

    ``author_id`` is the signed-in reader; without one, ``guest`` (name, email) creates a guest
    author when the site allows guests. Raises InvalidInput, Unauthenticated, StoryNotFound,
    StoryClosed, CommentNotFound (parent), AuthorBanned.
    """
    now = now or utcnow()
    body = clean_text(body, "body", max_chars=limits.max_comment_chars)
    if author_id is None:
        guest = _valid_guest(site, guest)
    html = render_markdown(body)  # here, not between the writes, which hold SQLite's lock
    # The transaction commits before serialized_writes lets this process's next writer in.
    with serialized_writes(db) as start_writing, transaction(db) as conn:
        # A guest's author row is written only after scoring: the first write takes SQLite's
        # write lock, which must not be held while the model runs.
        author = None if author_id is None else _author_for(conn, site, author_id, now)
        story: Story | None
        if story_id is not None:
            story = StoryStore.get(conn, story_id, site_id=site.id)
        else:
            if url is None:
                raise InvalidInput("name the story by story_id or url", field="url")
            url = canonical_url(url)
            title = clean_text(title or url, "title", max_chars=500)
            story = StoryStore.find(conn, site.id, url)
        if story is not None and not story.is_open(now, site.settings.close_after_days):
            raise StoryClosed()
        parent = None
        if parent_id is not None:
            if story is None:
                raise CommentNotFound("The comment you reply to is not on this story")
            parent = _parent(conn, story, parent_id, limits)
        # A new guest has no history: the context a fresh author row would give.
        context = AuthorContext() if author is None else AuthorStore.context(conn, author, now=now)
        result = _score(engine, site, body, context, limits)
        result, shadow = site_scoring(conn, site, body, result, engine)
        start_writing()  # the reads and the scoring are done; from here on, only writes
        if author is None:
            assert guest is not None
            author = AuthorStore.get(
                conn, create_guest_author(conn, site.id, guest[0], guest[1], now)
            )
        if story is None:
            assert url is not None and title is not None
            story = StoryStore.get_or_create(conn, site.id, url, title, now=now)
        comment = CommentStore.add(
            conn,
            site_id=site.id,
            story_id=story.id,
            parent=parent,
            author_id=author.id,
            body=body,
            html=html,
            status=status_for(result.decision, site, story, author, body),
            decision=result.decision,
            severity=_severity(result),
            flagged_labels=_labels(result),
            now=now,
            ip=ip,
        )
        _record(conn, engine, comment, result, now)
        record_shadow(conn, comment.id, shadow, now)
        announce_change(conn, None, comment, now)
        notifications.comment_created(conn, site, story, comment, now)
        return Posted(comment=comment, story=story)


def _valid_guest(site: Site, guest: tuple[str, str | None] | None) -> tuple[str, str | None]:
    if not site.settings.guests_allowed:
        raise Unauthenticated("Sign in to comment on this site")
    if guest is None:
        raise InvalidInput("Guests give a name", field="name")
    name = clean_text(guest[0], "name", max_chars=100)
    email = clean_text(guest[1] or "", "email", max_chars=320, required=False) or None
    if email is not None and ("@" not in email or any(c.isspace() for c in email)):
        raise InvalidInput("email is not an e-mail address", field="email")
    return name, email


def _parent(conn: Connection, story: Story, parent_id: int, limits: Limits) -> Comment:
    try:
        parent = CommentStore.get(conn, parent_id, site_id=story.site_id)
    except CommentNotFound:
        raise CommentNotFound("The comment you reply to does not exist") from None
    if parent.story_id != story.id:
        raise InvalidInput("The comment you reply to is on another story", field="parent_id")
    if parent.status is not CommentStatus.PUBLISHED:
        raise NotAllowed("The comment you reply to is not published")
    if parent.depth + 1 > limits.max_reply_depth:
        raise InvalidInput(
            f"Replies may nest at most {limits.max_reply_depth} levels deep", field="parent_id"
        )
    return parent


def _own(conn: Connection, site: Site, reader: Reader, comment_id: int) -> Comment:
    comment = CommentStore.get(conn, comment_id, site_id=site.id)
    if comment.author_id != reader.author_id:
        raise NotAllowed("This is not your comment")
    return comment


def edit_comment(
    db: Engine,
    engine: ModerationEngineLike,
    *,
    site: Site,
    reader: Reader,
    comment_id: int,
    body: str,
    limits: Limits = Limits(),
    now: datetime | None = None,
) -> Comment:
    """Change the text of one's own comment within the edit window; it is scored again."""
    now = now or utcnow()
    body = clean_text(body, "body", max_chars=limits.max_comment_chars)
    with transaction(db) as conn:
        comment = _own(conn, site, reader, comment_id)
        window = site.settings.edit_window_seconds or limits.edit_window_seconds
        if now - comment.created_at > timedelta(seconds=window):
            raise EditWindowExpired()
        if comment.status in (CommentStatus.DELETED, CommentStatus.SPAM) or (
            comment.status is CommentStatus.REJECTED and comment.reviewed
        ):
            raise EditWindowExpired("This comment can no longer be changed")
        author = _author_for(conn, site, reader.author_id, now)
        story = StoryStore.get(conn, comment.story_id)
        if not story.is_open(now, site.settings.close_after_days):
            raise StoryClosed()
        if body == comment.body:
            return comment
        result = _score(engine, site, body, AuthorStore.context(conn, author, now=now), limits)
        # The site's own model judges an edit as it judges a new comment.
        result, shadow = site_scoring(conn, site, body, result, engine)
        status = status_for(result.decision, site, story, author, body)
        if (
            status is CommentStatus.PUBLISHED
            and comment.status is CommentStatus.PENDING
            and (story.premoderation or comment.decision is not Decision.APPROVE)
        ):
            # Held comments stay held: an edit must not talk its way past a moderator.
            status = CommentStatus.PENDING
        updated = CommentStore.replace_body(
            conn,
            comment,
            body=body,
            html=render_markdown(body),
            status=status,
            decision=result.decision,
            severity=_severity(result),
            flagged_labels=_labels(result),
            now=now,
        )
        ReviewStore.add_signal(conn, updated.id, result, model_version=model_version(engine),
                               now=now)
        record_shadow(conn, updated.id, shadow, now)
        ReviewStore.log(
            conn, site_id=site.id, comment_id=comment.id, author_id=reader.author_id,
            actor="author", action="edit", before=comment.state(), after=updated.state(),
            now=now,
        )
        announce_change(conn, comment.status, updated, now)
        if comment.status is updated.status is CommentStatus.PUBLISHED:
            EventStore.append(conn, site_id=site.id, story_id=updated.story_id,
                              comment_id=updated.id, kind=EventKind.EDITED, now=now)
        return updated


def delete_own_comment(
    db: Engine, *, site: Site, reader: Reader, comment_id: int, now: datetime | None = None
) -> Comment:
    """The author withdraws a comment: status ``deleted``; its text is never shown again."""
    now = now or utcnow()
    with transaction(db) as conn:
        comment = _own(conn, site, reader, comment_id)
        if comment.status is CommentStatus.DELETED:
            return comment
        updated = CommentStore.transition(
            conn, comment, expected_version=comment.version, status=CommentStatus.DELETED,
            resolve_reports=True,
        )
        ReviewStore.resolve_reports(conn, comment.id, now=now)
        ReviewStore.log(
            conn, site_id=site.id, comment_id=comment.id, author_id=reader.author_id,
            actor="author", action="delete", before=comment.state(), after=updated.state(),
            now=now,
        )
        announce_change(conn, comment.status, updated, now)
        return updated


def _published(conn: Connection, site: Site, comment_id: int) -> Comment:
    comment = CommentStore.get(conn, comment_id, site_id=site.id)
    if comment.status is not CommentStatus.PUBLISHED:
        raise CommentNotFound(f"No comment {comment_id} on this site")
    return comment


def react(
    db: Engine, *, site: Site, reader: Reader, comment_id: int, now: datetime | None = None
) -> tuple[bool, int]:
    """Toggle the reader's reaction; returns (reacted now, the comment's reaction count)."""
    now = now or utcnow()
    with transaction(db) as conn:
        comment = _published(conn, site, comment_id)
        _author_for(conn, site, reader.author_id, now)
        removed = conn.execute(
            delete(reactions).where(
                reactions.c.comment_id == comment.id, reactions.c.author_id == reader.author_id
            )
        ).rowcount
        if removed:
            CommentStore.add_reaction_count(conn, comment.id, -1)
            reacted = False
        else:
            reacted = insert_ignore(
                conn,
                reactions,
                {"comment_id": comment.id, "author_id": reader.author_id, "kind": "like",
                 "created_at": now},
                ("comment_id", "author_id"),
            )
            if reacted:
                CommentStore.add_reaction_count(conn, comment.id, 1)
        return reacted, CommentStore.get(conn, comment.id).reaction_count


def report_comment(
    db: Engine,
    *,
    site: Site,
    reader: Reader,
    comment_id: int,
    reason: str,
    note: str | None = None,
    now: datetime | None = None,
) -> bool:
    """A reader flags a published comment; it goes (back) into the moderators' Reported queue.

    Returns False when this reader had already reported it (nothing changes then).
    """
    now = now or utcnow()
    if reason not in REPORT_REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(REPORT_REASONS)}", field="reason")
    if note is not None:
        note = clean_text(note, "note", max_chars=1000, required=False) or None
    with transaction(db) as conn:
        comment = _published(conn, site, comment_id)
        if comment.author_id == reader.author_id:
            raise NotAllowed("You cannot report your own comment")
        added = ReviewStore.add_report(
            conn, site_id=site.id, comment_id=comment.id, author_id=reader.author_id,
            reason=reason, note=note, now=now,
        )
        if added:
            CommentStore.add_report_count(conn, comment.id, 1)
            if comment.author_id is not None:
                AuthorStore.add_report_count(conn, comment.author_id, 1)
            notifications.comment_reported(conn, site.id, now)
        return added

