from datetime import timedelta

import pytest
from tests.factories import NOW, make_site

from rostra.domain.errors import StoryNotFound
from rostra.storage.database import transaction
from rostra.storage.stories import StoryStore

URL = "https://news.example/a"


def test_get_or_create_is_idempotent_and_keeps_the_first_title(db):
    site = make_site(db)
    with transaction(db) as conn:
        first = StoryStore.get_or_create(conn, site.id, URL, "First", now=NOW)
        again = StoryStore.get_or_create(conn, site.id, URL, "Second", now=NOW)
    assert first == again and again.title == "First"


def test_same_url_on_two_sites_is_two_stories(db):
    a, b = make_site(db, "a"), make_site(db, "b")
    with transaction(db) as conn:
        sa = StoryStore.get_or_create(conn, a.id, URL, "A", now=NOW)
        sb = StoryStore.get_or_create(conn, b.id, URL, "B", now=NOW)
        assert sa.id != sb.id
        with pytest.raises(StoryNotFound):
            StoryStore.get(conn, sa.id, site_id=b.id)


def test_open_closed_and_close_after_days(db):
    site = make_site(db)
    with transaction(db) as conn:
        story = StoryStore.get_or_create(conn, site.id, URL, "A", now=NOW)
        assert story.is_open(NOW + timedelta(days=400))
        assert not story.is_open(NOW + timedelta(days=3), site_close_after_days=2)
        StoryStore.update(conn, story.id, close_after_days=5)
        story = StoryStore.get(conn, story.id)
        assert story.is_open(NOW + timedelta(days=3), site_close_after_days=2)
        assert not story.is_open(NOW + timedelta(days=6))
        StoryStore.update(conn, story.id, clear_close_after_days=True, closed=True)
        story = StoryStore.get(conn, story.id)
        assert story.close_after_days is None and not story.is_open(NOW)


def test_counts_for_many_urls(db):
    site = make_site(db)
    with transaction(db) as conn:
        StoryStore.get_or_create(conn, site.id, URL, "A", now=NOW)
        assert StoryStore.counts(conn, site.id, [URL, URL + "x"]) == {URL: 0, URL + "x": 0}
