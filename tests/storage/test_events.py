"""EventStore.append: the row, and on PostgreSQL the NOTIFY that wakes other processes."""

from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy.engine import make_url
from tests.factories import make_site

from rostra.storage.database import transaction
from rostra.storage.events import CHANNEL, EventKind, EventStore
from rostra.storage.stories import StoryStore


def test_append_returns_the_new_id_and_since_reads_it_back(db):
    site = make_site(db)
    now = datetime.now(UTC)
    with transaction(db) as conn:
        story = StoryStore.get_or_create(conn, site.id, "https://news.example/a", "A", now=now)
        first = EventStore.append(conn, site_id=site.id, story_id=story.id, comment_id=7,
                                  kind=EventKind.PUBLISHED, now=now)
        second = EventStore.append(conn, site_id=site.id, story_id=story.id, comment_id=7,
                                   kind=EventKind.REMOVED, now=now)
    assert second > first
    with db.connect() as conn:
        found = EventStore.since(conn, story.id, 0)
    assert [(e.id, e.comment_id, e.kind) for e in found] == [
        (first, 7, "comment.published"), (second, 7, "comment.removed")]


def test_append_on_postgresql_notifies_story_and_event_at_commit(db):
    if db.dialect.name != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's")
    site = make_site(db)
    now = datetime.now(UTC)
    url = make_url(db.url.render_as_string(hide_password=False)).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with transaction(db) as conn:
            story = StoryStore.get_or_create(conn, site.id, "https://news.example/b", "B",
                                             now=now)
            event_id = EventStore.append(conn, site_id=site.id, story_id=story.id,
                                         comment_id=None, kind=EventKind.PUBLISHED, now=now)
        heard = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert heard == [f"{story.id}:{event_id}"]
