from datetime import timedelta

import pytest
from tests.factories import NOW, WordEngine, make_reader, make_site, make_staff

from rostra.domain.errors import InvalidInput
from rostra.domain.moderation import Decision, ModerationResult, Reason
from rostra.storage.database import transaction
from rostra.storage.events import EventKind, EventStore
from rostra.storage.reviews import Queue, QueueFilter, QueueSort, ReviewStore


def post(db, site, reader, body, minutes=0):
    from rostra.actions.comments import post_comment

    return post_comment(db, WordEngine(), site=site, author_id=reader.author_id, body=body,
                        url="https://n.example/a", title="A",
                        now=NOW + timedelta(minutes=minutes)).comment


def test_signals_newest_first(db):
    site = make_site(db)
    comment = post(db, site, make_reader(db, site), "fine")
    result = ModerationResult({"insult": 0.51234}, Decision.REVIEW,
                              (Reason("insult", 0, 4, "fine", 0.5),), {"spam": 0.1}, "accurate")
    with transaction(db) as conn:
        ReviewStore.add_signal(conn, comment.id, result, model_version="m2", now=NOW)
        signals = ReviewStore.signals(conn, [comment.id, 999])
    assert signals[999] == []
    newest = signals[comment.id][0]
    assert (newest["model_version"], newest["tier"], newest["decision"]) == (
        "m2", "accurate", "review")
    assert newest["scores"] == {"insult": 0.5123}
    assert newest["reasons"][0]["text"] == "fine"
    assert len(signals[comment.id]) == 2


def test_queue_orders_filters_and_pages(db):
    site = make_site(db)
    alice = make_reader(db, site)
    mild = post(db, site, alice, "a stupid idea", 0)
    threat = post(db, site, alice, "I will kill the plan", 1)
    post(db, site, alice, "all fine here", 2)
    with db.connect() as conn:
        rows, cursor = ReviewStore.queue(conn, site.id, QueueFilter(), limit=1)
        assert [r.id for r in rows] == [threat.id] and cursor
        rows, cursor = ReviewStore.queue(conn, site.id, QueueFilter(), limit=1, cursor=cursor)
        assert [r.id for r in rows] == [mild.id] and cursor is None
        rows, _ = ReviewStore.queue(conn, site.id, QueueFilter(queue=Queue.UNMODERATED))
        assert [r.body for r in rows] == ["all fine here"]
        rows, _ = ReviewStore.queue(conn, site.id, QueueFilter(queue=Queue.ALL),
                                    sort=QueueSort.NEWEST)
        assert [r.id for r in rows][:2] == [rows[0].id, threat.id]
        rows, _ = ReviewStore.queue(conn, site.id, QueueFilter(label="insu"))
        assert rows == []  # labels match whole
        rows, _ = ReviewStore.queue(conn, site.id, QueueFilter(text="_"))
        assert rows == []  # LIKE wildcards are escaped
        assert ReviewStore.queue_counts(conn, site.id)["pending"] == 2
        with pytest.raises(InvalidInput):
            ReviewStore.queue(conn, site.id, QueueFilter(), sort=QueueSort.OLDEST,
                              cursor=cursor or "bad")


def test_reports_once_per_reader_and_resolve(db):
    site = make_site(db)
    alice, bob = make_reader(db, site), make_reader(db, site, "bob")
    comment = post(db, site, alice, "hello")
    with transaction(db) as conn:
        assert ReviewStore.add_report(conn, site_id=site.id, comment_id=comment.id,
                                      author_id=bob.author_id, reason="spam", note=None,
                                      now=NOW)
        assert not ReviewStore.add_report(conn, site_id=site.id, comment_id=comment.id,
                                          author_id=bob.author_id, reason="abuse", note=None,
                                          now=NOW)
        assert [r["reason"] for r in ReviewStore.reports(conn, [comment.id])[comment.id]] == [
            "spam"]
        assert ReviewStore.resolve_reports(conn, comment.id, now=NOW) == 1
        assert ReviewStore.reports(conn, [comment.id])[comment.id] == []


def test_log_entries_filter_and_page(db):
    site = make_site(db)
    maria = make_staff(db, site)
    with transaction(db) as conn:
        for i in range(3):
            ReviewStore.log(conn, site_id=site.id, action="approve", actor="moderator",
                            user_id=maria.user_id, comment_id=i, now=NOW, before={"i": i})
        ReviewStore.log(conn, site_id=site.id, action="ban", actor="moderator", now=NOW)
    with db.connect() as conn:
        entries = ReviewStore.log_entries(conn, site.id, action="approve", limit=2)
        assert [e.comment_id for e in entries] == [2, 1]
        assert entries[0].username == "maria" and entries[0].before == {"i": 2}
        rest = ReviewStore.log_entries(conn, site.id, action="approve", before_id=entries[-1].id)
        assert [e.comment_id for e in rest] == [0]


def test_events_follow_a_story(db):
    site = make_site(db)
    alice = make_reader(db, site)
    comment = post(db, site, alice, "hello")
    with transaction(db) as conn:
        EventStore.append(conn, site_id=site.id, story_id=comment.story_id,
                          comment_id=comment.id, kind=EventKind.REMOVED, now=NOW)
    with db.connect() as conn:
        events = EventStore.since(conn, comment.story_id, 0)
        assert [e.kind for e in events] == ["comment.published", "comment.removed"]
        assert EventStore.since(conn, comment.story_id, events[0].id)[0].kind == (
            "comment.removed")
        assert EventStore.last_id(conn, comment.story_id) == events[-1].id
