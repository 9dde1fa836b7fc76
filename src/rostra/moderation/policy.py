"""Policy: per-site thresholds that turn scores and reasons into a decision.

This is the only module where threshold numbers live. The defaults (``Policy.default()``)
are explained in docs/moderation.md; sites override them with ``Policy.from_dict``.

Decision rule (first match wins):

* reject  — a banned term; or any label score >= its ``reject`` threshold; or the spam score
  >= ``spam_reject``;
* review  — a suspect term; or any label score >= its ``review`` threshold; or the spam score
  >= ``spam_review``; or more than ``max_links`` links;
* approve — otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rostra.domain.errors import InvalidInput
from rostra.domain.labels import BANNED_TERM, LABELS, SPAM, SUSPECT_TERM
from rostra.domain.moderation import Decision, Reason

__all__ = ["DEFAULT_THRESHOLDS", "TIERS", "LabelThreshold", "Policy"]

TIERS = ("fast", "accurate", "cascade")
MAX_TERMS = 20_000
MAX_TERM_LENGTH = 200


def _probability(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number between 0 and 1", field=name)
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise InvalidInput(f"{name} must be between 0 and 1, got {value!r}", field=name)
    return number


@dataclass(frozen=True, slots=True)
class LabelThreshold:
    """Scores at or above ``review`` hold a comment; at or above ``reject`` reject it."""

    review: float
    reject: float

    def __post_init__(self) -> None:
        review = _probability(self.review, "review")
        reject = _probability(self.reject, "reject")
        if review > reject:
            raise InvalidInput(
                f"review threshold {review} is above the reject threshold {reject}",
                field="review",
            )
        object.__setattr__(self, "review", review)
        object.__setattr__(self, "reject", reject)


# Scores are calibrated probabilities. Labels that hurt most when they slip through (threats,
# identity attacks, severe toxicity) go to review early; rejecting without a human needs a
# confident model everywhere. Profanity alone (obscene) is reviewed late: news sites differ.
DEFAULT_THRESHOLDS: Mapping[str, LabelThreshold] = MappingProxyType(
    {
        "toxicity": LabelThreshold(review=0.5, reject=0.9),
        "severe_toxicity": LabelThreshold(review=0.3, reject=0.8),
        "obscene": LabelThreshold(review=0.6, reject=0.95),
        "threat": LabelThreshold(review=0.3, reject=0.85),
        "insult": LabelThreshold(review=0.5, reject=0.9),
        "identity_attack": LabelThreshold(review=0.3, reject=0.85),
    }
)


def _terms(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"{name} must be a list of strings", field=name)
    if len(value) > MAX_TERMS:
        raise InvalidInput(f"{name} holds more than {MAX_TERMS} terms", field=name)
    terms: list[str] = []
    for term in value:
        if not isinstance(term, str):
            raise InvalidInput(f"{name} must be a list of strings", field=name)
        term = " ".join(term.split())
        if not term:
            continue
        if len(term) > MAX_TERM_LENGTH:
            raise InvalidInput(
                f"{name}: a term is longer than {MAX_TERM_LENGTH} characters", field=name
            )
        terms.append(term)
    return tuple(dict.fromkeys(terms))


@dataclass(frozen=True, slots=True)
class Policy:
    """A site's moderation settings. Build with ``Policy.default()`` or ``Policy.from_dict``."""

    thresholds: Mapping[str, LabelThreshold] = field(
        default_factory=lambda: DEFAULT_THRESHOLDS, hash=False
    )
    banned_terms: tuple[str, ...] = ()
    suspect_terms: tuple[str, ...] = ()
    use_default_wordlist: bool = True
    spam_review: float = 0.5
    spam_reject: float = 0.9
    max_links: int = 3
    tier: str = "cascade"

    def __post_init__(self) -> None:
        if not isinstance(self.thresholds, Mapping):
            raise InvalidInput("thresholds must map each label to its thresholds")
        unknown = set(self.thresholds) - set(LABELS)
        if unknown:
            raise InvalidInput(
                f"unknown labels in thresholds: {sorted(unknown)}", field="thresholds"
            )
        missing = [label for label in LABELS if label not in self.thresholds]
        if missing:
            raise InvalidInput(f"thresholds missing for: {missing}", field="thresholds")
        for label, threshold in self.thresholds.items():
            if not isinstance(threshold, LabelThreshold):
                raise InvalidInput(f"thresholds[{label!r}] is not a LabelThreshold")
        object.__setattr__(
            self,
            "thresholds",
            MappingProxyType({label: self.thresholds[label] for label in LABELS}),
        )
        object.__setattr__(self, "banned_terms", _terms(self.banned_terms, "banned_terms"))
        object.__setattr__(self, "suspect_terms", _terms(self.suspect_terms, "suspect_terms"))
        if not isinstance(self.use_default_wordlist, bool):
            raise InvalidInput(
                "use_default_wordlist must be true or false", field="use_default_wordlist"
            )
        spam_review = _probability(self.spam_review, "spam_review")
        spam_reject = _probability(self.spam_reject, "spam_reject")
        if spam_review > spam_reject:
            raise InvalidInput("spam_review is above spam_reject", field="spam_review")
        object.__setattr__(self, "spam_review", spam_review)
        object.__setattr__(self, "spam_reject", spam_reject)
        if isinstance(self.max_links, bool) or not isinstance(self.max_links, int):
            raise InvalidInput("max_links must be a whole number", field="max_links")
        if not 0 <= self.max_links <= 1000:
            raise InvalidInput("max_links must be between 0 and 1000", field="max_links")
        if self.tier not in TIERS:
            raise InvalidInput(f"tier must be one of {', '.join(TIERS)}", field="tier")

    # --- construction and serialisation --------------------------------------------------

    @classmethod
    def default(cls) -> Policy:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": {
                label: {"review": t.review, "reject": t.reject}
                for label, t in self.thresholds.items()
            },
            "banned_terms": list(self.banned_terms),
            "suspect_terms": list(self.suspect_terms),
            "use_default_wordlist": self.use_default_wordlist,
            "spam_review": self.spam_review,
            "spam_reject": self.spam_reject,
            "max_links": self.max_links,
            "tier": self.tier,
        }

    @classmethod
    def from_dict(cls, data: object) -> Policy:
        """Build a policy from JSON-like data; missing keys and labels keep their defaults.

        Raises ``InvalidInput`` naming the field on unknown keys, wrong types or ranges.
        """
        if not isinstance(data, Mapping):
            raise InvalidInput("a policy must be an object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InvalidInput(f"unknown policy settings: {sorted(map(str, unknown))}")
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k != "thresholds"}
        if "thresholds" in data:
            kwargs["thresholds"] = _thresholds_from(data["thresholds"], DEFAULT_THRESHOLDS)
        return cls(**kwargs)

    def with_changes(self, **changes: Any) -> Policy:
        """A copy with some settings changed; ``thresholds`` may name only some labels."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise InvalidInput(f"unknown policy settings: {sorted(unknown)}")
        if "thresholds" in changes:
            changes["thresholds"] = _thresholds_from(changes["thresholds"], self.thresholds)
        return dataclasses.replace(self, **changes)

    # --- the decision ------------------------------------------------------------------

    def decide(
        self,
        scores: Mapping[str, float],
        reasons: Sequence[Reason],
        spam: Mapping[str, float],
    ) -> tuple[Decision, tuple[Reason, ...]]:
        """Decide from label scores, evidence reasons and spam signals.

        ``spam`` holds the signals of ``rostra.moderation.spam`` plus the combined score
        under ``"spam"``. The returned reasons are the given ones plus one ``"policy"`` reason
        per label (or spam) whose score crossed a threshold, its weight the score.
        """
        reject = any(r.label == BANNED_TERM for r in reasons)
        review = any(r.label == SUSPECT_TERM for r in reasons)
        crossed: list[Reason] = []
        for label, threshold in self.thresholds.items():
            score = float(scores.get(label, 0.0))
            if score >= threshold.reject:
                reject = True
            elif score >= threshold.review:
                review = True
            else:
                continue
            crossed.append(Reason(label, 0, 0, "", score, source="policy"))
        spam_score = float(spam.get(SPAM, 0.0))
        if spam_score >= self.spam_reject:
            reject = True
        elif spam_score >= self.spam_review:
            review = True
        too_many_links = spam.get("link_count", 0) > self.max_links
        if too_many_links:
            review = True
        if spam_score >= self.spam_review or too_many_links:
            crossed.append(Reason(SPAM, 0, 0, "", spam_score, source="policy"))
        decision = Decision.REJECT if reject else Decision.REVIEW if review else Decision.APPROVE
        return decision, tuple(reasons) + tuple(crossed)


def _thresholds_from(
    value: object, base: Mapping[str, LabelThreshold]
) -> Mapping[str, LabelThreshold]:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            "thresholds must be an object of label: {review, reject}", field="thresholds"
        )
    merged = dict(base)
    for label, item in value.items():
        if label not in LABELS:
            raise InvalidInput(f"unknown label in thresholds: {label!r}", field="thresholds")
        if isinstance(item, LabelThreshold):
            merged[label] = item
            continue
        if not isinstance(item, Mapping) or set(item) - {"review", "reject"}:
            raise InvalidInput(
                f"thresholds[{label!r}] must be an object with review and reject",
                field=f"thresholds.{label}",
            )
        current = merged[label]
        try:
            merged[label] = LabelThreshold(
                review=item.get("review", current.review),
                reject=item.get("reject", current.reject),
            )
        except InvalidInput as exc:
            raise InvalidInput(
                f"thresholds[{label!r}]: {exc.message}", field=f"thresholds.{label}"
            ) from None
    return merged
