"""EventStore: the append-only feed of thread changes that live updates follow.

A row is appended in the same transaction as the change, so a reader never hears of a comment
that was rolled back. On PostgreSQL the append also NOTIFYs ``rostra_events`` (delivered at
commit) so that streams in every server process wake at once instead of polling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, String, bindparam, cast, func, insert, select

from rostra.storage.tables import events

CHANNEL = "rostra_events"


class EventKind(StrEnum):
    PUBLISHED = "comment.published"
    REMOVED = "comment.removed"
    EDITED = "comment.edited"


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    site_id: int
    story_id: int
    comment_id: int | None
    kind: str
    created_at: datetime


# Built once: values go in as parameters (building the statement costs ~4x executing it).
_INSERT_EVENT = insert(events).returning(events.c.id)
# PostgreSQL: the insert and its NOTIFY in one round trip.
_APPENDED = (
    insert(events)
    .values(site_id=bindparam("site_id"), story_id=bindparam("story_id"),
            comment_id=bindparam("comment_id"), kind=bindparam("kind"),
            created_at=bindparam("created_at", type_=events.c.created_at.type))
    .returning(events.c.id, events.c.story_id)
    .cte("appended")
)
_INSERT_AND_NOTIFY = select(
    _APPENDED.c.id,
    func.pg_notify(CHANNEL, cast(_APPENDED.c.story_id, String) + ":"
                   + cast(_APPENDED.c.id, String)),
)


class EventStore:
    @staticmethod
    def append(
        conn: Connection,
        *,
        site_id: int,
        story_id: int,
        comment_id: int | None,
        kind: EventKind,
        now: datetime,
    ) -> int:
        values = {"site_id": site_id, "story_id": story_id, "comment_id": comment_id,
                  "kind": kind.value, "created_at": now}
        if conn.dialect.name == "postgresql":
            return int(conn.execute(_INSERT_AND_NOTIFY, values).one()[0])
        return int(conn.execute(_INSERT_EVENT, values).scalar_one())

    @staticmethod
    def since(conn: Connection, story_id: int, after_id: int, *, limit: int = 100) -> list[Event]:
        rows = conn.execute(
            select(events)
            .where(events.c.story_id == story_id, events.c.id > after_id)
            .order_by(events.c.id)
            .limit(limit)
        )
        return [
            Event(
                id=r.id,
                site_id=r.site_id,
                story_id=r.story_id,
                comment_id=r.comment_id,
                kind=r.kind,
                created_at=r.created_at,
            )
            for r in rows
        ]

    @staticmethod
    def last_id(conn: Connection, story_id: int) -> int:
        value = conn.execute(
            select(func.max(events.c.id)).where(events.c.story_id == story_id)
        ).scalar_one()
        return int(value or 0)

    @staticmethod
    def first_id_since(conn: Connection, story_id: int, since: datetime) -> int | None:
        """The story's first event at or after ``since`` (a stream starts by replaying these)."""
        value = conn.execute(
            select(func.min(events.c.id)).where(
                events.c.story_id == story_id, events.c.created_at >= since
            )
        ).scalar_one()
        return None if value is None else int(value)

    @staticmethod
    def newest_id(conn: Connection) -> int:
        """The newest event of any story (0 when there is none)."""
        return int(conn.execute(select(func.max(events.c.id))).scalar_one() or 0)

    @staticmethod
    def stories_since(
        conn: Connection, after_id: int, *, limit: int = 1000
    ) -> list[tuple[int, int]]:
        """(event id, story id) of the events of every story after ``after_id``, oldest first:
        one cheap query tells a server process which of its live streams have news."""
        rows = conn.execute(
            select(events.c.id, events.c.story_id)
            .where(events.c.id > after_id)
            .order_by(events.c.id)
            .limit(limit)
        )
        return [(int(r.id), int(r.story_id)) for r in rows]
