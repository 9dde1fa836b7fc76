from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.factories import NOW, WordEngine, make_reader, make_site, make_staff

from rostra.actions.comments import delete_own_comment, edit_comment, post_comment
from rostra.actions.moderation import ban_author, moderate, moderate_many, unban_author
from rostra.domain.comments import CommentStatus
from rostra.domain.errors import (
    AuthorNotFound,
    Conflict,
    EditWindowExpired,
    InvalidInput,
    NotAllowed,
)
from rostra.domain.moderation import ModerationAction
from rostra.storage.events import EventStore
from rostra.storage.stories import StoryStore
from rostra.storage.tables import moderation_log


@pytest.fixture
def world(db):
    site = make_site(db)
    return site, make_reader(db, site), make_staff(db, site)


def post(db, site, reader, body, **kw):
    return post_comment(db, WordEngine(), site=site, author_id=reader.author_id, body=body,
                        url="https://n.example/a", title="A", now=NOW, **kw).comment


def test_approve_then_reject_moves_counts_and_events(db, world):
    site, alice, maria = world
    held = post(db, site, alice, "a stupid idea")
    approved = moderate(db, site=site, staff=maria, comment_id=held.id,
                        action=ModerationAction.APPROVE, version=held.version, now=NOW)
    rejected = moderate(db, site=site, staff=maria, comment_id=held.id,
                        action=ModerationAction.REJECT, version=approved.version, now=NOW,
                        reason="on reflection")
    assert rejected.status is CommentStatus.REJECTED and rejected.version == 3
    with db.connect() as conn:
        assert StoryStore.get(conn, held.story_id).comment_count == 0
        kinds = [e.kind for e in EventStore.since(conn, held.story_id, 0)]
        actions = conn.execute(select(moderation_log.c.action)
                               .order_by(moderation_log.c.id)).scalars().all()
    assert kinds == ["comment.published", "comment.removed"]
    assert actions == ["hold", "approve", "reject"]


def test_stale_version_conflicts(db, world):
    site, alice, maria = world
    held = post(db, site, alice, "a stupid idea")
    moderate(db, site=site, staff=maria, comment_id=held.id, action=ModerationAction.SPAM,
             version=held.version)
    with pytest.raises(Conflict) as caught:
        moderate(db, site=site, staff=maria, comment_id=held.id,
                 action=ModerationAction.APPROVE, version=held.version)
    assert caught.value.extra["current"]["status"] == "spam"


def test_not_a_moderator_of_the_site(db, world):
    site, alice, _ = world
    other = make_site(db, "other")
    olga = make_staff(db, other, name="olga")
    comment = post(db, site, alice, "fine")
    with pytest.raises(NotAllowed):
        moderate(db, site=site, staff=olga, comment_id=comment.id,
                 action=ModerationAction.REJECT, version=1)
    with pytest.raises(NotAllowed):
        ban_author(db, site=site, staff=olga, author_id=alice.author_id, days=1)
    with pytest.raises(AuthorNotFound):
        ban_author(db, site=other, staff=olga, author_id=alice.author_id, days=1)


def test_deleted_comments_cannot_be_moderated(db, world):
    site, alice, maria = world
    comment = post(db, site, alice, "fine")
    deleted = delete_own_comment(db, site=site, reader=alice, comment_id=comment.id)
    with pytest.raises(NotAllowed):
        moderate(db, site=site, staff=maria, comment_id=comment.id,
                 action=ModerationAction.APPROVE, version=deleted.version)


def test_feature_and_unfeature_keep_status(db, world):
    site, alice, maria = world
    comment = post(db, site, alice, "insightful")
    featured = moderate(db, site=site, staff=maria, comment_id=comment.id,
                        action=ModerationAction.FEATURE, version=1)
    assert featured.featured and featured.status is CommentStatus.PUBLISHED
    assert not featured.reviewed  # featuring is not a review decision
    plain = moderate(db, site=site, staff=maria, comment_id=comment.id,
                     action=ModerationAction.UNFEATURE, version=featured.version)
    assert not plain.featured
    rejected = moderate(db, site=site, staff=maria, comment_id=comment.id,
                        action=ModerationAction.REJECT, version=plain.version)
    with pytest.raises(InvalidInput):
        moderate(db, site=site, staff=maria, comment_id=comment.id,
                 action=ModerationAction.FEATURE, version=rejected.version)


def test_bulk_keeps_going_after_a_conflict(db, world):
    site, alice, maria = world
    a = post(db, site, alice, "stupid one")
    b = post(db, site, alice, "stupid two, really")
    outcomes = moderate_many(db, site=site, staff=maria, action=ModerationAction.APPROVE,
                             items=[(a.id, 7), (b.id, b.version)])
    assert isinstance(outcomes[0].error, Conflict)
    assert outcomes[1].comment.status is CommentStatus.PUBLISHED


def test_unban_lifts_and_logs(db, world):
    site, alice, maria = world
    ban_author(db, site=site, staff=maria, author_id=alice.author_id, days=None, reason="x")
    assert unban_author(db, site=site, staff=maria, author_id=alice.author_id) == 1
    assert post(db, site, alice, "back").status is CommentStatus.PUBLISHED


def test_edit_of_held_comment_stays_held_even_when_clean(db, world):
    site, alice, _ = world
    held = post(db, site, alice, "a stupid idea")
    edited = edit_comment(db, WordEngine(), site=site, reader=alice, comment_id=held.id,
                          body="a questionable idea", now=NOW + timedelta(minutes=1))
    assert edited.status is CommentStatus.PENDING


def test_edit_can_take_a_published_comment_off_the_thread(db, world):
    site, alice, _ = world
    comment = post(db, site, alice, "a fine idea")
    edited = edit_comment(db, WordEngine(), site=site, reader=alice, comment_id=comment.id,
                          body="a stupid idea", now=NOW + timedelta(minutes=1))
    assert edited.status is CommentStatus.PENDING and edited.edited_at is not None
    with db.connect() as conn:
        assert StoryStore.get(conn, comment.story_id).comment_count == 0
        kinds = [e.kind for e in EventStore.since(conn, comment.story_id, 0)]
    assert kinds == ["comment.published", "comment.removed"]


def test_edit_of_a_moderator_rejected_comment_is_refused(db, world):
    site, alice, maria = world
    comment = post(db, site, alice, "a fine idea")
    moderate(db, site=site, staff=maria, comment_id=comment.id,
             action=ModerationAction.REJECT, version=1)
    with pytest.raises(EditWindowExpired):
        edit_comment(db, WordEngine(), site=site, reader=alice, comment_id=comment.id,
                     body="please", now=NOW + timedelta(minutes=1))


def test_site_edit_window_overrides_the_servers(db):
    site = make_site(db, edit_window_seconds=60)
    alice = make_reader(db, site)
    comment = post(db, site, alice, "a fine idea")
    with pytest.raises(EditWindowExpired):
        edit_comment(db, WordEngine(), site=site, reader=alice, comment_id=comment.id,
                     body="changed", now=NOW + timedelta(minutes=2))
