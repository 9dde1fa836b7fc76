"""Explanations: which words of a comment drove each label.

A word's toxicity is a logistic blend of (1) a lexicon learned from the CC0 Toxic Spans
annotations — the smoothed share of a word's occurrences that most raters marked, with the
share of each span type (insult, threat, identity attack, obscene) — of its neighbours' lexicon
scores, and (2) the word's share of the fast model's logits. Words at or above the tuned
threshold become spans; neighbouring toxic words separated only by spaces merge into one span.
``rostra.moderation.training.train_spans`` fits ``spans.json`` (it lives beside the fast model).

Offsets are in the normalised text given to :meth:`SpanExplainer.explain`; map them to the
original comment with ``normalize(...).to_original``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rostra.domain.errors import InvalidInput, ScorerNotLoaded
from rostra.domain.labels import IDENTITY_ATTACK, INSULT, LABELS, OBSCENE, THREAT
from rostra.moderation.fast import DEFAULT_MODEL_DIR, FastScorer, sigmoid

__all__ = ["SPAN_TYPES", "SpanExplainer", "Span", "word_features", "words_of"]

#: Labels a span type can point at; toxicity and severe_toxicity take every toxic word.
SPAN_TYPES: tuple[str, ...] = (INSULT, THREAT, IDENTITY_ATTACK, OBSCENE)

Span = tuple[str, int, int, float]  # (label, start, end, weight)

_CH = "A-Za-z0-9*\u0080-\U0010ffff"
_WORD = re.compile(f"[{_CH}](?:[{_CH}']*[{_CH}])?")
_N_FEATURES = 9


def words_of(text: str) -> list[tuple[int, int]]:
    """Word offsets in a normalised text (letters, digits, ``*``, inner apostrophes)."""
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def word_features(
    words: Sequence[str],
    lexicon: dict[str, list[float]],
    prior: float,
    fast: np.ndarray,
) -> np.ndarray:
    """Per-word features: lexicon logit, neighbours' lexicon logits, fast-model shares, and
    the word's lexicon logit relative to the post's most toxic word (raters mark the worst
    words of a post, not every mildly rude one) and the post's length.

    ``fast`` is (len(words), 6): each word's share of the fast model's six logits.
    """
    n = len(words)
    lex = np.array([_logit(lexicon[w][0]) if w in lexicon else _logit(prior) for w in words])
    seen = np.array([1.0 if w in lexicon else 0.0 for w in words])
    x = np.zeros((n, _N_FEATURES), dtype=np.float64)
    if n == 0:
        return x
    x[:, 0] = lex
    x[:, 1] = seen
    x[1:, 2] = lex[:-1]
    x[:-1, 3] = lex[1:]
    x[:, 4] = fast[:, LABELS.index("toxicity")]
    x[:, 5] = fast[:, LABELS.index("insult")]
    x[:, 6] = fast[:, LABELS.index("obscene")]
    x[:, 7] = lex - lex.max()
    x[:, 8] = math.log1p(n)
    return x


class SpanExplainer:
    """Finds the words behind each label; see the module docstring."""

    name = "spans"

    def __init__(self, *, model_dir: str | Path | None = None) -> None:
        self.model_dir = model_dir
        self._config: dict[str, Any] | None = None
        self._fast: FastScorer | None = None

    def get_params(self) -> dict[str, Any]:
        return {"model_dir": None if self.model_dir is None else str(self.model_dir)}

    def load(self) -> None:
        if self._config is not None:
            return
        directory = DEFAULT_MODEL_DIR if self.model_dir is None else Path(self.model_dir)
        try:
            config = json.loads((directory / "spans.json").read_text(encoding="utf-8"))
            coef = np.asarray(config["coef"], dtype=np.float64)
            float(config["threshold"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"cannot load the span model from {directory}: {exc}") from exc
        if coef.shape != (_N_FEATURES,):
            raise InvalidInput(f"span model in {directory} does not match this version")
        fast = FastScorer(model_dir=directory)
        fast.load()
        self._fast = fast
        self._coef = coef
        self._config = config

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            raise ScorerNotLoaded("SpanExplainer.explain() called before load()")
        return self._config

    def word_scores(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Offsets of the words of a normalised text and each word's toxicity in [0, 1]."""
        config = self.config
        assert self._fast is not None
        offsets = words_of(text)
        if not offsets:
            return [], np.zeros(0)
        fast_offsets, contrib = self._fast.word_contributions(text)
        fast = _align(offsets, fast_offsets, contrib)
        words = [text[a:b] for a, b in offsets]
        prior = float(config["prior"])
        lexicon: dict[str, list[float]] = config["lexicon"]
        x = word_features(words, lexicon, prior, fast)
        scores = sigmoid(x @ self._coef + float(config["intercept"]))
        # A word needs evidence of its own: a lexicon share above the average word's, or a
        # push towards toxicity in the fast model. Otherwise the least harmless word of a
        # clean comment would be marked just for being the post's "worst".
        evidence = np.array([lexicon.get(w, (0.0,))[0] > 2 * prior for w in words]) | (
            fast[:, LABELS.index("toxicity")] > 0
        )
        return offsets, np.where(evidence, scores, 0.0)

    def explain(
        self, text: str, labels: Iterable[str], *, toxicity: float | None = None
    ) -> list[Span]:
        """Spans ``(label, start, end, weight)`` of ``text`` (normalised) for each label.

        ``toxicity`` (the comment's toxicity probability, when the caller has it) lets the
        explainer return nothing for comments that are clearly not toxic.
        """
        config = self.config
        wanted = [label for label in labels if label in LABELS]
        if not wanted or not text:
            return []
        if toxicity is not None and toxicity < float(config["gate"]):
            return []
        offsets, scores = self.word_scores(text)
        threshold = float(config["threshold"])
        hot = [i for i, s in enumerate(scores) if s >= threshold]
        lexicon: dict[str, list[float]] = config["lexicon"]
        out: list[Span] = []
        for label in wanted:
            if label in SPAN_TYPES:
                k = 1 + SPAN_TYPES.index(label)
                chosen = [
                    i
                    for i in hot
                    if (entry := lexicon.get(text[offsets[i][0] : offsets[i][1]])) is not None
                    and entry[k] >= float(config["type_share"])
                ]
                if not chosen:
                    chosen = self._fast_words(text, offsets, label)
            else:
                chosen = hot
            out.extend(self._merge(label, text, offsets, scores, chosen))
        return out

    def _fast_words(self, text: str, offsets: list[tuple[int, int]], label: str) -> list[int]:
        """Fallback for a label no lexicon word carries: the words that push its logit most."""
        assert self._fast is not None
        fast_offsets, contrib = self._fast.word_contributions(text)
        share = _align(offsets, fast_offsets, contrib)[:, LABELS.index(label)]
        if share.size == 0 or share.max() <= 0:
            return []
        top = np.argsort(-share)[:2]
        return sorted(int(i) for i in top if share[i] >= 0.5 * share.max())

    @staticmethod
    def _merge(
        label: str,
        text: str,
        offsets: list[tuple[int, int]],
        scores: np.ndarray,
        chosen: list[int],
    ) -> list[Span]:
        spans: list[Span] = []
        for i in sorted(chosen):
            start, end = offsets[i]
            if spans and text[spans[-1][2] : start].isspace():
                prev = spans[-1]
                spans[-1] = (label, prev[1], end, max(prev[3], float(scores[i])))
            else:
                spans.append((label, start, end, float(scores[i])))
        return spans


def _align(
    offsets: list[tuple[int, int]], fast_offsets: list[tuple[int, int]], contrib: np.ndarray
) -> np.ndarray:
    """Give each word the fast-model shares of the fast-model words it overlaps."""
    out = np.zeros((len(offsets), len(LABELS)), dtype=np.float64)
    j = 0
    for i, (a, b) in enumerate(offsets):
        while j < len(fast_offsets) and fast_offsets[j][1] <= a:
            j += 1
        k = j
        while k < len(fast_offsets) and fast_offsets[k][0] < b:
            out[i] += contrib[k]
            k += 1
    return out
