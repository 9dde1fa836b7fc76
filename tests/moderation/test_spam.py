"""Spam signals and their combined score."""

from __future__ import annotations

import pytest

from rostra.domain.labels import SPAM
from rostra.domain.moderation import AuthorContext
from rostra.moderation.spam import link_domains, link_reasons, spam_score, spam_signals

ALICE = AuthorContext(approved_count=12)  # a regular
NEWBIE = AuthorContext()


def test_ordinary_comment_has_no_spam_signals() -> None:
    signals = spam_signals("Good piece. The council should publish the full report, e.g. online.")
    assert signals["link_count"] == 0
    assert spam_score(signals) == 0.0


def test_links_are_counted_and_their_domains_listed() -> None:
    text = "See https://Example.com/a?b=1, www.spam.biz and cheap-pills.ru/buy."
    assert spam_signals(text)["link_count"] == 3
    assert link_domains(text) == ["example.com", "spam.biz", "cheap-pills.ru"]


def test_link_reasons_span_each_link_without_trailing_punctuation() -> None:
    text = "Go to www.spam.biz. Now!"
    (reason,) = link_reasons(text)
    assert (reason.label, reason.source, reason.text) == (SPAM, "spam", "www.spam.biz")
    assert text[reason.start : reason.end] == "www.spam.biz"


def test_links_weigh_more_from_new_authors() -> None:
    text = "sources: example.com/a example.org/b"
    assert spam_score(spam_signals(text, NEWBIE)) > spam_score(spam_signals(text, ALICE))
    assert spam_score(spam_signals(text, NEWBIE)) >= 0.5


def test_shouting_counts_only_with_enough_letters() -> None:
    assert spam_signals("THIS IS A DISGRACE TO ALL")["caps_ratio"] == 1.0
    assert spam_signals("NO WAY")["caps_ratio"] == 0.0
    assert spam_score(spam_signals("THIS IS A DISGRACE TO ALL")) == pytest.approx(0.6)


def test_repeated_characters_and_words() -> None:
    assert spam_signals("heyyyyyyyyyyyyyyyy")["repeated_chars"] > 0.8
    assert spam_signals("buy buy buy buy buy buy buy buy")["repeated_words"] == pytest.approx(0.875)
    assert spam_signals("a b c d e")["repeated_words"] == 0.0  # too short to judge


def test_near_duplicate_of_recent_comment() -> None:
    ctx = AuthorContext(recent_texts=("Visit my page for great offers today",), approved_count=3)
    signals = spam_signals("visit my page for GREAT offers today!", ctx)
    assert signals["near_duplicate"] > 0.8
    assert spam_score(signals) >= 0.5
    assert spam_signals("An unrelated thought about trams.", ctx)["near_duplicate"] < 0.2


def test_posting_rate() -> None:
    calm = spam_signals("hello there", AuthorContext(comments_last_hour=3, approved_count=5))
    busy = spam_signals("hello there", AuthorContext(comments_last_hour=40, approved_count=5))
    assert spam_score(calm) == 0.0
    assert spam_score(busy) == pytest.approx(0.8)


def test_signals_add_up_but_stay_below_one() -> None:
    text = "BUY NOW BUY NOW http://a.ru http://b.ru http://c.ru http://d.ru"
    ctx = AuthorContext(recent_texts=(text,), comments_last_hour=60)
    score = spam_score(spam_signals(text, ctx))
    assert 0.9 <= score < 1.0


@pytest.mark.parametrize("text", ["", " ", "\x00", "🙂" * 50])
def test_odd_texts_give_finite_signals(text: str) -> None:
    signals = spam_signals(text, NEWBIE)
    assert all(v >= 0.0 for v in signals.values())
    assert 0.0 <= spam_score(signals) <= 1.0
