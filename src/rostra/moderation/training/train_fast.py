"""Training the fast tier: IDF, six logistic regressions, Platt calibration.

The targets can be blended with the accurate tier's scores of the same texts (distillation,
``FastParams.teacher_share``): the transformer has read the same comments more closely, and
the n-gram model learns from its graded opinion as well as from the raters' labels.

Deterministic for a given data folder, teacher and seed: hashing has no state, the calibration
rows are chosen with the seed, and the solver (scikit-learn's lbfgs) runs to a tight tolerance,
so where it stops does not depend on which rows the seed set aside. scikit-learn is needed
here, never at run time.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from rostra.domain.labels import LABELS
from rostra.moderation.fast import FastModel, save_fast_model
from rostra.moderation.features import NgramHasher
from rostra.moderation.normalize import normalize
from rostra.moderation.spans import EXPLAINER_DIR
from rostra.moderation.training.datasets import LabelledSet, load_training_set

__all__ = ["FastParams", "distilled_targets", "fit_fast", "teacher_scores", "train_fast"]

Step = Callable[[str], None]


@dataclass(frozen=True)
class FastParams:
    """Hyper-parameters of the fast tier (chosen on the held-out splits, see MODEL_CARD.md)."""

    char_orders: tuple[int, ...] = (2, 3, 4, 5)
    char_bits: int = 20
    word_bits: int = 19
    min_df: int = 2
    c: tuple[float, ...] = (4.0, 4.0, 4.0, 4.0, 4.0, 4.0)  # inverse regularisation per label
    calibration_fraction: float = 0.1
    source_weights: dict[str, float] = field(default_factory=dict)
    # One indicator column per source during training only: it soaks up each set's base rate
    # (davidson2017 is 83 % positive, wiki_context 1 %), so the n-gram weights do not learn
    # "sounds like a tweet" or "sounds like Wikipedia" as evidence.
    source_offsets: bool = False
    # Share of the accurate tier's score in each known target: (1 - s) * gold + s * teacher.
    # Labels a source says nothing about stay masked. 0 trains on the gold labels alone.
    teacher_share: float = 0.0
    # The labels whose targets take the teacher's share; the others learn from gold alone.
    teacher_labels: tuple[str, ...] = LABELS
    # A share of its own for some of those labels (label -> share instead of teacher_share).
    teacher_share_by_label: dict[str, float] = field(default_factory=dict)
    # lbfgs stops when the largest gradient step falls below ``tol``. At 1e-3 it stopped after
    # 14-38 iterations, short of the optimum, and where it stopped moved held-out AUC by up to
    # 0.05 between seeds (the seed only picks the calibration rows); 1e-5 removes that.
    tol: float = 1e-3
    max_iter: int = 300


def normalise_all(texts: Sequence[str]) -> list[str]:
    return [normalize(t, with_offsets=False).text for t in texts]


def fit_idf(featurizer: NgramHasher, texts: Sequence[str], min_df: int) -> np.ndarray:
    x = featurizer.transform(texts)
    x.data[:] = 1.0
    x.sum_duplicates()
    df = np.asarray((x > 0).sum(axis=0)).ravel().astype(np.float64)
    n = len(texts)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    idf[df < min_df] = 0.0  # rare n-grams carry no weight (and get none)
    return idf.astype(np.float32)


def _soft_rows(
    x: sp.csr_matrix, y: np.ndarray, weight: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Soft target p becomes a positive row of weight w*p and a negative row of weight w*(1-p)."""
    hard = (y == 0) | (y == 1)
    soft = ~hard
    xs = sp.vstack([x[hard], x[soft], x[soft]]).tocsr()
    ys = np.concatenate([y[hard], np.ones(soft.sum()), np.zeros(soft.sum())]).astype(int)
    ws = np.concatenate([weight[hard], weight[soft] * y[soft], weight[soft] * (1 - y[soft])])
    return xs, ys, ws


def distilled_targets(
    y: np.ndarray,
    mask: np.ndarray,
    teacher: np.ndarray | None,
    share: float,
    labels: Sequence[str] = LABELS,
    shares: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Known targets of ``labels`` blended with the teacher's probabilities (``share`` of
    the teacher, or ``shares[label]`` where given); masked targets and the other labels' are
    left as they are."""
    if teacher is None or share <= 0.0:
        return y
    if teacher.shape != y.shape:
        raise ValueError(f"teacher scores have shape {teacher.shape}, targets {y.shape}")
    names = LABELS[: y.shape[1]]
    per_label = np.array(
        [(shares or {}).get(name, share) if name in labels else 0.0 for name in names]
    )[None, :]
    mixed = (1.0 - per_label) * y.astype(np.float64) + per_label * np.clip(teacher, 0.0, 1.0)
    return np.where(mask & (per_label > 0), mixed, y).astype(np.float32)


def teacher_scores(
    texts: Sequence[str], model_dir: Path | None, *, advance: Callable[[int], None] | None = None
) -> np.ndarray:
    """The accurate tier's probabilities of normalised texts, blended on group names as the
    engine blends them: as written, the transformer flags benign mentions of some groups
    ("trans", "queer"), and the student learned that too (8 % of benign templates flagged)."""
    from rostra.moderation.accurate import AccurateScorer
    from rostra.moderation.counterfactual import BlendedScorer

    scorer = BlendedScorer(AccurateScorer(model_dir=model_dir))
    scorer.load()
    out = []
    for i in range(0, len(texts), 512):
        chunk = texts[i : i + 512]
        out.append(np.asarray(scorer.score(chunk), dtype=np.float32))
        if advance is not None:
            advance(len(chunk))
    return np.concatenate(out) if out else np.zeros((0, len(LABELS)), np.float32)


def fit_label(
    x: sp.csr_matrix,
    y: np.ndarray,
    weight: np.ndarray,
    c: float,
    max_iter: int,
    tol: float = 1e-3,
) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    xs, ys, ws = _soft_rows(x, y, weight)
    keep = ws > 0
    if len(np.unique(ys[keep])) < 2:
        return np.zeros(x.shape[1], np.float32), float(np.log((ys.mean() + 1e-3) / 1.001))
    # Balance classes so rare labels (threat) get a usable ranking; calibration fixes the prior.
    pos = ws[keep & (ys == 1)].sum()
    neg = ws[keep & (ys == 0)].sum()
    ws = np.where(ys == 1, ws * (pos + neg) / (2 * pos), ws * (pos + neg) / (2 * neg))
    ws = ws / ws[keep].mean()
    clf = LogisticRegression(C=c, max_iter=max_iter, tol=tol)
    clf.fit(xs[keep], ys[keep], sample_weight=ws[keep])
    return clf.coef_.ravel().astype(np.float32), float(clf.intercept_[0])


def fit_platt(z: np.ndarray, y: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """Platt scaling with soft targets: minimise weighted log-loss of sigmoid(a*z + b)."""
    from scipy.optimize import minimize

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = params
        t = a * z + b
        p = 1.0 / (1.0 + np.exp(-np.clip(t, -30, 30)))
        ll = weight * (np.logaddexp(0, -t) * y + np.logaddexp(0, t) * (1 - y))
        g = weight * (p - y)
        return float(ll.sum()), np.array([float((g * z).sum()), float(g.sum())])

    if len(z) < 2 or np.ptp(y) == 0:
        return 1.0, 0.0
    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def fit_fast(
    data: LabelledSet,
    params: FastParams = FastParams(),
    *,
    seed: int = 0,
    step: Step | None = None,
    normalised: list[str] | None = None,
    teacher: np.ndarray | None = None,
) -> FastModel:
    """Fit a fast model on a labelled set (texts raw unless ``normalised`` is given).

    ``teacher``: the accurate tier's (n, 6) probabilities of the same rows, blended into the
    targets by ``params.teacher_share``."""
    started = time.time()
    say = step or (lambda _msg: None)
    texts = normalised if normalised is not None else normalise_all(data.texts)
    say("idf")
    shape = {
        "char_orders": params.char_orders,
        "char_bits": params.char_bits,
        "word_bits": params.word_bits,
    }
    idf = fit_idf(NgramHasher(**shape), texts, params.min_df)  # type: ignore[arg-type]
    featurizer = NgramHasher(**shape, idf=idf)  # type: ignore[arg-type]
    say("features")
    x = featurizer.transform(texts)

    rng = np.random.default_rng(seed)
    calib = rng.random(len(texts)) < params.calibration_fraction
    weight = data.weight.astype(np.float64).copy()
    for source, factor in params.source_weights.items():
        weight[np.asarray(data.source) == source] *= factor

    n_features = featurizer.n_features
    if params.source_offsets:
        names = sorted(set(data.source))
        col = {name: i for i, name in enumerate(names)}
        ind = sp.csr_matrix(
            (
                np.ones(len(texts), np.float32),
                np.array([col[s] for s in data.source], dtype=np.int64),
                np.arange(len(texts) + 1),
            ),
            shape=(len(texts), len(names)),
        )
        x_fit = sp.hstack([x, ind]).tocsr()
    else:
        x_fit = x
    targets = distilled_targets(
        data.y,
        data.mask,
        teacher,
        params.teacher_share,
        params.teacher_labels,
        params.teacher_share_by_label,
    )
    weights = np.zeros((n_features, len(LABELS)), np.float32)
    bias = np.zeros(len(LABELS), np.float32)
    calib_a = np.ones(len(LABELS), np.float32)
    calib_b = np.zeros(len(LABELS), np.float32)
    for j, label in enumerate(LABELS):
        say(f"label {label}")
        rows = data.mask[:, j] & ~calib
        w, b = fit_label(
            x_fit[rows], targets[rows, j], weight[rows], params.c[j], params.max_iter, params.tol
        )
        w = w[:n_features]
        weights[:, j] = w
        bias[j] = b
        crow = data.mask[:, j] & calib
        z = np.asarray(x[crow] @ w).ravel() + b
        # Calibrated against the gold labels: a probability should read as the raters' verdict.
        calib_a[j], calib_b[j] = fit_platt(z, data.y[crow, j].astype(np.float64), weight[crow])
    meta = {
        "tier": "fast",
        "seed": seed,
        "params": {
            "min_df": params.min_df,
            "c": list(params.c),
            "calibration_fraction": params.calibration_fraction,
            "source_weights": dict(params.source_weights),
            "teacher_share": params.teacher_share if teacher is not None else 0.0,
            "teacher_labels": list(params.teacher_labels) if teacher is not None else [],
            "teacher_share_by_label": (
                dict(params.teacher_share_by_label) if teacher is not None else {}
            ),
            "tol": params.tol,
        },
        "training_rows": int(len(texts)),
        "training_sources": sorted(set(data.source)),
        "training_seconds": round(time.time() - started, 1),
    }
    return FastModel(
        char_orders=params.char_orders,
        char_bits=params.char_bits,
        word_bits=params.word_bits,
        weights=weights,
        bias=bias,
        idf=idf,
        calib_a=calib_a,
        calib_b=calib_b,
        meta=meta,
    )


def train_fast(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    progress: bool = True,
    params: FastParams | None = None,
    teacher_dir: Path | None = None,
) -> FastModel:
    """Rebuild the fast tier from the shared data folder and write it to ``out_dir``.

    The teacher is the accurate tier in ``teacher_dir``, else the one beside ``out_dir``
    (``out_dir/../accurate``), else the one shipped in the package. With a teacher, a sibling
    trained on the gold labels alone is written to ``out_dir/explainer`` for the span
    explainer (``rostra.moderation.spans``); without one, the explainer uses the model itself."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    params = params or DEFAULT_PARAMS
    steps = ["load data", "normalise", "idf", "features", *[f"label {x}" for x in LABELS], "save"]
    if params.teacher_share > 0:
        steps += [f"explainer: {name}" for name in steps[2:-1]]
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]fast tier[/bold] {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        disable=not progress,
        transient=False,
    ) as bar:
        task = bar.add_task("load data", total=len(steps))

        def step(name: str) -> None:
            bar.update(task, description=name, advance=1)

        data = load_training_set(Path(data_dir), seed=seed)
        step("normalise")
        texts = normalise_all(data.texts)
        teacher = None
        if params.teacher_share > 0:
            scoring = bar.add_task("teacher: accurate tier scores", total=len(texts))
            teacher = teacher_scores(
                texts,
                teacher_dir or _beside(Path(out_dir)),
                advance=lambda n: bar.update(scoring, advance=n),
            )
        model = fit_fast(data, params, seed=seed, step=step, normalised=texts, teacher=teacher)
        step("save")
        save_fast_model(model, Path(out_dir))
        words_dir = Path(out_dir) / EXPLAINER_DIR
        if teacher is not None:
            sibling = fit_fast(
                data,
                replace(params, teacher_share=0.0),
                seed=seed,
                step=lambda name: step(f"explainer: {name}"),
                normalised=texts,
            )
            save_fast_model(sibling, words_dir)
        elif words_dir.is_dir():
            shutil.rmtree(words_dir)  # a sibling from an earlier build would explain this one
        bar.update(task, description="done", advance=1)
    return model


def _beside(out_dir: Path) -> Path | None:
    """The accurate tier next to the fast tier being written, if there is one there."""
    accurate = out_dir.parent / "accurate"
    return accurate if (accurate / "model.onnx").is_file() else None


#: The parameters of the shipped model. Chosen on the held-out splits: character 3- and
#: 5-grams in 2**19 buckets and words/word pairs in 2**18 keep the weights small enough to stay
#: in cache (twice the throughput of orders 2-5 in 2**20) at no loss of AUC; down-weighting the
#: Toxic Spans posts (all pre-rated toxic, so their negatives are borderline) raised OLID test
#: AUC from 0.816 to 0.835 and ToxiGen, Stormfront and Ruddit with it.
#:
#: Distillation: 90 % of each toxicity and insult target comes from the accurate tier (50 % of
#: obscene; scored with the engine's group-name blend), the solver run to tol 1e-5. Chosen on 1,943
#: OLID training tweets held out for the purpose (``in_holdout(text, 0.15, "kd-val")``, not trained
#: on) and the fixed held-out splits, toxicity AUC with teacher_share 0.3 / 0.5 / 0.7 / 0.9 / 1.0
#: (C=1): OLID 0.800 / 0.806 / 0.811 / 0.814 / 0.815, ToxiGen 0.894 / 0.900 / 0.900 / 0.902 / 0.901,
#: Toxic Spans posts 0.596 / 0.598 / 0.602 / 0.604 / 0.605, Davidson 0.980 / 0.978 / 0.976 / 0.973 /
#: 0.971, Wikipedia talk 0.762 / 0.760 / 0.756 / 0.751 / 0.749. At 0.9, C=1, 2, 4 gave OLID 0.814,
#: 0.815, 0.814; C stays 2. Up-weighting the OLID tweets (x1.5, x2.5) gained another 0.003-0.006
#: there, but benign identity templates (bias_madlibs) were flagged 3-6 % of the time against 1.4 %
#: without it, so it was dropped. Obscene keeps half its target from the teacher: its AUC on the
#: held-out Toxic Spans posts was 0.791 / 0.815 / 0.791 with teacher_share 0 / 0.5 / 0.9 (insult
#: 0.671 / 0.675 / 0.678). The teacher's threat, severe_toxicity and identity_attack outputs are
#: weak, and learning from them cost those labels 0.03-0.06 AUC on the held-out Toxic Spans posts
#: and Davidson tweets: they learn from gold alone. The shipped files' numbers are in MODEL_CARD.md.
DEFAULT_PARAMS = FastParams(
    char_orders=(3, 5),
    char_bits=19,
    word_bits=18,
    c=(2.0,) * 6,
    source_weights={"toxic_spans": 0.4},
    teacher_share=0.9,
    teacher_labels=("toxicity", "obscene", "insult"),
    teacher_share_by_label={"obscene": 0.5},
    tol=1e-5,
    max_iter=2000,
)
