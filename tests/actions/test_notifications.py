"""Reply e-mails and report digests, sent through a real SMTP server on 127.0.0.1."""

from datetime import timedelta

import pytest
from sqlalchemy import update
from tests.factories import NOW, WordEngine, make_reader, make_site, make_staff
from tests.receivers import free_port, smtp_server

from rostra.actions.comments import post_comment, report_comment
from rostra.actions.delivery import DeliveryConfig, deliver_due
from rostra.actions.moderation import moderate
from rostra.actions.notifications import set_reply_notifications, unsubscribe
from rostra.domain.comments import AuthorKind
from rostra.domain.errors import InvalidInput
from rostra.domain.identity import Reader
from rostra.domain.messages import read_unsubscribe_token
from rostra.domain.moderation import ModerationAction
from rostra.domain.sites import Premoderation
from rostra.storage.database import transaction
from rostra.storage.identities import upsert_sso_author
from rostra.storage.notifications import NotificationStore
from rostra.storage.outbox import OutboxKind, OutboxStatus, OutboxStore
from rostra.storage.tables import users

SECRET = "notification-test-secret-0123456789"
URL = "https://news.example/2026/budget"
LATER = NOW + timedelta(minutes=1)


def reader_with_email(db, site, name):
    with transaction(db) as conn:
        author_id = upsert_sso_author(conn, site.id, f"sub-{name}", name,
                                      f"{name}@example.org", NOW)
    return Reader(author_id=author_id, site_id=site.id, name=name, kind=AuthorKind.SSO)


def post(db, site, reader, body="Fair point about the budget.", **kw):
    return post_comment(db, WordEngine(), site=site, author_id=reader.author_id, body=body,
                        url=URL, title="City budget", now=kw.pop("now", NOW), **kw)


def config(port, **overrides):
    values = dict(secret_key=SECRET, public_url="https://comments.example", smtp_host="127.0.0.1",
                  smtp_port=port, smtp_from="comments@news.example", backoff_seconds=60)
    values.update(overrides)
    return DeliveryConfig(**values)


def deliver_all(db, cfg, when=LATER):
    """Run the sender until nothing is due at ``when`` (a digest becomes e-mails first)."""
    total = 0
    while claimed := deliver_due(db, cfg, clock=lambda: when):
        total += claimed
    return total


@pytest.fixture
def smtp():
    with smtp_server() as server:
        yield server


@pytest.fixture
def site(db):
    return make_site(db)


@pytest.fixture
def alice(db, site):
    reader = reader_with_email(db, site, "alice")
    set_reply_notifications(db, reader=reader, enabled=True)
    return reader


def test_reply_mail_has_text_html_and_a_working_unsubscribe_link(db, site, alice, smtp):
    sink, port = smtp
    bob = make_reader(db, site, "bob")
    parent = post(db, site, alice)
    reply = post(db, site, bob, "I disagree <b>strongly</b> about the budget.",
                 parent_id=parent.comment.id)
    assert len(sink.messages) == 0  # posting only queued it
    assert deliver_all(db, config(port)) == 1
    [mail] = sink.messages
    assert sink.envelopes == [("comments@news.example", ["alice@example.org"])]
    assert mail["Subject"] == "bob replied to your comment on “City budget”"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "> I disagree <b>strongly</b> about the budget." in text
    assert "I disagree &lt;b&gt;strongly&lt;/b&gt;" in html and "<b>" not in html
    assert f"{URL}#comment-{reply.comment.id}" in text
    unsubscribe_url = mail["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith("https://comments.example/api/v1/unsubscribe/")
    assert unsubscribe_url in text and unsubscribe_url in html
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    token = unsubscribe_url.rsplit("/", 1)[1]
    unsubscribe(db, author_id=read_unsubscribe_token(SECRET, token))
    with db.connect() as conn:
        assert NotificationStore.wants_replies(conn, alice.author_id) is False
    post(db, site, bob, "Another reply.", parent_id=parent.comment.id)
    deliver_all(db, config(port))
    assert len(sink.messages) == 1


def test_held_reply_is_mailed_once_when_approved(db, alice, smtp):
    sink, port = smtp
    site = make_site(db, "held", premoderation=Premoderation.ALL)
    alice = reader_with_email(db, site, "alice")
    set_reply_notifications(db, reader=alice, enabled=True)
    bob = make_reader(db, site, "bob")
    maria = make_staff(db, site)
    parent = post(db, site, alice)
    parent_ok = moderate(db, site=site, staff=maria, comment_id=parent.comment.id,
                         action=ModerationAction.APPROVE, version=parent.comment.version,
                         now=NOW)
    reply = post(db, site, bob, "A held reply.", parent_id=parent_ok.id)
    assert reply.public_status == "pending"
    deliver_all(db, config(port))
    assert sink.messages == []

    approved = moderate(db, site=site, staff=maria, comment_id=reply.comment.id,
                        action=ModerationAction.APPROVE, version=reply.comment.version, now=NOW)
    deliver_all(db, config(port))
    assert len(sink.messages) == 1
    # Rejected and approved again: the reader already heard of it.
    rejected = moderate(db, site=site, staff=maria, comment_id=approved.id,
                        action=ModerationAction.REJECT, version=approved.version, now=NOW)
    moderate(db, site=site, staff=maria, comment_id=rejected.id,
             action=ModerationAction.APPROVE, version=rejected.version, now=NOW)
    deliver_all(db, config(port))
    assert len(sink.messages) == 1


def test_no_mail_for_own_replies_or_without_opt_in(db, site, alice, smtp):
    sink, port = smtp
    carol = reader_with_email(db, site, "carol")  # has an address, did not opt in
    parent = post(db, site, alice)
    post(db, site, alice, "Adding to my own point.", parent_id=parent.comment.id)
    other = post(db, site, carol, "Top-level from carol.")
    post(db, site, alice, "Replying to carol.", parent_id=other.comment.id)
    deliver_all(db, config(port))
    assert sink.messages == []


def test_reply_removed_before_sending_is_not_mailed(db, site, alice, smtp):
    sink, port = smtp
    bob = make_reader(db, site, "bob")
    maria = make_staff(db, site)
    parent = post(db, site, alice)
    reply = post(db, site, bob, "Soon gone.", parent_id=parent.comment.id)
    moderate(db, site=site, staff=maria, comment_id=reply.comment.id,
             action=ModerationAction.REJECT, version=reply.comment.version, now=NOW)
    deliver_all(db, config(port))
    assert sink.messages == []
    with db.connect() as conn:
        [job] = OutboxStore.list(conn, kind=OutboxKind.REPLY)
    assert job.status is OutboxStatus.SENT  # done: nothing left to send


def test_opting_in_needs_an_address(db, site):
    nobody = make_reader(db, site, "dave")  # SSO without an e-mail
    with pytest.raises(InvalidInput):
        set_reply_notifications(db, reader=nobody, enabled=True)


def _give_email(db, staff, address):
    with transaction(db) as conn:
        conn.execute(update(users).where(users.c.id == staff.user_id).values(email=address))


def test_moderators_get_one_digest_per_interval(db, site, alice, smtp):
    sink, port = smtp
    maria = make_staff(db, site)
    _give_email(db, maria, "maria@news.example")
    make_staff(db, name="nomail")  # a moderator of no site: not mailed
    bob, carol = make_reader(db, site, "bob"), make_reader(db, site, "carol")
    first = post(db, site, alice, "The budget is a disgrace.")
    second = post(db, site, alice, "Buy cheap watches here.")
    report_comment(db, site=site, reader=bob, comment_id=first.comment.id, reason="abuse",
                   now=NOW)
    report_comment(db, site=site, reader=carol, comment_id=first.comment.id, reason="abuse",
                   now=NOW)
    cfg = config(port, digest_interval_seconds=3600)
    deliver_all(db, cfg)
    [digest] = sink.messages
    assert sink.envelopes[0][1] == ["maria@news.example"]
    assert digest["Subject"] == "News: 2 new reports to review"
    text = digest.get_body(("plain",)).get_content()
    assert "[abuse ×2] on “City budget”: The budget is a disgrace." in text
    assert "https://comments.example/moderate" in text
    assert "disgrace" in digest.get_body(("html",)).get_content()

    # A report soon after waits for the end of the interval, then comes alone.
    report_comment(db, site=site, reader=bob, comment_id=second.comment.id, reason="spam",
                   now=LATER + timedelta(minutes=5))
    deliver_all(db, cfg, when=LATER + timedelta(minutes=10))
    assert len(sink.messages) == 1
    deliver_all(db, cfg, when=LATER + timedelta(minutes=61))
    assert len(sink.messages) == 2
    text = sink.messages[1].get_body(("plain",)).get_content()
    assert "cheap watches" in text and "disgrace" not in text


def test_unreachable_smtp_server_is_retried_with_backoff_then_given_up(db, site, alice):
    bob = make_reader(db, site, "bob")
    parent = post(db, site, alice)
    post(db, site, bob, "A reply.", parent_id=parent.comment.id)
    cfg = config(free_port(), max_attempts=3, backoff_seconds=60)
    t = LATER
    assert deliver_due(db, cfg, clock=lambda: t) == 1
    with db.connect() as conn:
        [job] = OutboxStore.list(conn, kind=OutboxKind.REPLY)
    assert job.status is OutboxStatus.PENDING and job.attempts == 1
    assert job.next_attempt_at == t + timedelta(seconds=60)
    assert "SMTP" in job.last_error
    assert deliver_due(db, cfg, clock=lambda: t + timedelta(seconds=59)) == 0
    assert deliver_due(db, cfg, clock=lambda: t + timedelta(seconds=60)) == 1
    with db.connect() as conn:
        job = OutboxStore.get(conn, job.id)
    assert job.next_attempt_at == t + timedelta(seconds=60 + 120)  # doubled
    assert deliver_due(db, cfg, clock=lambda: t + timedelta(seconds=180)) == 1
    with db.connect() as conn:
        job = OutboxStore.get(conn, job.id)
    assert job.status is OutboxStatus.DEAD and job.attempts == 3
    assert deliver_due(db, cfg, clock=lambda: t + timedelta(days=1)) == 0


def test_without_smtp_mail_waits_in_the_outbox(db, site, alice, smtp):
    sink, port = smtp
    bob = make_reader(db, site, "bob")
    parent = post(db, site, alice)
    post(db, site, bob, "A reply.", parent_id=parent.comment.id)
    assert deliver_all(db, config(port, smtp_host=None)) == 0
    assert deliver_all(db, config(port)) == 1
    assert len(sink.messages) == 1
