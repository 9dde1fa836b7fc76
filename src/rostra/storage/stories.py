"""StoryStore: the article pages a site's discussions hang off (site + canonical URL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update

from rostra.domain.errors import StoryNotFound
from rostra.storage._upsert import insert_ignore
from rostra.storage.tables import stories


@dataclass(frozen=True, slots=True)
class Story:
    id: int
    site_id: int
    url: str
    title: str
    closed: bool
    premoderation: bool
    close_after_days: int | None
    comment_count: int
    top_level_count: int
    created_at: datetime

    def is_open(self, now: datetime, site_close_after_days: int | None = None) -> bool:
        """Open unless closed by hand or older than the story's (else the site's) limit."""
        if self.closed:
            return False
        days = self.close_after_days if self.close_after_days is not None else site_close_after_days
        return days is None or now < self.created_at + timedelta(days=days)


def _to_story(row: Row[Any]) -> Story:
    return Story(
        id=row.id,
        site_id=row.site_id,
        url=row.url,
        title=row.title,
        closed=row.closed,
        premoderation=row.premoderation,
        close_after_days=row.close_after_days,
        comment_count=row.comment_count,
        top_level_count=row.top_level_count,
        created_at=row.created_at,
    )


# Built once: values go in as parameters (building a statement costs ~4x executing it).
_FIND = select(stories).where(
    stories.c.site_id == bindparam("b_site"), stories.c.url == bindparam("b_url")
)


class StoryStore:
    """Reads and writes of ``stories``; counts are changed by the comment store only."""

    @staticmethod
    def get(conn: Connection, story_id: int, *, site_id: int | None = None) -> Story:
        query = select(stories).where(stories.c.id == story_id)
        if site_id is not None:
            query = query.where(stories.c.site_id == site_id)
        row = conn.execute(query).first()
        if row is None:
            raise StoryNotFound(f"No story {story_id} on this site")
        return _to_story(row)

    @staticmethod
    def find(conn: Connection, site_id: int, url: str) -> Story | None:
        row = conn.execute(_FIND, {"b_site": site_id, "b_url": url}).first()
        return None if row is None else _to_story(row)

    @staticmethod
    def get_or_create(
        conn: Connection, site_id: int, url: str, title: str, *, now: datetime
    ) -> Story:
        """The story at ``url`` on the site, created with ``title`` when new (race-safe)."""
        found = StoryStore.find(conn, site_id, url)
        if found is not None:
            return found
        insert_ignore(
            conn,
            stories,
            {
                "site_id": site_id,
                "url": url,
                "title": title,
                "closed": False,
                "premoderation": False,
                "close_after_days": None,
                "comment_count": 0,
                "top_level_count": 0,
                "created_at": now,
            },
            ("site_id", "url"),
        )
        story = StoryStore.find(conn, site_id, url)
        assert story is not None  # inserted by us or by whoever won the race
        return story

    @staticmethod
    def counts(conn: Connection, site_id: int, urls: list[str]) -> dict[str, int]:
        """Published comment counts for many story URLs at once (article lists)."""
        rows = conn.execute(
            select(stories.c.url, stories.c.comment_count).where(
                stories.c.site_id == site_id, stories.c.url.in_(urls)
            )
        )
        found = {row.url: row.comment_count for row in rows}
        return {url: found.get(url, 0) for url in urls}

    @staticmethod
    def update(
        conn: Connection,
        story_id: int,
        *,
        title: str | None = None,
        closed: bool | None = None,
        premoderation: bool | None = None,
        close_after_days: int | None = None,
        clear_close_after_days: bool = False,
    ) -> None:
        values: dict[str, Any] = {}
        if title is not None:
            values["title"] = title
        if closed is not None:
            values["closed"] = closed
        if premoderation is not None:
            values["premoderation"] = premoderation
        if close_after_days is not None or clear_close_after_days:
            values["close_after_days"] = close_after_days
        if values:
            conn.execute(update(stories).where(stories.c.id == story_id).values(**values))
