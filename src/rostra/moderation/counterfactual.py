"""Counterfactual identity blending: naming a group is not by itself a reason to flag.

The labelled data that trained both tiers mentions some groups ("gay", "trans", "muslim",
"white") mostly in hateful posts, so the models learned the names themselves as evidence of
toxicity: "I am trans" scored higher than many insults. A comment that names a group is
therefore scored twice — as written, and with every group term replaced by the neutral word
"local" — and the two are blended in log-odds::

    logit(p) = weight * logit(p_as_written) + (1 - weight) * logit(p_counterfactual)

An attack keeps its score (its verbs and insults are still there: "we should get rid of the
locals" is no kinder), a friendly mention loses the part that came from the group's name. With
``weight`` 0.3 the share of benign bias_madlibs templates flagged fell from up to 100 % to
below 3 % for every term, for a loss of about 0.01-0.04 ROC-AUC on the hate-speech
sets (ToxiGen, Stormfront, ETHOS) and 0.001-0.005 on OLID (docs/moderation.md has the numbers and
says how the weight and the neutral word were chosen).

The terms live in ``data/identity_terms_en.txt`` (a plural "s" is matched automatically).
Texts are the normalised ones the scorers see (lower case).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_WEIGHT",
    "BlendedScorer",
    "IdentityBlend",
    "counterfactual",
    "identity_pattern",
    "identity_terms",
]

DEFAULT_WEIGHT = 0.3
NEUTRAL = "local"
_TERMS_FILE = Path(__file__).parent / "data" / "identity_terms_en.txt"


def identity_terms(path: Path = _TERMS_FILE) -> tuple[str, ...]:
    """The group terms of a list file: one per line, ``#`` starts a comment."""
    terms = []
    for line in path.read_text(encoding="utf-8").splitlines():
        term = line.split("#", 1)[0].strip().lower()
        if term:
            terms.append(term)
    return tuple(dict.fromkeys(terms))


@lru_cache(maxsize=4)
def identity_pattern(terms: tuple[str, ...] | None = None) -> re.Pattern[str]:
    """One regular expression for all terms, whole words, longest first, optional plural."""
    chosen = identity_terms() if terms is None else terms
    alternatives = "|".join(
        re.escape(t).replace(r"\ ", r"[\s-]+") for t in sorted(chosen, key=len, reverse=True)
    )
    return re.compile(rf"(?<![\w'])(?:{alternatives})(?P<plural>e?s)?(?![\w'])")


def counterfactual(text: str, pattern: re.Pattern[str] | None = None) -> str | None:
    """``text`` with every group term replaced by the neutral word; None when it has none."""
    pattern = pattern or identity_pattern()
    if pattern.search(text) is None:
        return None
    return pattern.sub(lambda m: NEUTRAL + ("s" if m.group("plural") else ""), text)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    out: np.ndarray = np.log(q / (1 - q))
    return out


class IdentityBlend:
    """Wraps a ``score(texts) -> (n, labels)`` function with the blend of the module docstring.

    ``weight`` 1.0 turns the blend off (scores as written).
    """

    def __init__(self, weight: float = DEFAULT_WEIGHT, pattern: re.Pattern[str] | None = None):
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"identity blend weight must be in [0, 1], got {weight}")
        self.weight = float(weight)
        self.pattern = pattern or identity_pattern()

    def score(self, score: Callable[[list[str]], np.ndarray], texts: Sequence[str]) -> np.ndarray:
        """Scores of ``texts``: blended where a text names a group, as written elsewhere."""
        texts = list(texts)
        if self.weight >= 1.0 or not texts:
            return np.asarray(score(texts))
        swapped: list[tuple[int, str]] = []
        for i, text in enumerate(texts):
            other = counterfactual(text, self.pattern)
            if other is not None:
                swapped.append((i, other))
        if not swapped:
            return np.asarray(score(texts))
        both = np.asarray(score(texts + [other for _, other in swapped]))
        out = np.array(both[: len(texts)], copy=True)
        rows = np.array([i for i, _ in swapped])
        z = self.weight * _logit(out[rows]) + (1 - self.weight) * _logit(both[len(texts) :])
        out[rows] = (1.0 / (1.0 + np.exp(-z))).astype(out.dtype)
        return out


class BlendedScorer:
    """A Scorer whose scores are blended as the engine blends them (for evaluation)."""

    def __init__(self, scorer: Any, weight: float = DEFAULT_WEIGHT) -> None:
        self.scorer = scorer
        self.blend = IdentityBlend(weight)
        self.name = getattr(scorer, "name", type(scorer).__name__)
        self.labels = scorer.labels

    def load(self) -> None:
        self.scorer.load()

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.blend.score(self.scorer.score, texts)
