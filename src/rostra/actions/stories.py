"""Stories: opened by the widget (get-or-create by URL), set up by moderators."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from rostra.actions.comments import canonical_url, clean_text, utcnow
from rostra.actions.moderation import require_moderator
from rostra.domain.identity import Staff
from rostra.domain.sites import Site
from rostra.storage.database import transaction
from rostra.storage.reviews import ReviewStore
from rostra.storage.stories import Story, StoryStore


def open_story(
    db: Engine, *, site: Site, url: str, title: str, now: datetime | None = None
) -> Story:
    """The story at ``url`` (canonicalised), created with ``title`` when it is new."""
    url = canonical_url(url)
    title = clean_text(title, "title", max_chars=500)
    with transaction(db) as conn:
        return StoryStore.get_or_create(conn, site.id, url, title, now=now or utcnow())


def configure_story(
    db: Engine,
    *,
    site: Site,
    staff: Staff,
    story_id: int,
    title: str | None = None,
    closed: bool | None = None,
    premoderation: bool | None = None,
    close_after_days: int | None = None,
    now: datetime | None = None,
) -> Story:
    """A moderator closes/opens a story, switches its premoderation or its closing age."""
    require_moderator(staff, site)
    if title is not None:
        title = clean_text(title, "title", max_chars=500)
    with transaction(db) as conn:
        before = StoryStore.get(conn, story_id, site_id=site.id)
        StoryStore.update(conn, story_id, title=title, closed=closed,
                          premoderation=premoderation, close_after_days=close_after_days)
        after = StoryStore.get(conn, story_id)
        ReviewStore.log(
            conn, site_id=site.id, user_id=staff.user_id,
            actor="admin" if staff.is_admin else "moderator", action="story.configure",
            before=_settings(before), after=_settings(after), now=now or utcnow(),
        )
        return after


def _settings(story: Story) -> dict[str, object]:
    return {"story_id": story.id, "title": story.title, "closed": story.closed,
            "premoderation": story.premoderation, "close_after_days": story.close_after_days}
