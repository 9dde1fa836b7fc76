"""Policy: decisions from scores, reasons and spam; validation of site settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rostra.domain.errors import InvalidInput
from rostra.domain.labels import BANNED_TERM, LABELS, SPAM, SUSPECT_TERM
from rostra.domain.moderation import Decision, Reason
from rostra.moderation.policy import LabelThreshold, Policy

QUIET = {label: 0.01 for label in LABELS}


def decide(scores=None, reasons=(), spam=None, policy=None):
    policy = policy or Policy.default()
    return policy.decide({**QUIET, **(scores or {})}, list(reasons), spam or {})


def test_low_scores_are_approved_without_policy_reasons() -> None:
    decision, reasons = decide()
    assert decision is Decision.APPROVE
    assert reasons == ()


def test_label_at_review_threshold_holds_for_review() -> None:
    decision, reasons = decide({"insult": 0.5})
    assert decision is Decision.REVIEW
    assert [(r.label, r.source, r.weight) for r in reasons] == [("insult", "policy", 0.5)]


def test_label_at_reject_threshold_rejects() -> None:
    decision, reasons = decide({"threat": 0.85, "toxicity": 0.6})
    assert decision is Decision.REJECT
    assert {r.label for r in reasons} == {"threat", "toxicity"}


def test_banned_term_rejects_even_with_low_scores() -> None:
    term = Reason(BANNED_TERM, 4, 8, "xyzz", 1.0, source="wordlist")
    decision, reasons = decide(reasons=[term])
    assert decision is Decision.REJECT
    assert reasons == (term,)


def test_suspect_term_holds_for_review() -> None:
    term = Reason(SUSPECT_TERM, 0, 4, "damn", 1.0, source="wordlist")
    assert decide(reasons=[term])[0] is Decision.REVIEW


def test_spam_score_reviews_then_rejects() -> None:
    assert decide(spam={SPAM: 0.6})[0] is Decision.REVIEW
    decision, reasons = decide(spam={SPAM: 0.95})
    assert decision is Decision.REJECT
    assert [r.label for r in reasons] == [SPAM]


def test_too_many_links_holds_for_review() -> None:
    assert decide(spam={SPAM: 0.1, "link_count": 3})[0] is Decision.APPROVE
    assert decide(spam={SPAM: 0.1, "link_count": 4})[0] is Decision.REVIEW


def test_custom_thresholds_change_the_decision() -> None:
    strict = Policy.default().with_changes(thresholds={"obscene": {"review": 0.1, "reject": 0.2}})
    assert decide({"obscene": 0.25}, policy=strict)[0] is Decision.REJECT
    assert decide({"obscene": 0.25})[0] is Decision.APPROVE
    # Other labels keep their defaults.
    assert strict.thresholds["insult"] == Policy.default().thresholds["insult"]


def test_dict_round_trip() -> None:
    policy = Policy.default().with_changes(banned_terms=("foo bar",), tier="fast", max_links=1)
    assert Policy.from_dict(policy.to_dict()) == policy
    assert list(policy.to_dict()["thresholds"]) == list(LABELS)


def test_from_dict_fills_missing_settings_with_defaults() -> None:
    policy = Policy.from_dict({"thresholds": {"insult": {"review": 0.2}}})
    assert policy.thresholds["insult"] == LabelThreshold(review=0.2, reject=0.9)
    assert policy.tier == "cascade"


def test_terms_are_trimmed_and_deduplicated() -> None:
    policy = Policy.from_dict({"banned_terms": ["  foo   bar ", "foo bar", ""]})
    assert policy.banned_terms == ("foo bar",)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"thresholds": {"insult": {"review": 0.9, "reject": 0.5}}}, "thresholds.insult"),
        ({"thresholds": {"insult": {"review": 1.5}}}, "thresholds.insult"),
        ({"thresholds": {"insult": {"review": "high"}}}, "thresholds.insult"),
        ({"thresholds": {"insult": {"review": float("nan")}}}, "thresholds.insult"),
        ({"thresholds": {"insult": {"warn": 0.1}}}, "thresholds.insult"),
        ({"thresholds": {"rudeness": {"review": 0.1}}}, "thresholds"),
        ({"thresholds": [0.5]}, "thresholds"),
        ({"banned_terms": "idiot"}, "banned_terms"),
        ({"banned_terms": ["ok", 3]}, "banned_terms"),
        ({"banned_terms": ["x" * 201]}, "banned_terms"),
        ({"use_default_wordlist": "yes"}, "use_default_wordlist"),
        ({"spam_review": -0.1}, "spam_review"),
        ({"spam_review": 0.9, "spam_reject": 0.5}, "spam_review"),
        ({"max_links": 2.5}, "max_links"),
        ({"max_links": True}, "max_links"),
        ({"max_links": -1}, "max_links"),
        ({"tier": "slow"}, "tier"),
    ],
)
def test_from_dict_rejects_bad_data_naming_the_field(data: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Policy.from_dict(data)
    assert info.value.extra.get("field") == field


@pytest.mark.parametrize("data", [None, [], "policy", {"colour": "red"}])
def test_from_dict_rejects_non_policies(data: object) -> None:
    with pytest.raises(InvalidInput):
        Policy.from_dict(data)


def test_with_changes_validates() -> None:
    with pytest.raises(InvalidInput):
        Policy.default().with_changes(spam_reject=2)
    with pytest.raises(InvalidInput):
        Policy.default().with_changes(colour="red")


def test_policy_is_immutable() -> None:
    policy = Policy.default()
    with pytest.raises(AttributeError):
        policy.tier = "fast"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.thresholds["insult"] = LabelThreshold(0.1, 0.2)  # type: ignore[index]


def test_documented_defaults_match_the_code() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "moderation.md").read_text(encoding="utf-8")
    table = dict(
        (label, LabelThreshold(float(review), float(reject)))
        for label, review, reject in re.findall(
            r"^\| (\w+) \| ([\d.]+) \| ([\d.]+) \|$", docs, re.M
        )
    )
    assert table == dict(Policy.default().thresholds)
    defaults = Policy.default()
    for name in ("spam_review", "spam_reject", "max_links"):
        assert f"| `{name}` | {getattr(defaults, name)} |" in docs
