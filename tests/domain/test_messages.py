"""Notification texts, unsubscribe tokens, webhook signatures and the retry schedule."""

import pytest

from rostra.domain.errors import InvalidInput
from rostra.domain.messages import (
    Message,
    ReportLine,
    backoff_seconds,
    read_unsubscribe_token,
    reply_message,
    report_digest_message,
    unsubscribe_token,
    verify_webhook_signature,
    webhook_signature,
)

SECRET = "messages-test-secret-0123456789"


def test_unsubscribe_token_names_the_author_and_resists_tampering():
    token = unsubscribe_token(SECRET, 42)
    assert read_unsubscribe_token(SECRET, token) == 42
    with pytest.raises(InvalidInput):
        read_unsubscribe_token("another-secret-0123456789", token)
    with pytest.raises(InvalidInput):
        read_unsubscribe_token(SECRET, token[:-2] + ("A" if token[-1] != "A" else "B") + "x")


def test_signature_covers_timestamp_and_body_and_expires():
    body = b'{"type":"comment.created"}'
    header = webhook_signature("s3cret-0123456789", 1_800_000_000, body)
    assert header.startswith("t=1800000000,v1=")
    assert verify_webhook_signature("s3cret-0123456789", header, body, now=1_800_000_010)
    assert not verify_webhook_signature("s3cret-0123456789", header, body + b" ",
                                        now=1_800_000_010)
    forged = header.replace("t=1800000000", "t=1800000500")
    assert not verify_webhook_signature("s3cret-0123456789", forged, body, now=1_800_000_500)
    assert not verify_webhook_signature("s3cret-0123456789", header, body, now=1_800_001_000)
    assert not verify_webhook_signature("s3cret-0123456789", "garbage", body, now=0)


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_seconds(n, base=30, cap=200) for n in (1, 2, 3, 4)] == [30, 60, 120, 200]


def test_reply_message_escapes_html_and_carries_unsubscribe_headers():
    message = reply_message(
        to="a@example.org", recipient="Ann", replier="<script>x</script>", story_title="Budget",
        comment_url="https://news.example/a#comment-3", reply_text="I *disagree* <img src=x>",
        unsubscribe_url="https://c.example/api/v1/unsubscribe/tok",
    )
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html
    assert "> I *disagree* <img src=x>" in message.text
    assert message.headers["List-Unsubscribe"] == "<https://c.example/api/v1/unsubscribe/tok>"
    assert Message.from_dict(message.to_dict()) == message


def test_digest_counts_reports():
    lines = [ReportLine(1, "abuse", "Rude words", "Budget", count=3),
             ReportLine(2, "spam", "Buy now", "Roads")]
    message = report_digest_message(to="m@example.org", site_name="News", reports=lines,
                                    queue_url="https://c.example/moderate")
    assert message.subject == "News: 4 new reports to review"
    assert "[abuse ×3] on “Budget”: Rude words" in message.text
    assert "<li><strong>spam</strong> on “Roads”: Buy now</li>" in message.html
