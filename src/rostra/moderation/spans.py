"""Explanations: which words of a comment drove each label.

A word's toxicity is a logistic blend of (1) a lexicon learned from the CC0 Toxic Spans
annotations — the smoothed share of a word's occurrences that most raters marked, with the
share of each span type (insult, threat, identity attack, obscene) — of its neighbours' lexicon
scores, and (2) the word's share of the logits of an n-gram model. That model is the fast tier's
own, or, where ``explainer/`` sits beside ``spans.json``, a sibling with the same features
trained on the raters' labels alone: the shipped fast tier also learned from the accurate
tier's scores, which spread toxicity over the words around an insult, and its word shares
marked spans worse (SemEval test span F1 0.626 against 0.656). Words at or above the tuned
threshold become spans; neighbouring toxic words separated only by spaces merge into one span.
``rostra.moderation.training.train_spans`` fits ``spans.json`` (it lives beside the fast model).

Offsets are in the normalised text given to :meth:`SpanExplainer.explain`; map them to the
original comment with ``normalize(...).to_original``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from rostra.domain.errors import InvalidInput, ScorerNotLoaded
from rostra.domain.labels import IDENTITY_ATTACK, INSULT, LABELS, OBSCENE, THREAT
from rostra.moderation.fast import DEFAULT_MODEL_DIR, FastScorer, sigmoid

__all__ = ["SPAN_TYPES", "SpanExplainer", "Span", "word_features", "word_model_dir", "words_of"]

#: Labels a span type can point at; toxicity and severe_toxicity take every toxic word.
SPAN_TYPES: tuple[str, ...] = (INSULT, THREAT, IDENTITY_ATTACK, OBSCENE)

Span = tuple[str, int, int, float]  # (label, start, end, weight)

# Word characters: ASCII letters and digits, "*" (masked letters) and everything beyond ASCII;
# an apostrophe belongs to a word only between word characters ("don't", not "'quoted'").
_WORD_CHAR = np.zeros(128, dtype=bool)
for _c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*":
    _WORD_CHAR[ord(_c)] = True
_APOSTROPHE = ord("'")
_N_FEATURES = 9
#: Folder (beside ``spans.json``) of the explainer's own n-gram model, when it has one.
EXPLAINER_DIR = "explainer"


def word_model_dir(directory: Path) -> Path:
    """Where the n-gram model whose word shares feed the explainer lives."""
    own = Path(directory) / EXPLAINER_DIR
    return own if (own / "weights.npz").is_file() else Path(directory)


def words_of(text: str) -> list[tuple[int, int]]:
    """Word offsets in a normalised text (letters, digits, ``*``, inner apostrophes)."""
    starts, ends, _indptr = words_of_many([text])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def words_of_many(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`words_of` for a batch: starts and ends (relative to each text), and ``indptr``
    (text i owns words ``indptr[i]:indptr[i + 1]``), found with array operations."""
    joined = "\n".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    is_char = np.where(cps < 128, _WORD_CHAR[np.minimum(cps, 127)], True)
    in_run = is_char | (cps == _APOSTROPHE)
    edges = np.diff(np.concatenate(([False], in_run, [False])).astype(np.int8))
    run_start, run_end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    # A word is a run of word characters and apostrophes without its outer apostrophes.
    chars = np.flatnonzero(is_char)
    first = np.searchsorted(chars, run_start)
    last = np.searchsorted(chars, run_end) - 1
    keep = first <= last
    starts, ends = chars[first[keep]], chars[last[keep]] + 1
    text_start = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) + 1 for t in texts], out=text_start[1:])
    doc = np.searchsorted(text_start, starts, side="right") - 1
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=len(texts)), out=indptr[1:])
    return starts - text_start[doc], ends - text_start[doc], indptr


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
    lex = np.array([_logit(lexicon[w][0]) if w in lexicon else _logit(prior) for w in words])
    seen = np.array([1.0 if w in lexicon else 0.0 for w in words])
    return _features(lex, seen, fast, np.array([0, len(words)], dtype=np.int64))


def _features(
    lex: np.ndarray, seen: np.ndarray, fast: np.ndarray, indptr: np.ndarray
) -> np.ndarray:
    """:func:`word_features` for the words of many posts; post i owns ``indptr[i]:indptr[i+1]``."""
    total = lex.shape[0]
    x = np.zeros((total, _N_FEATURES), dtype=np.float64)
    if total == 0:
        return x
    counts = np.diff(indptr)
    doc = np.repeat(np.arange(counts.shape[0]), counts)
    nonempty = counts > 0
    x[:, 0] = lex
    x[:, 1] = seen
    # Neighbours within the same post only.
    x[1:, 2] = lex[:-1]
    x[indptr[:-1][nonempty], 2] = 0.0
    x[:-1, 3] = lex[1:]
    x[indptr[1:][nonempty] - 1, 3] = 0.0
    x[:, 4] = fast[:, LABELS.index("toxicity")]
    x[:, 5] = fast[:, LABELS.index("insult")]
    x[:, 6] = fast[:, LABELS.index("obscene")]
    peak = np.zeros(counts.shape[0])
    peak[nonempty] = np.maximum.reduceat(lex, indptr[:-1][nonempty])
    x[:, 7] = lex - peak[doc]
    x[:, 8] = np.log1p(counts)[doc]
    return x


class SpanExplainer:
    """Finds the words behind each label; see the module docstring.

    ``fast`` shares an already loaded fast tier (the engine passes its own, so the model is in
    memory once); without it the explainer loads the fast model beside ``spans.json``. Where
    the explainer has a model of its own (``explainer/``, see the module docstring), that one
    gives the word shares and ``fast`` is not used.
    """

    name = "spans"

    def __init__(
        self, *, model_dir: str | Path | None = None, fast: FastScorer | None = None
    ) -> None:
        self.model_dir = model_dir
        self._config: dict[str, Any] | None = None
        self._fast = fast

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
            lexicon: dict[str, list[float]] = config["lexicon"]
            prior = float(config["prior"])
            # Each lexicon word's row in three tables (row 0: a word the lexicon does not
            # know), so that a batch's words are looked up in one pass: its logit, whether the
            # lexicon knows it, and whether its share counts as evidence on its own.
            words = list(lexicon)
            shares = [float(lexicon[w][0]) for w in words]
            lex_table = np.array([_logit(prior)] + [_logit(x) for x in shares], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise InvalidInput(f"cannot load the span model from {directory}: {exc}") from exc
        if coef.shape != (_N_FEATURES,):
            raise InvalidInput(f"span model in {directory} does not match this version")
        words_dir = word_model_dir(directory)
        if words_dir != directory or self._fast is None:
            self._fast = FastScorer(model_dir=words_dir)
        self._fast.load()
        self._coef = coef
        self._row = {word: i for i, word in enumerate(words, start=1)}
        self._lex_table = lex_table
        self._seen_table = np.ones(len(words) + 1, dtype=np.float64)
        self._seen_table[0] = 0.0
        self._evidence_table = np.array([False] + [x > 2 * prior for x in shares], dtype=bool)
        self._config = config

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            raise ScorerNotLoaded("SpanExplainer.explain() called before load()")
        return self._config

    @property
    def threshold(self) -> float:
        """A word's score at or above which the explainer marks it (``spans.json``)."""
        return float(self.config["threshold"])

    def word_scores(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Offsets of the words of a normalised text and each word's toxicity in [0, 1]."""
        offsets, scores, _fast = self._word_scores_many([text])[0]
        return offsets, scores

    def _word_scores_many(
        self, texts: Sequence[str]
    ) -> list[tuple[list[tuple[int, int]], np.ndarray, np.ndarray]]:
        """Per text: word offsets, word toxicity, and the words' fast-model shares (W, 6).

        All texts go through the fast model and the span regression together, so the cost
        per comment is a few dictionary look-ups, not a round of numpy calls.
        """
        config = self.config
        assert self._fast is not None
        starts, ends, indptr = words_of_many(texts)
        counts = np.diff(indptr)
        total = int(indptr[-1])
        if total == 0:
            return [([], np.zeros(0), np.zeros((0, len(LABELS)))) for _ in texts]
        f_starts, f_ends, f_indptr, contrib = self._fast.word_contributions_many(texts)
        # Place every text in one coordinate space (a text's characters after the previous
        # ones) so that words and fast-model words align with one search.
        base = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(t) + 1 for t in texts], out=base[1:])
        doc = np.repeat(np.arange(len(texts)), counts)
        w_start, w_end = starts + base[doc], ends + base[doc]
        f_doc = np.repeat(np.arange(len(texts)), np.diff(f_indptr))
        g_start, g_end = f_starts + base[f_doc], f_ends + base[f_doc]
        fast = np.zeros((total, len(LABELS)), dtype=np.float64)
        # Give each word the shares of the fast-model words it overlaps.
        lo = np.searchsorted(g_end, w_start, side="right")
        hi = np.searchsorted(g_start, w_end, side="left")
        for k in range(int((hi - lo).max(initial=0))):
            j = lo + k
            take = j < hi
            fast[take] += contrib[j[take]]

        joined = "\n".join(texts)
        words = map(joined.__getitem__, map(slice, w_start.tolist(), w_end.tolist()))
        rows = np.fromiter(map(self._row.get, words, repeat(0, total)), np.int64, total)
        lex, seen = self._lex_table[rows], self._seen_table[rows]
        evidence = self._evidence_table[rows]

        x = _features(lex, seen, fast, indptr)
        scores = sigmoid(x @ self._coef + float(config["intercept"]))
        # A word needs evidence of its own: a lexicon share above the average word's, or a
        # push towards toxicity in the fast model. Otherwise the least harmless word of a
        # clean comment would be marked just for being the post's "worst".
        evidence |= fast[:, LABELS.index("toxicity")] > 0
        scores = np.where(evidence, scores, 0.0)
        out = []
        for i in range(len(texts)):
            a, b = indptr[i], indptr[i + 1]
            offsets = list(zip(starts[a:b].tolist(), ends[a:b].tolist(), strict=True))
            out.append((offsets, scores[a:b], fast[a:b]))
        return out

    def explain(
        self, text: str, labels: Iterable[str], *, toxicity: float | None = None
    ) -> list[Span]:
        """Spans ``(label, start, end, weight)`` of ``text`` (normalised) for each label.

        ``toxicity`` (the comment's toxicity probability, when the caller has it) lets the
        explainer return nothing for comments that are clearly not toxic.
        """
        return self.explain_many([text], [list(labels)], toxicity=[toxicity])[0]

    def explain_many(
        self,
        texts: Sequence[str],
        labels: Sequence[Iterable[str]],
        *,
        toxicity: Sequence[float | None] | None = None,
    ) -> list[list[Span]]:
        """:meth:`explain` for a batch: ``labels[i]`` (and ``toxicity[i]``) go with ``texts[i]``.

        One vectorised pass over all texts; the spans are those :meth:`explain` gives.
        """
        config = self.config
        if len(labels) != len(texts) or (toxicity is not None and len(toxicity) != len(texts)):
            raise InvalidInput("explain_many needs one entry of labels (and toxicity) per text")
        gate = float(config["gate"])
        wanted: list[list[str]] = []
        for i, (text, asked) in enumerate(zip(texts, labels, strict=True)):
            known = [label for label in asked if label in LABELS]
            given = None if toxicity is None else toxicity[i]
            low = given is not None and given < gate
            wanted.append(known if known and text and not low else [])
        todo = [i for i, w in enumerate(wanted) if w]
        out: list[list[Span]] = [[] for _ in texts]
        if not todo:
            return out
        threshold = float(config["threshold"])
        type_share = float(config["type_share"])
        lexicon: dict[str, list[float]] = config["lexicon"]
        scored = self._word_scores_many([texts[i] for i in todo])
        for i, (offsets, scores, fast) in zip(todo, scored, strict=True):
            text = texts[i]
            hot = np.flatnonzero(scores >= threshold).tolist()
            spans: list[Span] = []
            for label in wanted[i]:
                if label in SPAN_TYPES:
                    k = 1 + SPAN_TYPES.index(label)
                    chosen = [
                        j
                        for j in hot
                        if (entry := lexicon.get(text[offsets[j][0] : offsets[j][1]])) is not None
                        and entry[k] >= type_share
                    ]
                    if not chosen:
                        chosen = _fast_words(fast, label)
                else:
                    chosen = hot
                spans.extend(_merge(label, text, offsets, scores, chosen))
            out[i] = spans
        return out


def _fast_words(fast: np.ndarray, label: str) -> list[int]:
    """Fallback for a label no lexicon word carries: the words that push its logit most."""
    share = fast[:, LABELS.index(label)]
    if share.size == 0 or share.max() <= 0:
        return []
    top = np.argsort(-share)[:2]
    return sorted(int(i) for i in top if share[i] >= 0.5 * share.max())


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
