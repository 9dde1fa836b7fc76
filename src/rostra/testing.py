"""Test doubles that ship with Rostra, so plugins and the web layer test the way we do.

``FakeScorer`` follows the Scorer protocol (``rostra.moderation.scorer``) without a model::

    engine = ModerationEngine(fast=FakeScorer({"toxicity": 0.95}))
    engine.load()

``FakeExplainer`` points at every occurrence of the words it is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from rostra.domain.errors import ScorerNotLoaded
from rostra.domain.labels import LABELS

__all__ = ["FakeExplainer", "FakeScorer"]


class FakeScorer:
    """A scorer that returns fixed scores, or scores computed by a function of the text.

    ``scores`` is either a mapping ``{label: probability}`` used for every text, or a callable
    taking the (normalised) text and returning such a mapping. Labels left out score 0.0.
    Every batch it scores is recorded in ``calls``.
    """

    def __init__(
        self,
        scores: Mapping[str, float] | Callable[[str], Mapping[str, float]] | None = None,
        *,
        name: str = "fake",
        labels: tuple[str, ...] = LABELS,
    ) -> None:
        self.scores = scores if scores is not None else {}
        self.name = name
        self.labels = labels
        self.calls: list[list[str]] = []
        self._loaded = False

    def load(self) -> None:
        self._loaded = True

    def _row(self, text: str) -> list[float]:
        scores = self.scores(text) if callable(self.scores) else self.scores
        unknown = set(scores) - set(self.labels)
        if unknown:
            raise ValueError(f"FakeScorer got scores for unknown labels: {sorted(unknown)}")
        return [min(1.0, max(0.0, float(scores.get(label, 0.0)))) for label in self.labels]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if not self._loaded:
            raise ScorerNotLoaded(f"{self.name}: call load() before score()")
        self.calls.append(list(texts))
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float64)
        return np.array([self._row(text) for text in texts], dtype=np.float64)


class FakeExplainer:
    """An explainer that blames every whole-word occurrence of the given words.

    ``words`` maps a (normalised) word to the label(s) it drives, with weight 1.0::

        FakeExplainer({"idiot": "insult", "kill": ("threat", "toxicity")})
    """

    def __init__(self, words: Mapping[str, str | Sequence[str]] | None = None) -> None:
        self.words = dict(words or {})

    def explain(self, text: str, labels: Sequence[str]) -> list[tuple[str, int, int, float]]:
        wanted = set(labels)
        spans: list[tuple[str, int, int, float]] = []
        for word, word_labels in self.words.items():
            targets = (word_labels,) if isinstance(word_labels, str) else tuple(word_labels)
            for m in re.finditer(rf"(?<!\w){re.escape(word)}(?!\w)", text):
                spans.extend(
                    (label, m.start(), m.end(), 1.0) for label in targets if label in wanted
                )
        return sorted(spans, key=lambda s: (s[1], s[0]))
