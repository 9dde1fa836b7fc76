"""The evaluation report behind ``rostra eval`` and the end of ``rostra train``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rostra.domain.errors import InvalidInput
from rostra.moderation.counterfactual import DEFAULT_WEIGHT, BlendedScorer
from rostra.moderation.scorer import Scorer
from rostra.moderation.training.datasets import EVAL_SET_NAMES, EvalSet, load_eval_sets
from rostra.moderation.training.evaluate import (
    TOX,
    DatasetResult,
    evaluate_evasion,
    evaluate_fairness,
    evaluate_set,
    review_thresholds,
    score_texts,
)

__all__ = ["Report", "build_scorer", "run_report"]

#: Held-out toxic comments used for the evasion check (news, tweets, discussion comments).
EVASION_SETS = ("olid", "kaggle_insults", "toxic_spans_posts", "davidson2017")
Step = Callable[[str, int], None]  # (what, how many texts done)


@dataclass
class Report:
    tier: str
    rows: list[DatasetResult]
    evasion: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "datasets": [r.to_dict() for r in self.rows],
            "evasion": self.evasion,
            "fairness": self.fairness,
            "notes": self.notes,
        }


def build_scorer(
    tier: str, model_dir: Path | None, *, identity_weight: float = DEFAULT_WEIGHT
) -> Scorer:
    """Load the scorer of a tier from ``model_dir`` (which holds ``fast/``, ``accurate/``),
    blended on group names as the engine blends it (``identity_weight`` 1.0: as written)."""
    modules = {"fast": ("fast", "FastScorer"), "accurate": ("accurate", "AccurateScorer")}
    if tier not in modules:
        raise InvalidInput(f"unknown tier {tier!r}; choose fast or accurate", field="tier")
    module, name = modules[tier]
    try:
        cls = getattr(importlib.import_module(f"rostra.moderation.{module}"), name)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"the {tier} tier is not available: {exc}") from exc
    scorer: Scorer = cls(model_dir=None if model_dir is None else model_dir / tier)
    scorer.load()
    if identity_weight >= 1.0:
        return scorer
    return BlendedScorer(scorer, identity_weight)


def _compare_probs(texts: Sequence[str]) -> np.ndarray | None:
    try:
        from profanity_check import predict_prob
    except ImportError:
        return None
    return np.asarray(predict_prob(list(texts)), dtype=np.float64)


def run_report(
    tier: str,
    data_dir: Path,
    *,
    model_dir: Path | None = None,
    datasets: Sequence[str] | None = None,
    compare: bool = False,
    checks: bool = True,
    step: Step | None = None,
    identity_weight: float = DEFAULT_WEIGHT,
) -> Report:
    """Score every requested set with one tier and collect the table and the extra checks."""
    say = step or (lambda _what, _n: None)
    names = list(datasets) if datasets else [n for n in EVAL_SET_NAMES if n != "bias_madlibs"]
    scorer = build_scorer(tier, model_dir, identity_weight=identity_weight)
    thresholds = review_thresholds()
    say("loading data", 0)
    sets = load_eval_sets(data_dir, names)
    report = Report(tier=tier, rows=[])
    probs: dict[str, np.ndarray] = {}
    for name, eval_set in sets.items():
        say(name, 0)
        probs[name] = score_texts(scorer, eval_set.texts, progress=_advance(say, name))
        other = _compare_probs(eval_set.texts) if compare else None
        if compare and other is None and not report.notes:
            report.notes.append("alt-profanity-check is not installed: no comparison column")
        row = evaluate_set(eval_set, probs[name], thresholds, compare=other)
        if name == "toxic_spans" and tier == "fast":
            row.span_f1 = _span_f1(eval_set, probs[name], model_dir)
        report.rows.append(row)
    if not checks:
        return report
    say("evasion", 0)
    evasion_sets = [s for n, s in sets.items() if n in EVASION_SETS]
    if evasion_sets:
        try:
            report.evasion = evaluate_evasion(scorer, evasion_sets, thresholds).to_dict()
        except ImportError:
            report.notes.append("rostra.moderation.evasion is not available: no evasion check")
    say("fairness", 0)
    fair_sets = load_eval_sets(data_dir, ["bias_madlibs"])
    madlibs = fair_sets["bias_madlibs"]
    madlib_probs = score_texts(scorer, madlibs.texts, batch_size=4096)
    wiki = _pair(sets, probs, "wiki_toxicity")
    fuzzed = _pair(sets, probs, "wiki_toxicity_fuzzed")
    report.fairness = evaluate_fairness(
        madlibs, madlib_probs, thresholds, wiki=wiki, wiki_fuzzed=fuzzed
    ).to_dict()
    return report


def _advance(say: Step, name: str) -> Callable[[int], None]:
    def advance(done: int) -> None:
        say(name, done)

    return advance


def _pair(
    sets: dict[str, EvalSet], probs: dict[str, np.ndarray], name: str
) -> tuple[EvalSet, np.ndarray] | None:
    return (sets[name], probs[name]) if name in sets else None


def _span_f1(eval_set: EvalSet, probs: np.ndarray, model_dir: Path | None) -> float | None:
    from rostra.moderation.spans import SpanExplainer
    from rostra.moderation.training.train_spans import predict_offsets, span_f1

    if eval_set.spans is None:
        return None
    explainer = SpanExplainer(model_dir=None if model_dir is None else model_dir / "fast")
    try:
        explainer.load()
    except InvalidInput:
        return None
    scores = [
        span_f1(predict_offsets(explainer, text, float(p[TOX])), set(gold))
        for text, gold, p in zip(eval_set.texts, eval_set.spans, probs, strict=True)
    ]
    return round(float(np.mean(scores)), 4) if scores else None
