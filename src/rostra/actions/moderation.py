"""What moderators do: decide on comments, ban and suspend authors, feature comments.

One door for every decision (Discourse's ``perform``): check the moderator may act on this
site, apply the transition with the version the moderator saw (a stale one is Conflict, never
a silent overwrite), resolve reports, log before/after, append the live-update event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from rostra.actions import notifications
from rostra.actions.adaptation import record_example
from rostra.actions.comments import announce_change, utcnow
from rostra.domain.comments import STATUS_FOR_ACTION, CommentStatus, can_moderate
from rostra.domain.errors import Conflict, InvalidInput, NotAllowed, RostraError
from rostra.domain.identity import Staff
from rostra.domain.moderation import ModerationAction
from rostra.domain.sites import Site
from rostra.storage.authors import PERMANENT, Author, AuthorStore, Ban
from rostra.storage.comments import Comment, CommentStore
from rostra.storage.database import transaction
from rostra.storage.reviews import ReviewStore

MAX_BAN_DAYS = 3650


def require_moderator(staff: Staff, site: Site) -> None:
    if not staff.can_moderate(site.id):
        raise NotAllowed("You are not a moderator of this site")


def _actor(staff: Staff) -> str:
    return "admin" if staff.is_admin else "moderator"


def moderate(
    db: Engine,
    *,
    site: Site,
    staff: Staff,
    comment_id: int,
    action: ModerationAction,
    version: int,
    reason: str | None = None,
    now: datetime | None = None,
) -> Comment:
    """Apply ``action`` to a comment the moderator saw at ``version``.

    Raises NotAllowed (not this site's moderator, comment deleted by its author),
    CommentNotFound, Conflict (someone else decided first; carries the current state).
    """
    now = now or utcnow()
    require_moderator(staff, site)
    if reason is not None and len(reason) > 2000:
        raise InvalidInput("reason is longer than 2000 characters", field="reason")
    with transaction(db) as conn:
        comment = CommentStore.get(conn, comment_id, site_id=site.id)
        if not can_moderate(comment.status):
            raise NotAllowed("This comment was deleted by its author")
        if comment.version != version:
            raise Conflict(
                "Another moderator already decided on this comment", current=comment.state()
            )
        status = STATUS_FOR_ACTION[action]
        featured = None
        if action is ModerationAction.FEATURE:
            if comment.status is not CommentStatus.PUBLISHED:
                raise InvalidInput("Only published comments can be featured", field="action")
            featured = True
        elif action is ModerationAction.UNFEATURE:
            featured = False
        elif status is not CommentStatus.PUBLISHED:
            featured = False  # a rejected comment is featured nowhere
        decides = status is not None
        updated = CommentStore.transition(
            conn,
            comment,
            expected_version=version,
            status=status,
            featured=featured,
            reviewed=True if decides else None,
            resolve_reports=decides,
        )
        if decides:
            ReviewStore.resolve_reports(conn, comment.id, now=now)
        ReviewStore.log(
            conn,
            site_id=site.id,
            comment_id=comment.id,
            author_id=comment.author_id,
            user_id=staff.user_id,
            actor=_actor(staff),
            action=action.value,
            reason=reason,
            before=comment.state(),
            after=updated.state(),
            now=now,
        )
        record_example(conn, comment_id=comment.id, site_id=site.id, author_id=comment.author_id,
                       text=comment.body, action=action, user_id=staff.user_id, now=now)
        announce_change(conn, comment.status, updated, now)
        notifications.comment_moderated(conn, site, before=comment, after=updated,
                                        action=action.value, staff=staff, reason=reason, now=now)
        return updated


@dataclass(frozen=True, slots=True)
class Outcome:
    """One item of a bulk decision: the updated comment, or the error it met."""

    comment_id: int
    comment: Comment | None = None
    error: RostraError | None = None


def moderate_many(
    db: Engine,
    *,
    site: Site,
    staff: Staff,
    items: list[tuple[int, int]],
    action: ModerationAction,
    reason: str | None = None,
    now: datetime | None = None,
) -> list[Outcome]:
    """Decide on many (comment id, version) pairs; each is its own transaction, so one stale
    item (Conflict) does not undo the others."""
    require_moderator(staff, site)
    if not items:
        raise InvalidInput("no comments given", field="comments")
    outcomes = []
    for comment_id, version in items:
        try:
            comment = moderate(
                db, site=site, staff=staff, comment_id=comment_id, action=action,
                version=version, reason=reason, now=now,
            )
            outcomes.append(Outcome(comment_id, comment=comment))
        except RostraError as error:
            outcomes.append(Outcome(comment_id, error=error))
    return outcomes


def ban_author(
    db: Engine,
    *,
    site: Site,
    staff: Staff,
    author_id: int,
    days: float | None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Ban:
    """Ban (``days`` None: for good) or suspend (for ``days``) an author of this site."""
    now = now or utcnow()
    require_moderator(staff, site)
    if days is not None and not 0 < days <= MAX_BAN_DAYS:
        raise InvalidInput(f"days must be between 0 and {MAX_BAN_DAYS}", field="days")
    with transaction(db) as conn:
        author = AuthorStore.get(conn, author_id, site_id=site.id)
        until = None if days is None else now + timedelta(days=days)
        ban = AuthorStore.ban(conn, author, until=until, reason=reason, user_id=staff.user_id,
                              now=now)
        ReviewStore.log(
            conn,
            site_id=site.id,
            author_id=author.id,
            user_id=staff.user_id,
            actor=_actor(staff),
            action="ban" if until is None else "suspend",
            reason=reason,
            before=_ban_state(author),
            after={"banned_until": None if until is None else until.isoformat(),
                   "permanent": until is None},
            now=now,
        )
        notifications.author_banned(conn, site, author=author, until=until, reason=reason,
                                    staff=staff, now=now)
        return ban


def unban_author(
    db: Engine,
    *,
    site: Site,
    staff: Staff,
    author_id: int,
    reason: str | None = None,
    now: datetime | None = None,
) -> int:
    """Lift the author's bans; returns how many were active."""
    now = now or utcnow()
    require_moderator(staff, site)
    with transaction(db) as conn:
        author = AuthorStore.get(conn, author_id, site_id=site.id)
        lifted = AuthorStore.lift_ban(conn, author, user_id=staff.user_id, now=now)
        ReviewStore.log(
            conn,
            site_id=site.id,
            author_id=author.id,
            user_id=staff.user_id,
            actor=_actor(staff),
            action="unban",
            reason=reason,
            before=_ban_state(author),
            after={"banned_until": None, "permanent": False},
            now=now,
        )
        return lifted


def _ban_state(author: Author) -> dict[str, object]:
    return {
        "banned_until": None if author.banned_until is None or author.banned_until == PERMANENT
        else author.banned_until.isoformat(),
        "permanent": author.banned_until == PERMANENT,
    }
