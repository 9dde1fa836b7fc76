"""Training the span explainer from the CC0 Toxic Spans annotations.

1. Gold words: a word of a raw post (outside SemEval trial/test) is toxic when most of its
   characters were marked by more than half of the post's raters (the SemEval rule).
2. Lexicon: per normalised word, the smoothed share of toxic occurrences, and among the raters'
   typed spans over it, the share of each type.
3. Blend: a logistic regression over per-word features (``spans.word_features``) with
   out-of-fold lexicon scores, so the blend does not trust the lexicon more than it deserves.
4. The threshold and the toxicity gate are chosen on posts neither model learned from: the
   fast tier's fixed held-out posts (with a span model fitted without them) and the SemEval
   trial split, by the middle of the best stretch of thresholds rather than its single best
   point (``choose_threshold``); the shipped span model is then fitted on every post outside
   trial and test.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rostra.domain.labels import LABELS
from rostra.moderation.fast import FastScorer
from rostra.moderation.normalize import normalize
from rostra.moderation.spans import (
    SPAN_TYPES,
    SpanExplainer,
    _align,
    _merge,
    word_features,
    word_model_dir,
    words_of,
)
from rostra.moderation.training.datasets import (
    HOLDOUT,
    RatedPost,
    in_holdout,
    load_span_annotations,
    load_span_split,
)

__all__ = ["span_f1", "predict_offsets", "train_spans"]

Step = Callable[[str], None]
_SMOOTH = 2.0
_MIN_COUNT = 2
_FOLDS = 5


def span_f1(predicted: set[int], gold: set[int]) -> float:
    """SemEval-2021 Task 5 per-post F1: 1 when both are empty, 0 when only one is."""
    if not gold:
        return 1.0 if not predicted else 0.0
    if not predicted:
        return 0.0
    tp = len(predicted & gold)
    if tp == 0:
        return 0.0
    precision = tp / len(predicted)
    recall = tp / len(gold)
    return 2 * precision * recall / (precision + recall)


def _gold_words(post: RatedPost) -> tuple[str, list[str], list[int], list[Counter[str]]]:
    """Normalised text, its words, 1/0 per word, and the raters' span types over each word."""
    norm = normalize(post.text)
    gold = post.majority_offsets()
    offsets = words_of(norm.text)
    words, labels, types = [], [], []
    for a, b in offsets:
        oa, ob = norm.to_original(a, b)
        chars = [i for i in range(oa, ob) if not post.text[i].isspace()] or list(range(oa, ob))
        inside = sum(1 for i in chars if i in gold)
        words.append(norm.text[a:b])
        labels.append(int(inside * 2 > len(chars)))
        t: Counter[str] = Counter()
        for _rater, label, s, e in post.spans:
            if label and s < ob and e > oa:
                t[label] += 1
        types.append(t)
    return norm.text, words, labels, types


def _lexicon(
    rows: Sequence[tuple[list[str], list[int], list[Counter[str]]]], prior: float
) -> dict[str, list[float]]:
    total: Counter[str] = Counter()
    toxic: Counter[str] = Counter()
    typed: dict[str, Counter[str]] = defaultdict(Counter)
    for words, labels, types in rows:
        for w, y, t in zip(words, labels, types, strict=True):
            total[w] += 1
            if y:
                toxic[w] += 1
                typed[w].update(t)
    lexicon = {}
    for w, n in total.items():
        if n < _MIN_COUNT:
            continue
        share = (toxic[w] + _SMOOTH * prior) / (n + _SMOOTH)
        t = typed.get(w, Counter())
        t_total = sum(t.values())
        shares = [round(t[label] / t_total, 3) if t_total else 0.0 for label in SPAN_TYPES]
        lexicon[w] = [round(share, 4), *shares]
    return lexicon


def predict_offsets(explainer: SpanExplainer, text: str, toxicity: float | None) -> set[int]:
    """Original-text character offsets the explainer marks as toxic (toxicity label)."""
    norm = normalize(text)
    out: set[int] = set()
    for _label, start, end, _w in explainer.explain(norm.text, ["toxicity"], toxicity=toxicity):
        a, b = norm.to_original(start, end)
        out.update(range(a, b))
    return out


def train_spans(
    data_dir: Path,
    model_dir: Path,
    *,
    seed: int = 0,
    step: Step | None = None,
) -> dict[str, Any]:
    """Fit ``spans.json`` into ``model_dir`` (which must already hold the fast model, and
    ``explainer/`` where the explainer has an n-gram model of its own).

    The threshold and the toxicity gate are chosen on posts that neither the span model nor
    the fast tier learned from: the posts of the classifier's fixed held-out split (a span
    model is fitted without them first) and the SemEval trial split. The shipped model is then
    fitted on every post outside trial and test with those settings.
    """
    say = step or (lambda _m: None)
    fast = FastScorer(model_dir=model_dir)  # the scorer: its toxicity gates the spans
    fast.load()
    word_model = FastScorer(model_dir=word_model_dir(model_dir))  # word shares: features
    word_model.load()
    say("span gold words")
    posts = load_span_annotations(Path(data_dir))
    held = [in_holdout(p.text, HOLDOUT["toxic_spans"], "toxic_spans") for p in posts]
    rows = []
    fast_rows = []
    for post in posts:
        text, words, labels, types = _gold_words(post)
        rows.append((words, labels, types))
        f_off, contrib = word_model.word_contributions(text)
        fast_rows.append(_align(words_of(text), f_off, contrib))

    say("span lexicon (without the held-out posts)")
    fit = [i for i, h in enumerate(held) if not h]
    config = _fit_config([rows[i] for i in fit], [fast_rows[i] for i in fit], seed)
    _write(model_dir, config)

    say("span threshold")
    trial = load_span_split(Path(data_dir), "trial")
    chosen = [(p.text, sorted(p.majority_offsets())) for p, h in zip(posts, held, strict=True) if h]
    explainer = SpanExplainer(model_dir=model_dir)
    explainer.load()
    f1, threshold, gate = _best_threshold(explainer, fast, chosen + trial)
    trial_f1, _, _ = _best_threshold(explainer, fast, trial, [threshold], [gate])

    say("span lexicon (every post)")
    config = _fit_config(rows, fast_rows, seed)
    config["threshold"] = round(threshold, 3)
    config["gate"] = gate
    config["validation_posts"] = len(chosen) + len(trial)
    config["validation_f1"] = round(f1, 4)
    config["trial_f1"] = round(trial_f1, 4)
    _write(model_dir, config)
    return config


def _fit_config(
    rows: Sequence[tuple[list[str], list[int], list[Counter[str]]]],
    fast_rows: Sequence[np.ndarray],
    seed: int,
) -> dict[str, Any]:
    """Lexicon and blend of ``rows``; the blend learns from out-of-fold lexicon scores."""
    from sklearn.linear_model import LogisticRegression

    n_words = sum(len(r[0]) for r in rows)
    prior = sum(sum(r[1]) for r in rows) / max(n_words, 1)
    fold = np.random.default_rng(seed).integers(0, _FOLDS, len(rows))
    xs, ys = [], []
    for k in range(_FOLDS):
        lex = _lexicon([r for r, f in zip(rows, fold, strict=True) if f != k], prior)
        for (words, labels, _t), fr, f in zip(rows, fast_rows, fold, strict=True):
            if f == k:
                xs.append(word_features(words, lex, prior, fr))
                ys.extend(labels)
    clf = LogisticRegression(C=1.0, max_iter=1000)
    clf.fit(np.concatenate(xs), np.asarray(ys))
    return {
        "version": 1,
        "prior": prior,
        "coef": [float(c) for c in clf.coef_.ravel()],
        "intercept": float(clf.intercept_[0]),
        "threshold": 0.5,
        "gate": 0.0,
        "type_share": 0.34,
        "lexicon": _lexicon(rows, prior),
    }


#: Thresholds tried for the span model's word scores, and toxicity gates.
THRESHOLDS = tuple(round(0.04 + 0.01 * k, 2) for k in range(56))
GATES = (0.0, 0.1, 0.2, 0.3, 0.5)
#: A threshold is judged by the mean validation F1 of it and its neighbours this many grid
#: steps to each side: the single best point of a flat surface is a coin toss between
#: rebuilds (floating-point rounding moves it), the middle of a good stretch is not.
_WINDOW = 3
#: A gate (no spans below a toxicity score) must beat no gate by this much to be used; it
#: makes the spans depend on the scorer, which is rebuilt more often than the span model.
_GATE_MARGIN = 0.005


def _best_threshold(
    explainer: SpanExplainer,
    fast: FastScorer,
    posts: Sequence[tuple[str, Sequence[int]]],
    thresholds: Sequence[float] = THRESHOLDS,
    gates: Sequence[float] = GATES,
) -> tuple[float, float, float]:
    """(mean span F1, threshold, gate) chosen on ``posts`` (text, gold offsets)."""
    surface = _f1_surface(explainer, fast, posts, thresholds, gates)
    return choose_threshold(surface, thresholds, gates)


def choose_threshold(
    surface: np.ndarray, thresholds: Sequence[float], gates: Sequence[float]
) -> tuple[float, float, float]:
    """(F1, threshold, gate) from mean F1 per (threshold, gate): the gate-free column unless a
    gate's best smoothed F1 is ``_GATE_MARGIN`` higher, then the threshold whose window of
    neighbours scores best. The F1 returned is that point's own."""
    n = len(thresholds)
    smooth = np.stack(
        [
            [surface[max(0, i - _WINDOW) : i + _WINDOW + 1, j].mean() for i in range(n)]
            for j in range(len(gates))
        ],
        axis=1,
    )
    column = int(np.argmin(np.abs(np.asarray(gates, dtype=float))))
    best = int(np.argmax(smooth.max(axis=0)))
    if smooth[:, best].max() >= smooth[:, column].max() + _GATE_MARGIN:
        column = best
    tied = np.flatnonzero(smooth[:, column] >= smooth[:, column].max() - 1e-12)
    row = int(tied[len(tied) // 2])  # the middle one where several windows score the same
    return float(surface[row, column]), float(thresholds[row]), float(gates[column])


def _f1_surface(
    explainer: SpanExplainer,
    fast: FastScorer,
    posts: Sequence[tuple[str, Sequence[int]]],
    thresholds: Sequence[float],
    gates: Sequence[float],
) -> np.ndarray:
    """Mean span F1 on ``posts`` for each (threshold, gate)."""
    prepared = [_prepare(explainer, text) for text, _ in posts]
    tox = fast.score([p[0] for p in prepared])[:, LABELS.index("toxicity")]
    golds = [set(g) for _, g in posts]
    surface = np.zeros((len(thresholds), len(gates)))
    for i, threshold in enumerate(thresholds):
        marked = [_offsets_at(p, float(threshold)) for p in prepared]
        for j, gate in enumerate(gates):
            surface[i, j] = np.mean([
                span_f1(m if t >= gate else set(), g)
                for m, t, g in zip(marked, tox, golds, strict=True)
            ])
    return surface


_Prepared = tuple[str, Any, list[tuple[int, int]], np.ndarray]


def _prepare(explainer: SpanExplainer, text: str) -> _Prepared:
    norm = normalize(text)
    offsets, scores = explainer.word_scores(norm.text)
    return norm.text, norm, offsets, scores


def _offsets_at(prepared: _Prepared, threshold: float) -> set[int]:
    """What ``predict_offsets`` returns at ``threshold`` (toxicity label, spaces merged)."""
    text, norm, offsets, scores = prepared
    chosen = [i for i, s in enumerate(scores) if s >= threshold]
    out: set[int] = set()
    for _label, start, end, _w in _merge("toxicity", text, offsets, scores, chosen):
        a, b = norm.to_original(start, end)
        out.update(range(a, b))
    return out


def _write(model_dir: Path, config: dict[str, Any]) -> None:
    text = json.dumps(config, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    (Path(model_dir) / "spans.json").write_text(text + "\n", encoding="utf-8")
