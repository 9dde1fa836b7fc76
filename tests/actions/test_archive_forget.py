"""Forgetting an author also scrubs the outbox: queued and logged webhook events and mails."""

import json

from sqlalchemy import select
from tests.actions.test_notifications import reader_with_email
from tests.factories import NOW, WordEngine, make_site, make_staff

from rostra.actions.archive import forget_author
from rostra.actions.comments import post_comment
from rostra.actions.moderation import ban_author
from rostra.actions.notifications import create_webhook
from rostra.domain.messages import ReportLine, report_digest_message
from rostra.storage.database import transaction
from rostra.storage.outbox import OutboxKind, OutboxStore
from rostra.storage.tables import outbox

URL = "https://news.example/2026/budget"
ALICE_TEXT = "My neighbour on Elm Street says the budget vote was rigged."
BOB_TEXT = "The budget looks fair to me."


def _setup(db):
    site = make_site(db)
    ada = make_staff(db, name="ada", admin=True)
    create_webhook(db, site=site, staff=ada, url="https://hooks.example/in",
                   events=["comment.created", "author.banned"], now=NOW)
    alice = reader_with_email(db, site, "alice")
    bob = reader_with_email(db, site, "bob")
    for reader, text in ((alice, ALICE_TEXT), (bob, BOB_TEXT)):
        post_comment(db, WordEngine(), site=site, author_id=reader.author_id, body=text,
                     url=URL, title="City budget", now=NOW)
    ban_author(db, site=site, staff=ada, author_id=alice.author_id, days=1, now=NOW)
    lines = [ReportLine(comment_id=1, reason="abuse", excerpt=ALICE_TEXT,
                        story_title="City budget", count=2),
             ReportLine(comment_id=2, reason="spam", excerpt=BOB_TEXT,
                        story_title="City budget", count=1)]
    digest = report_digest_message(to="ada@news.example", site_name="News", reports=lines,
                                   queue_url="https://comments.example/moderate")
    with transaction(db) as conn:
        OutboxStore.add(conn, kind=OutboxKind.EMAIL, site_id=site.id, now=NOW,
                        payload=digest.to_dict())
    return site


def _outbox_text(db):
    with db.connect() as conn:
        return json.dumps(list(conn.execute(select(outbox.c.payload)).scalars()),
                          ensure_ascii=False)


def test_forget_with_removal_scrubs_name_and_texts_from_the_outbox(db):
    site = _setup(db)
    before = _outbox_text(db)
    assert ALICE_TEXT in before and '"name": "alice"' in before
    done = forget_author(db, site=site, ref="alice@example.org", remove_comments=True, now=NOW)
    assert done["authors"] == 1
    after = _outbox_text(db)
    assert ALICE_TEXT not in after and "Elm Street" not in after
    assert '"name": "alice"' not in after and "alice@example.org" not in after
    assert '"name": "Deleted user"' in after and "[removed]" in after
    assert BOB_TEXT in after  # another reader's comment stays
    with db.connect() as conn:
        assert conn.execute(select(outbox.c.status)).scalars().all().count("pending") >= 4


def test_forget_keeping_comments_keeps_their_text_but_not_the_name(db):
    site = _setup(db)
    forget_author(db, site=site, ref="alice@example.org", remove_comments=False, now=NOW)
    after = _outbox_text(db)
    assert ALICE_TEXT in after
    assert '"name": "alice"' not in after and '"name": "Deleted user"' in after
