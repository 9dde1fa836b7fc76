from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.factories import NOW, WordEngine, make_reader, make_site, make_staff

from rostra.actions.comments import Limits, post_comment
from rostra.actions.moderation import ban_author
from rostra.domain.comments import CommentStatus
from rostra.domain.errors import (
    AuthorBanned,
    CommentNotFound,
    InvalidInput,
    NotAllowed,
    StoryClosed,
)
from rostra.domain.moderation import Decision
from rostra.domain.sites import Premoderation
from rostra.storage.authors import AuthorStore
from rostra.storage.comments import CommentStore
from rostra.storage.database import transaction
from rostra.storage.events import EventStore
from rostra.storage.reviews import ReviewStore
from rostra.storage.stories import StoryStore
from rostra.storage.tables import moderation_log

URL = "https://news.example/2026/budget"
SENTENCES = [
    "The council should publish the full spreadsheet.",
    "Bus fares went up twice this year already.",
    "My street has had potholes since April.",
    "Who audits the transport authority anyway?",
    "Libraries are cheap compared with road building.",
    "I moved here in 1998 and taxes only rise.",
    "Maybe the mayor should answer questions in person.",
]


def post(db, site, reader, body="Fair point about the budget.", **kw):
    kw.setdefault("url", URL)
    kw.setdefault("title", "City budget")
    kw.setdefault("now", NOW)
    return post_comment(db, kw.pop("engine", WordEngine()), site=site,
                        author_id=reader.author_id, body=body, **kw)


def test_clean_comment_is_published_and_counted(db):
    site = make_site(db)
    alice = make_reader(db, site)
    posted = post(db, site, alice, "The *budget* is fine")
    assert posted.public_status == "published"
    assert posted.comment.html == "<p>The <em>budget</em> is fine</p>"
    with db.connect() as conn:
        story = StoryStore.get(conn, posted.story.id)
        author = AuthorStore.get(conn, alice.author_id)
        events = EventStore.since(conn, story.id, 0)
        signals = ReviewStore.signals(conn, [posted.comment.id])[posted.comment.id]
    assert (story.comment_count, story.top_level_count) == (1, 1)
    assert (author.comment_count, author.approved_count) == (1, 1)
    assert [e.kind for e in events] == ["comment.published"]
    assert signals[0]["decision"] == "approve"
    assert signals[0]["model_version"] == "test-words-1"


def test_toxic_comment_is_held_with_its_labels_and_not_counted(db):
    site = make_site(db)
    alice = make_reader(db, site)
    posted = post(db, site, alice, "What a stupid plan")
    assert posted.comment.status is CommentStatus.PENDING
    assert posted.public_status == "pending"
    assert posted.comment.decision is Decision.REVIEW
    assert "insult" in posted.comment.flagged_labels
    assert posted.comment.severity == pytest.approx(0.7)
    with db.connect() as conn:
        assert StoryStore.get(conn, posted.story.id).comment_count == 0
        assert EventStore.since(conn, posted.story.id, 0) == []
        log = conn.execute(select(moderation_log.c.action, moderation_log.c.actor)).all()
    assert log == [("hold", "system")]


def test_engine_rejection_is_reported_to_the_author_as_pending(db):
    site = make_site(db)
    posted = post(db, site, make_reader(db, site), "you idiot")
    assert posted.comment.status is CommentStatus.REJECTED
    assert posted.public_status == "pending"


def test_reply_gets_root_and_depth_and_counts_on_the_parent(db):
    site = make_site(db)
    alice, bob = make_reader(db, site), make_reader(db, site, "bob")
    top = post(db, site, alice).comment
    reply = post(db, site, bob, "I disagree", parent_id=top.id).comment
    deeper = post(db, site, alice, "Why?", parent_id=reply.id).comment
    assert (reply.root_id, reply.depth) == (top.id, 1)
    assert (deeper.root_id, deeper.depth, deeper.parent_id) == (top.id, 2, reply.id)
    with db.connect() as conn:
        assert CommentStore.get(conn, top.id).reply_count == 1
        story = StoryStore.get(conn, top.story_id)
    assert (story.comment_count, story.top_level_count) == (3, 1)


def test_same_url_is_the_same_story(db):
    site = make_site(db)
    alice = make_reader(db, site)
    first = post(db, site, alice, url=URL + "#comments")
    second = post(db, site, alice, "again", url=URL.upper().replace("/2026/BUDGET", "/2026/budget"))
    assert first.story.id == second.story.id


@pytest.mark.parametrize("body", ["", "   ", "x" * 10_001, "nul\x00byte", "\ud800 lone"])
def test_invalid_bodies_are_refused(db, body):
    site = make_site(db)
    with pytest.raises(InvalidInput):
        post(db, site, make_reader(db, site), body)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "/relative", "ftp://x.example/a", ""])
def test_story_url_must_be_absolute_http(db, url):
    site = make_site(db)
    with pytest.raises(InvalidInput):
        post(db, site, make_reader(db, site), url=url)


def test_closed_story_refuses_comments(db):
    site = make_site(db)
    alice = make_reader(db, site)
    story = post(db, site, alice).story
    with transaction(db) as conn:
        StoryStore.update(conn, story.id, closed=True)
    with pytest.raises(StoryClosed):
        post(db, site, alice, story_id=story.id, url=None)


def test_story_closes_after_the_sites_days(db):
    site = make_site(db, close_after_days=2)
    alice = make_reader(db, site)
    story = post(db, site, alice).story
    post(db, site, alice, now=NOW + timedelta(days=1))
    with pytest.raises(StoryClosed):
        post(db, site, alice, story_id=story.id, now=NOW + timedelta(days=3))


def test_parent_must_be_on_the_same_story_and_published(db):
    site = make_site(db)
    alice = make_reader(db, site)
    other = post(db, site, alice, url="https://news.example/other").comment
    with pytest.raises(InvalidInput):
        post(db, site, alice, parent_id=other.id, story_id=post(db, site, alice).story.id)
    held = post(db, site, alice, "stupid").comment
    with pytest.raises(NotAllowed):
        post(db, site, alice, parent_id=held.id)
    with pytest.raises(CommentNotFound):
        post(db, site, alice, parent_id=999_999)


def test_reply_chain_deeper_than_the_limit_is_refused(db):
    site = make_site(db)
    alice = make_reader(db, site)
    parent = None
    limits = Limits(max_reply_depth=5)
    for body in SENTENCES[:6]:
        parent = post(db, site, alice, body, parent_id=parent and parent.id,
                      limits=limits).comment
    assert parent.depth == 5
    with pytest.raises(InvalidInput):
        post(db, site, alice, parent_id=parent.id, limits=limits)


def test_banned_author_cannot_post_until_the_suspension_ends(db):
    site = make_site(db)
    alice = make_reader(db, site)
    ban_author(db, site=site, staff=make_staff(db, site), author_id=alice.author_id, days=1,
               now=NOW)
    with pytest.raises(AuthorBanned):
        post(db, site, alice)
    assert post(db, site, alice, now=NOW + timedelta(days=1, seconds=1)).public_status == (
        "published"
    )


@pytest.mark.parametrize(
    ("mode", "body", "expected"),
    [
        (Premoderation.ALL, "hello", "pending"),
        (Premoderation.LINKS, "see https://spam.example", "pending"),
        (Premoderation.LINKS, "no links here", "published"),
        (Premoderation.NEW_AUTHORS, "hello", "pending"),
    ],
)
def test_premoderation_modes(db, mode, body, expected):
    site = make_site(db, premoderation=mode)
    assert post(db, site, make_reader(db, site), body).public_status == expected


def test_story_premoderation_holds_clean_comments(db):
    site = make_site(db)
    alice = make_reader(db, site)
    story = post(db, site, alice).story
    with transaction(db) as conn:
        StoryStore.update(conn, story.id, premoderation=True)
    assert post(db, site, alice, story_id=story.id).public_status == "pending"


def test_engine_gets_the_authors_recent_context(db):
    site = make_site(db)
    alice = make_reader(db, site)
    engine = WordEngine()
    post(db, site, alice, "first", engine=engine)
    post(db, site, alice, "second", engine=engine, now=NOW + timedelta(minutes=1))
    texts, contexts = engine.calls[-1]
    assert texts == ["second"]
    assert contexts[0].comments_last_hour == 1
    assert contexts[0].recent_texts == ("first",)
    assert contexts[0].approved_count == 1
