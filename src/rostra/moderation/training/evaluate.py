"""Evaluation of a model tier on the held-out and evaluation-only sets.

Per dataset: ROC-AUC of the toxicity probability against the set's binary label, ROC-AUC per
label where the set has per-label gold, F1 of the policy's review decision (any label at or
above its review threshold), macro-F1 of the toxicity label at its review threshold (the mean
of the F1 of both classes, OffensEval's measure), expected calibration error of the toxicity
probability, and on Toxic Spans the SemEval-2021 character F1 of the explanations. Plus the
evasion check (recall of the review decision on held-out toxic comments before and after
``evasion.perturb``) and the fairness check (per-identity false-positive rate on benign
bias_madlibs templates, subgroup AUCs, and the Wikipedia identity-term set against its
term-swapped copy).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from rostra.domain.labels import LABELS, TOXICITY
from rostra.moderation.normalize import normalize
from rostra.moderation.scorer import Scorer
from rostra.moderation.training.datasets import EvalSet

__all__ = [
    "DatasetResult",
    "EvasionResult",
    "FairnessResult",
    "expected_calibration_error",
    "evaluate_evasion",
    "evaluate_fairness",
    "evaluate_set",
    "f1_score",
    "macro_f1",
    "review_thresholds",
    "roc_auc",
    "score_texts",
]

TOX = LABELS.index(TOXICITY)
Progress = Callable[[int], None]


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half); None when only one class is present."""
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    n_neg = y.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1_score(y: np.ndarray, predicted: np.ndarray) -> float:
    y = np.asarray(y).astype(bool)
    predicted = np.asarray(predicted).astype(bool)
    tp = int((y & predicted).sum())
    fp = int((~y & predicted).sum())
    fn = int((y & ~predicted).sum())
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def macro_f1(y: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the F1 of the positive and of the negative class."""
    y = np.asarray(y).astype(bool)
    predicted = np.asarray(predicted).astype(bool)
    return (f1_score(y, predicted) + f1_score(~y, ~predicted)) / 2


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-width bins, weighted by bin size."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape[0] == 0:
        return 0.0
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.sum() * abs(y[in_bin].mean() - p[in_bin].mean())
    return float(total / y.shape[0])


def review_thresholds() -> np.ndarray:
    """The default policy's review threshold per label, in LABELS order."""
    from rostra.moderation.policy import Policy

    thresholds = Policy.default().thresholds
    return np.array([thresholds[label].review for label in LABELS], dtype=np.float64)


def score_texts(
    scorer: Scorer,
    texts: Sequence[str],
    *,
    batch_size: int = 1024,
    progress: Progress | None = None,
) -> np.ndarray:
    """Normalise raw texts and score them in batches; (n, 6) probabilities."""
    out = []
    for i in range(0, len(texts), batch_size):
        chunk = [normalize(t, with_offsets=False).text for t in texts[i : i + batch_size]]
        out.append(np.asarray(scorer.score(chunk), dtype=np.float64))
        if progress is not None:
            progress(len(chunk))
    if not out:
        return np.zeros((0, len(LABELS)))
    return np.concatenate(out)


@dataclass
class DatasetResult:
    """One row of the evaluation table."""

    dataset: str
    n: int
    positives: int
    auc: float | None  # toxicity probability
    auc_any: float | None  # highest of the six probabilities ("any label")
    label_auc: dict[str, float] = field(default_factory=dict)
    f1_review: float = 0.0
    macro_f1: float = 0.0  # toxicity at its review threshold, both classes
    ece: float = 0.0
    span_f1: float | None = None
    compare_auc: float | None = None  # alt-profanity-check on the same rows
    held_out_of_training_source: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_set(
    eval_set: EvalSet,
    probs: np.ndarray,
    thresholds: np.ndarray,
    *,
    compare: np.ndarray | None = None,
) -> DatasetResult:
    y = eval_set.y_binary
    label_auc: dict[str, float] = {}
    if eval_set.y is not None and eval_set.mask is not None:
        for j, label in enumerate(LABELS):
            known = eval_set.mask[:, j]
            if known.sum() == 0:
                continue
            auc = roc_auc(eval_set.y[known, j] >= 0.5, probs[known, j])
            if auc is not None:
                label_auc[label] = round(auc, 4)
    flagged = np.asarray((probs >= thresholds[None, :]).any(axis=1))
    auc = roc_auc(y, probs[:, TOX])
    return DatasetResult(
        dataset=eval_set.name,
        n=len(eval_set),
        positives=int(y.sum()),
        auc=None if auc is None else round(auc, 4),
        auc_any=_round(roc_auc(y, probs.max(axis=1))),
        label_auc=label_auc,
        f1_review=round(f1_score(y, flagged), 4),
        macro_f1=round(macro_f1(y, probs[:, TOX] >= thresholds[TOX]), 4),
        ece=round(expected_calibration_error(y, probs[:, TOX]), 4),
        compare_auc=None if compare is None else _round(roc_auc(y, compare)),
        held_out_of_training_source=eval_set.training_source,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# --- evasion --------------------------------------------------------------------------------


@dataclass
class EvasionResult:
    comments: int
    recall_clean: float
    recall_perturbed: float

    @property
    def drop(self) -> float:
        return round(self.recall_clean - self.recall_perturbed, 4)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drop": self.drop}


def evaluate_evasion(
    scorer: Scorer,
    sets: Iterable[EvalSet],
    thresholds: np.ndarray,
    *,
    seed: int = 0,
    limit: int = 2000,
) -> EvasionResult:
    """Recall of the review decision on toxic held-out comments, clean and obfuscated."""
    from rostra.moderation.evasion import perturb

    texts = [t for s in sets for t, y in zip(s.texts, s.y_binary, strict=True) if y]
    rng = random.Random(seed)
    if len(texts) > limit:
        texts = rng.sample(texts, limit)
    perturbed = [perturb(t, rng) for t in texts]
    if not texts:
        return EvasionResult(0, 0.0, 0.0)
    clean = (score_texts(scorer, texts) >= thresholds).any(axis=1)
    dirty = (score_texts(scorer, perturbed) >= thresholds).any(axis=1)
    return EvasionResult(
        comments=len(texts),
        recall_clean=round(float(clean.mean()), 4),
        recall_perturbed=round(float(dirty.mean()), 4),
    )


# --- fairness -------------------------------------------------------------------------------


@dataclass
class FairnessResult:
    """Per identity term: false-positive rate on benign templates and subgroup AUC."""

    fpr: dict[str, float]
    subgroup_auc: dict[str, float]
    wiki_auc: float | None
    wiki_fuzzed_auc: float | None

    @property
    def worst_fpr(self) -> tuple[str, float]:
        if not self.fpr:
            return ("", 0.0)
        term = max(self.fpr, key=lambda t: self.fpr[t])
        return term, self.fpr[term]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "worst_fpr": list(self.worst_fpr)}


def evaluate_fairness(
    madlibs: EvalSet,
    madlib_probs: np.ndarray,
    thresholds: np.ndarray,
    *,
    wiki: tuple[EvalSet, np.ndarray] | None = None,
    wiki_fuzzed: tuple[EvalSet, np.ndarray] | None = None,
) -> FairnessResult:
    assert madlibs.groups is not None
    groups = np.asarray(madlibs.groups)
    flagged = np.asarray((madlib_probs >= thresholds[None, :]).any(axis=1))
    fpr: dict[str, float] = {}
    sub_auc: dict[str, float] = {}
    for term in sorted(set(groups) - {""}):
        rows = groups == term
        benign = rows & (madlibs.y_binary == 0)
        if benign.any():
            fpr[term] = round(float(flagged[benign].mean()), 4)
        auc = roc_auc(madlibs.y_binary[rows], madlib_probs[rows, TOX])
        if auc is not None:
            sub_auc[term] = round(auc, 4)
    return FairnessResult(
        fpr=fpr,
        subgroup_auc=sub_auc,
        wiki_auc=None if wiki is None else _round(roc_auc(wiki[0].y_binary, wiki[1][:, TOX])),
        wiki_fuzzed_auc=None
        if wiki_fuzzed is None
        else _round(roc_auc(wiki_fuzzed[0].y_binary, wiki_fuzzed[1][:, TOX])),
    )
