import pytest
from tests.factories import NOW, make_reader, make_site

from rostra.domain.comments import CommentStatus
from rostra.domain.errors import CommentNotFound, Conflict
from rostra.domain.moderation import Decision
from rostra.storage.authors import AuthorStore
from rostra.storage.comments import CommentStore, encode_labels
from rostra.storage.database import transaction
from rostra.storage.stories import StoryStore


def add(conn, story, author_id, status=CommentStatus.PUBLISHED, parent=None, body="hi"):
    return CommentStore.add(
        conn, site_id=story.site_id, story_id=story.id, parent=parent, author_id=author_id,
        body=body, html=f"<p>{body}</p>", status=status, decision=Decision.APPROVE,
        severity=0.1, flagged_labels={"insult", "threat"}, now=NOW,
    )


@pytest.fixture
def setup(db):
    site = make_site(db)
    alice = make_reader(db, site)
    with transaction(db) as conn:
        story = StoryStore.get_or_create(conn, site.id, "https://n.example/a", "A", now=NOW)
    return site, alice, story


def test_labels_are_stored_space_delimited():
    assert encode_labels({"threat", "insult"}) == " insult threat "
    assert encode_labels([]) == ""


def test_add_counts_published_only(db, setup):
    _, alice, story = setup
    with transaction(db) as conn:
        top = add(conn, story, alice.author_id)
        add(conn, story, alice.author_id, status=CommentStatus.PENDING, parent=top)
        add(conn, story, alice.author_id, parent=top)
        assert StoryStore.get(conn, story.id).comment_count == 2
        assert StoryStore.get(conn, story.id).top_level_count == 1
        assert CommentStore.get(conn, top.id).reply_count == 1
        author = AuthorStore.get(conn, alice.author_id)
        assert (author.comment_count, author.approved_count) == (3, 2)
        assert top.flagged_labels == ("insult", "threat")


def test_transition_moves_counters_both_ways(db, setup):
    _, alice, story = setup
    with transaction(db) as conn:
        top = add(conn, story, alice.author_id)
        rejected = CommentStore.transition(conn, top, expected_version=1,
                                           status=CommentStatus.REJECTED, reviewed=True)
        assert rejected.version == 2
        assert StoryStore.get(conn, story.id).comment_count == 0
        author = AuthorStore.get(conn, alice.author_id)
        assert (author.approved_count, author.rejected_count) == (0, 1)
        CommentStore.transition(conn, rejected, expected_version=2,
                                status=CommentStatus.PUBLISHED)
        assert StoryStore.get(conn, story.id).comment_count == 1
        assert AuthorStore.get(conn, alice.author_id).rejected_count == 0


def test_stale_version_is_a_conflict_with_the_current_state(db, setup):
    _, alice, story = setup
    with transaction(db) as conn:
        top = add(conn, story, alice.author_id)
        CommentStore.transition(conn, top, expected_version=1, featured=True)
        with pytest.raises(Conflict) as caught:
            CommentStore.transition(conn, top, expected_version=1,
                                    status=CommentStatus.SPAM)
        # The caller's copy says version 1, the row is at 2: the conflict reports the row.
        assert caught.value.extra["current"]["version"] == 2
        fresh = CommentStore.get(conn, top.id)
        with pytest.raises(Conflict) as caught:
            CommentStore.transition(conn, fresh, expected_version=1,
                                    status=CommentStatus.SPAM)
        assert caught.value.extra["current"] == {"status": "published", "featured": True,
                                                 "reviewed": False, "version": 2}


def test_replace_body_keeps_history(db, setup):
    _, alice, story = setup
    with transaction(db) as conn:
        top = add(conn, story, alice.author_id, body="first")
        edited = CommentStore.replace_body(
            conn, top, body="second", html="<p>second</p>", status=CommentStatus.PENDING,
            decision=Decision.REVIEW, severity=0.6, flagged_labels=["insult"], now=NOW,
        )
        assert (edited.body, edited.version, edited.edited_at) == ("second", 2, NOW)
        assert [e["body"] for e in CommentStore.edits(conn, top.id)] == ["first"]
        assert StoryStore.get(conn, story.id).comment_count == 0


def test_get_checks_the_site(db, setup):
    _, alice, story = setup
    other = make_site(db, "other")
    with transaction(db) as conn:
        top = add(conn, story, alice.author_id)
        with pytest.raises(CommentNotFound):
            CommentStore.get(conn, top.id, site_id=other.id)
