"""What happens after a change, for people and systems outside: e-mails and webhooks queued.

Every function here runs inside the caller's transaction and only appends outbox rows (a
rolled-back comment notifies nobody); ``rostra.actions.delivery`` sends them later, so a
request never waits for a mail server or a webhook receiver.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine

from rostra.domain.comments import CommentStatus
from rostra.domain.errors import InvalidInput, NotAllowed
from rostra.domain.identity import Reader, Staff
from rostra.domain.sites import Site
from rostra.storage.authors import Author, AuthorStore
from rostra.storage.comments import Comment
from rostra.storage.database import transaction
from rostra.storage.notifications import NotificationStore
from rostra.storage.outbox import OutboxKind, OutboxStore
from rostra.storage.reviews import ReviewStore
from rostra.storage.stories import Story
from rostra.storage.webhooks import Webhook, WebhookStore


class WebhookEvent(StrEnum):
    COMMENT_CREATED = "comment.created"
    COMMENT_MODERATED = "comment.moderated"
    AUTHOR_BANNED = "author.banned"


WEBHOOK_EVENTS = tuple(e.value for e in WebhookEvent)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def comment_data(comment: Comment, story: Story | None = None) -> dict[str, Any]:
    """A comment as webhook receivers see it (its text too: receivers mirror or archive)."""
    data: dict[str, Any] = {
        "id": comment.id,
        "story_id": comment.story_id,
        "parent_id": comment.parent_id,
        "author_id": comment.author_id,
        "status": comment.status.value,
        "featured": comment.featured,
        "version": comment.version,
        "body": comment.body,
        "html": comment.html,
        "created_at": _iso(comment.created_at),
        "edited_at": _iso(comment.edited_at),
    }
    if story is not None:
        data["story"] = {"id": story.id, "url": story.url, "title": story.title}
    return data


def queue_event(
    conn: Connection, site: Site, event: WebhookEvent, data: dict[str, Any], now: datetime
) -> int:
    """One outbox row per active webhook of the site that subscribes to ``event``; returns
    how many. The event id is the same for every attempt, so receivers can drop repeats."""
    hooks = WebhookStore.subscribers(conn, site.id, event.value)
    for hook in hooks:
        body = {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": event.value,
            "created_at": now.isoformat(),
            "site": {"id": site.id, "slug": site.slug},
            "data": data,
        }
        OutboxStore.add(
            conn, kind=OutboxKind.WEBHOOK, site_id=site.id, now=now,
            payload={"webhook_id": hook.id, "event": event.value, "body": body},
        )
    return len(hooks)


def queue_reply_notice(conn: Connection, comment: Comment, now: datetime) -> bool:
    """Queue the e-mail for a reply that is now published, if the parent's author asked for
    replies. At most one per reply, however often it is approved again."""
    if comment.parent_id is None or comment.status is not CommentStatus.PUBLISHED:
        return False
    recipient = NotificationStore.parent_author_wants_replies(conn, comment.parent_id)
    if recipient is None or recipient == comment.author_id:
        return False
    return OutboxStore.add(
        conn, kind=OutboxKind.REPLY, site_id=comment.site_id, now=now,
        payload={"comment_id": comment.id}, dedupe_key=f"reply:{comment.id}",
    )


# -- called by the actions that change things -----------------------------------------------


def comment_created(
    conn: Connection, site: Site, story: Story, comment: Comment, now: datetime
) -> None:
    queue_event(conn, site, WebhookEvent.COMMENT_CREATED, comment_data(comment, story), now)
    queue_reply_notice(conn, comment, now)


def comment_moderated(
    conn: Connection,
    site: Site,
    *,
    before: Comment,
    after: Comment,
    action: str,
    staff: Staff,
    reason: str | None,
    now: datetime,
) -> None:
    data = {
        "comment": comment_data(after),
        "action": action,
        "reason": reason,
        "moderator": {"id": staff.user_id, "username": staff.username},
        "before": before.state(),
        "after": after.state(),
    }
    queue_event(conn, site, WebhookEvent.COMMENT_MODERATED, data, now)
    if before.status is not CommentStatus.PUBLISHED:
        queue_reply_notice(conn, after, now)


def author_banned(
    conn: Connection,
    site: Site,
    *,
    author: Author,
    until: datetime | None,
    reason: str | None,
    staff: Staff,
    now: datetime,
) -> None:
    data = {
        "author": {"id": author.id, "name": author.name, "kind": author.kind},
        "until": _iso(until),
        "permanent": until is None,
        "reason": reason,
        "moderator": {"id": staff.user_id, "username": staff.username},
    }
    queue_event(conn, site, WebhookEvent.AUTHOR_BANNED, data, now)


def comment_reported(conn: Connection, site_id: int, now: datetime) -> None:
    """Queue the site's moderators' digest; reports until it is sent join the same one."""
    OutboxStore.add(
        conn, kind=OutboxKind.DIGEST, site_id=site_id, now=now,
        payload={"site_id": site_id}, dedupe_key=f"digest:{site_id}",
    )


# -- the reader's own choice -----------------------------------------------------------------


def set_reply_notifications(db: Engine, *, reader: Reader, enabled: bool) -> bool:
    """Turn e-mail about replies to the reader's comments on or off."""
    with transaction(db) as conn:
        author = AuthorStore.get(conn, reader.author_id, site_id=reader.site_id)
        if enabled and not (author.email or "").strip():
            raise InvalidInput("Replies are sent by e-mail, and we have no address for you",
                               field="enabled")
        NotificationStore.set_reply_notifications(conn, author.id, enabled)
        return enabled


def unsubscribe(db: Engine, *, author_id: int) -> None:
    """The one-click unsubscribe of a reply e-mail (the token was checked by the caller)."""
    with transaction(db) as conn:
        NotificationStore.set_reply_notifications(conn, author_id, False)


# -- webhooks, managed by admins ------------------------------------------------------------


def _require_admin(staff: Staff) -> None:
    if not staff.is_admin:
        raise NotAllowed("Only admins manage webhooks (they send comments to other systems)")


def _valid_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048:
        raise InvalidInput("url must be an absolute http(s) URL", field="url")
    if any(c.isspace() for c in url):
        raise InvalidInput("url must not contain spaces", field="url")
    return url


def _valid_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if unknown:
        raise InvalidInput(f"unknown events {unknown}; choose from {list(WEBHOOK_EVENTS)}",
                           field="events")
    if not events:
        raise InvalidInput("subscribe to at least one event", field="events")
    return [e for e in WEBHOOK_EVENTS if e in events]


def _valid_secret(secret: str | None) -> str:
    if secret is None:
        return secrets.token_urlsafe(32)
    if not 16 <= len(secret) <= 200 or not secret.isprintable():
        raise InvalidInput("secret must be 16 to 200 printable characters", field="secret")
    return secret


def _hook_state(hook: Webhook) -> dict[str, Any]:
    return {"url": hook.url, "events": list(hook.events), "active": hook.active}


def create_webhook(
    db: Engine, *, site: Site, staff: Staff, url: str, events: list[str],
    secret: str | None = None, now: datetime | None = None,
) -> Webhook:
    """Add a webhook; without ``secret`` a random one is made (shown once, to the creator)."""
    now = now or datetime.now(UTC)
    _require_admin(staff)
    url, events, secret = _valid_url(url), _valid_events(events), _valid_secret(secret)
    with transaction(db) as conn:
        hook = WebhookStore.create(conn, site_id=site.id, url=url, secret=secret, events=events,
                                   now=now)
        ReviewStore.log(conn, site_id=site.id, user_id=staff.user_id, actor="admin",
                        action="webhook.create", after=_hook_state(hook), now=now)
        return hook


def update_webhook(
    db: Engine, *, site: Site, staff: Staff, webhook_id: int, url: str | None = None,
    events: list[str] | None = None, active: bool | None = None, rotate_secret: bool = False,
    now: datetime | None = None,
) -> Webhook:
    now = now or datetime.now(UTC)
    _require_admin(staff)
    changes: dict[str, Any] = {
        "url": None if url is None else _valid_url(url),
        "events": None if events is None else _valid_events(events),
        "active": active,
        "secret": _valid_secret(None) if rotate_secret else None,
    }
    with transaction(db) as conn:
        hook = WebhookStore.get(conn, webhook_id, site_id=site.id)
        updated = WebhookStore.update(conn, hook, **changes)
        ReviewStore.log(conn, site_id=site.id, user_id=staff.user_id, actor="admin",
                        action="webhook.update", before=_hook_state(hook),
                        after=_hook_state(updated), now=now)
        return updated


def delete_webhook(
    db: Engine, *, site: Site, staff: Staff, webhook_id: int, now: datetime | None = None
) -> None:
    now = now or datetime.now(UTC)
    _require_admin(staff)
    with transaction(db) as conn:
        hook = WebhookStore.get(conn, webhook_id, site_id=site.id)
        WebhookStore.delete(conn, hook)
        ReviewStore.log(conn, site_id=site.id, user_id=staff.user_id, actor="admin",
                        action="webhook.delete", before=_hook_state(hook), now=now)
