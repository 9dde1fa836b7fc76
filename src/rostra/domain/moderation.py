"""What the moderation engine says about a comment, and what a moderator does about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Decision(StrEnum):
    """What the policy decides for a new comment."""

    APPROVE = "approve"
    REVIEW = "review"  # held for a moderator
    REJECT = "reject"


class ModerationAction(StrEnum):
    """What a moderator can do to a comment."""

    APPROVE = "approve"
    REJECT = "reject"
    SPAM = "spam"
    FEATURE = "feature"
    UNFEATURE = "unfeature"


@dataclass(frozen=True, slots=True)
class Reason:
    """One piece of evidence: a span of the ORIGINAL text (or the whole comment) and its label.

    ``start``/``end`` are offsets into the text as the author wrote it; ``start == end == 0``
    with an empty ``text`` marks a reason that has no span (a spam rate, say).
    """

    label: str
    start: int
    end: int
    text: str
    weight: float
    source: str = "model"  # "model", "wordlist", "spam", "policy"

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "weight": round(self.weight, 4),
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class AuthorContext:
    """What the caller knows about the author; the engine never looks anything up itself."""

    recent_texts: tuple[str, ...] = ()
    comments_last_hour: int = 0
    approved_count: int = 0


@dataclass(frozen=True, slots=True)
class ModerationResult:
    """The engine's answer for one text: scores per label, the decision and its reasons."""

    scores: dict[str, float]
    decision: Decision
    reasons: tuple[Reason, ...] = ()
    spam: dict[str, float] = field(default_factory=dict)
    tier: str = "fast"

    def to_dict(self) -> dict[str, object]:
        return {
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "decision": self.decision.value,
            "reasons": [r.to_dict() for r in self.reasons],
            "spam": {k: round(v, 4) for k, v in self.spam.items()},
            "tier": self.tier,
        }
