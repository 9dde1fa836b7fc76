"""Per-site adaptation, simulated: how fast a site model learns from its moderators.

A site receives the comments of one evaluation set in a fixed random order. Each comment is
scored by the current model (base fast tier, or base + site correction; the site model reads
the accurate tier's sentence representation as well as n-grams, as on a server that has the
accurate tier, unless ``--no-vectors``); a simulated moderator
decides every comment the model holds and a random sample (``--sample``) of the others,
according to the gold label. The site model is re-adapted every ``--every`` decisions. After
0, 100, 200, 400 and 800 decisions the script prints ROC-AUC and agreement (the policy's
hold/reject flag against the gold label) on the comments that have not arrived yet, for the
base engine, the newest site model, and the promoted one (the model the site runs: a new model
replaces it only when it wins the held-out-by-time comparison, as ``rostra adapt promote``).

Evaluation-only sets (sfu_ctc, ruddit, kaggle_insults) are read at run time from the data
folder and never shipped. With ``--spans`` it also simulates span marks on the Toxic Spans test
posts (news comments) and reports span F1 on the marks not yet seen.

With ``--story-prior`` (sfu_ctc, whose comments name their article) it also prints the newest
site model with a story-level prior added to its toxicity logit: the logit of the smoothed
share of rejections among the decided comments of the same article. Measured, not built: it
judges a comment by how others behaved under the same article.

With ``--ceiling`` it also measures what a site could learn at best from its own labels with
each representation: 10-fold cross-validation over the whole set (about 90 % of it learned
from, several times the 400 decisions of the target) for the site model itself and for a
logistic regression over the accurate tier's sentence representation alone (the mean-pooled
last layer that its head reads), with that head's own learning curve on the simulation's
stream.

    python bench/adaptation.py [--data-dir ../shared/data] [--model-dir DIR] [--sets ...]

``--model-dir`` holds ``fast/`` (default: the models shipped in the package).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rostra.domain.labels import LABELS
from rostra.moderation.adaptation import (
    TOX,
    AdaptParams,
    Example,
    SentenceVectors,
    SiteModel,
    benign_identity_texts,
    compare,
    example_targets,
    fit_site_model,
    flags,
    roc_auc,
    span_f1,
)
from rostra.moderation.normalize import normalize
from rostra.moderation.policy import Policy

CHECKPOINTS = (0, 100, 200, 400, 800)


def _base_scorer(model_dir: Path | None, tier: str = "fast"):  # type: ignore[no-untyped-def]
    """The base tier, blended on group names as the engine runs it."""
    from rostra.moderation.training.report import build_scorer

    return build_scorer(tier, model_dir)


def _base_probs(scorer: Any, texts: list[str]) -> np.ndarray:
    normalised = [normalize(t, with_offsets=False).text for t in texts]
    return np.asarray(scorer.score(normalised), dtype=np.float64)


def simulate(
    texts: list[str],
    gold: np.ndarray,
    base: np.ndarray,
    *,
    params: AdaptParams,
    policy: Policy,
    seed: int,
    sample: float,
    every: int,
    identity_base: np.ndarray,
    vectors: SentenceVectors | None = None,
    stories: list[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Rows (decisions, unseen, AUC of base / newest / promoted model, agreement of the same
    three, seconds of the last adaptation, AUC of the newest model with the story prior or
    None without ``stories``). The promoted model is what the site runs: a new model replaces
    it only when it wins the held-out comparison (``rostra adapt promote``)."""
    identity = benign_identity_texts()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    draws = rng.random(len(texts))
    model: SiteModel | None = None  # the newest site model
    active: SiteModel | None = None  # the one the promotion rule let through
    probs = base.copy()  # scores of the newest model
    live = base.copy()  # scores of the active model: these decide what is held
    decided: list[Example] = []
    decided_rows: list[int] = []
    out = []
    fit_seconds = 0.0
    wanted = list(CHECKPOINTS)

    def checkpoint(position: int) -> None:
        rest = order[position:]
        y = gold[rest]
        def agree(p: np.ndarray) -> float | None:
            return float(np.mean(flags(policy, p[rest]) == (y == 1))) if len(rest) else None

        out.append((
            len(decided),
            len(rest),
            roc_auc(y, base[rest, TOX]),
            roc_auc(y, probs[rest, TOX]),
            roc_auc(y, live[rest, TOX]),
            agree(base),
            agree(probs),
            agree(live),
            fit_seconds,
            None if stories is None else roc_auc(y, _with_story_prior(
                probs[rest, TOX], [stories[k] for k in rest], stories, gold, decided_rows)),
        ))

    for position, i in enumerate(order):
        if wanted and len(decided) == wanted[0]:
            checkpoint(position)
            wanted.pop(0)
        if not wanted:
            break
        held = bool(flags(policy, live[i : i + 1])[0])
        if not (held or draws[i] < sample):
            continue
        decision = "reject" if gold[i] == 1 else "approve"
        decided.append(Example(texts[i], example_targets(decision, None), tuple(base[i])))
        decided_rows.append(int(i))
        if len(decided) % every == 0:
            started = time.perf_counter()
            comparison = compare(
                decided, active, policy=policy, identity_base=identity_base,
                identity_texts=identity, params=params, seed=seed, vectors=vectors,
            )
            model = fit_site_model(decided, params, seed=seed, vectors=vectors)
            fit_seconds = time.perf_counter() - started
            rest = order[position + 1 :]
            probs[rest] = model.predict([texts[k] for k in rest], base[rest], vectors)
            if comparison.promotable:
                active = model
                live[rest] = probs[rest]
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def _with_story_prior(
    p: np.ndarray, rest_stories: list[str], stories: list[str], gold: np.ndarray,
    decided_rows: list[int], strength: float = 5.0,
) -> np.ndarray:
    """The toxicity logit plus the logit of the share of rejections among the decided comments
    of each comment's story, smoothed toward the share over all decisions."""
    if not decided_rows:
        return _logit(p)
    overall = float(np.mean(gold[decided_rows]))
    counts: dict[str, list[float]] = {}
    for k in decided_rows:
        seen = counts.setdefault(stories[k], [0.0, 0.0])
        seen[0] += 1
        seen[1] += float(gold[k])
    shares = np.array([
        (counts.get(story, [0.0, 0.0])[1] + strength * overall)
        / (counts.get(story, [0.0, 0.0])[0] + strength)
        for story in rest_stories
    ])
    return _logit(p) + _logit(shares)


def _stories(name: str, data_dir: Path, texts: list[str]) -> list[str] | None:
    """Each comment's article, for the sets that name it (sfu_ctc), else None."""
    if name != "sfu_ctc":
        return None
    import csv

    csv.field_size_limit(1 << 26)
    path = data_dir / "sfu_ctc" / "SFU_constructiveness_toxicity.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        article = {r["comment"]: (r["globe_url"] or r["title"]).strip() for r in csv.DictReader(fh)}
    return [article.get(t, "") for t in texts]


def _fmt(v: float | None) -> str:
    return "  -  " if v is None else f"{v:.3f}"


def run_set(
    name: str, args: argparse.Namespace, scorer: object, params: AdaptParams,
    sentences: SentenceVectors | None,
) -> None:
    """One set's learning curve; ``sentences`` is the accurate tier's representation (loaded
    once for all sets), read by the site model unless ``--no-vectors``."""
    from rostra.moderation.training.datasets import load_eval_sets

    data = load_eval_sets(args.data_dir, [name])[name]
    texts = list(data.texts)
    gold = np.asarray(data.y_binary, dtype=np.int64)
    if args.max_rows and len(texts) > args.max_rows:
        keep = np.random.default_rng(args.seed).permutation(len(texts))[: args.max_rows]
        texts, gold = [texts[k] for k in keep], gold[keep]
    base = _base_probs(scorer, texts)
    identity_base = _base_probs(scorer, benign_identity_texts())
    vectors = None if args.no_vectors else sentences
    stories = _stories(name, args.data_dir, texts) if args.story_prior else None
    rows = simulate(
        texts, gold, base, params=params, policy=Policy.default(), seed=args.seed,
        sample=args.sample, every=args.every, identity_base=identity_base, vectors=vectors,
        stories=stories,
    )
    reads = "n-grams" if vectors is None else "n-grams and the accurate tier's sentence vectors"
    print(f"\n{name}: {len(texts)} comments, {gold.mean():.1%} toxic; sample={args.sample}, "
          f"re-adapt every {args.every} decisions, seed {args.seed}; site model reads {reads}")
    print(" decisions  unseen | AUC: base  newest  promoted | agreement: base  newest  promoted"
          " | fit s" + (" | AUC newest + story prior" if stories is not None else ""))
    for d, unseen, ab, an, ap, gb, gn, gp, secs, story in rows:
        print(f" {d:9d}  {unseen:6d} |      {_fmt(ab)}   {_fmt(an)}     {_fmt(ap)} |"
              f"            {_fmt(gb)}   {_fmt(gn)}     {_fmt(gp)} | {secs:5.1f}"
              + (f" |                     {_fmt(story)}" if stories is not None else ""))
    if len(rows) < len(CHECKPOINTS):
        print(f" (the stream ended after {rows[-1][0] if rows else 0} decisions)")
    if args.ceiling:
        run_ceiling(name, texts, gold, base, params, args, vectors, sentences)


def _folds(n: int, k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n) % k


def _sentence_vectors(model_dir: Path | None) -> SentenceVectors | None:
    """The accurate tier's sentence representation, as a server with that tier gives it to
    site models (``ModerationEngine.embed``); None where the model has none."""
    from rostra.moderation.engine import ModerationEngine

    try:
        engine = ModerationEngine.from_model_dir(model_dir, tiers=("accurate",))
    except Exception as exc:  # noqa: BLE001 - go on without, saying why
        print(f" (no sentence representation: {exc})")
        return None
    version = engine.embedding_version
    return None if version is None else SentenceVectors(version, engine.embed).memoized()


_HEAD_PENALTIES = (0.0003, 0.001, 0.003, 0.01, 0.03)


def _head(x: np.ndarray, y: np.ndarray, c: float) -> Any:
    """A standardised logistic regression on ``x``; returns its decision function."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    fitted = LogisticRegression(C=c, max_iter=3000).fit((x - mean) / scale, y)
    return lambda z: fitted.decision_function((z - mean) / scale)


def _chosen_head(x: np.ndarray, y: np.ndarray) -> Any:
    """:func:`_head` with its penalty chosen by an inner cross-validation of ``x`` alone."""
    penalty = max(_HEAD_PENALTIES, key=lambda c: _inner_auc(x, y, c))
    return _head(x, y, penalty)


def _inner_auc(x: np.ndarray, y: np.ndarray, c: float) -> float:
    fold = _folds(len(y), 5, 1)
    score = np.zeros(len(y))
    for k in range(5):
        score[fold == k] = _head(x[fold != k], y[fold != k], c)(x[fold == k])
    return roc_auc(y, score) or 0.0


def run_ceiling(
    name: str, texts: list[str], gold: np.ndarray, base: np.ndarray, params: AdaptParams,
    args: argparse.Namespace, vectors: SentenceVectors | None,
    sentences: SentenceVectors | None,
) -> None:
    """Cross-validated AUC of what the site could learn from (nearly) all of its labels."""
    seed = args.seed
    fold = _folds(len(texts), 10, seed)
    site = np.zeros(len(texts))
    for k in range(10):
        train = np.flatnonzero(fold != k)
        test = np.flatnonzero(fold == k)
        examples = [
            Example(texts[i], example_targets("reject" if gold[i] else "approve", None),
                    tuple(base[i]))
            for i in train
        ]
        model = fit_site_model(examples, params, seed=seed, vectors=vectors)
        site[test] = model.predict([texts[i] for i in test], base[test], vectors)[:, TOX]
    print(f"\n{name} ceiling (10-fold cross-validation, {int(len(texts) * 0.9)} labels per fit):")
    print(f"  base tier                                    AUC {_fmt(roc_auc(gold, base[:, TOX]))}")
    print(f"  site model (correction of the base)          AUC {_fmt(roc_auc(gold, site))}")
    if sentences is None:
        return
    embedded = np.asarray(sentences.embed(texts))
    head = np.zeros(len(texts))
    for k in range(10):
        train = np.flatnonzero(fold != k)  # the penalty is chosen on the training folds only
        head[fold == k] = _chosen_head(embedded[train], gold[train])(embedded[fold == k])
    print(f"  head over the accurate tier's representation AUC {_fmt(roc_auc(gold, head))}")
    # The same head as a site model would learn it: from the first decisions of the stream
    # (the simulation's order), scored on the comments not yet seen.
    order = np.random.default_rng(seed).permutation(len(texts))
    curve = []
    for k in CHECKPOINTS[1:]:
        seen, rest = order[:k], order[k:]
        if len(rest) == 0 or len(set(gold[seen].tolist())) < 2:
            continue
        auc = roc_auc(gold[rest], _chosen_head(embedded[seen], gold[seen])(embedded[rest]))
        curve.append(f"{k}: {_fmt(auc)}")
    print(f"  the head learning from the stream, AUC on the unseen after  {', '.join(curve)}")


def run_spans(args: argparse.Namespace, params: AdaptParams) -> None:
    """Span marks on the Toxic Spans test posts: span F1 on marks not yet seen."""
    from rostra.moderation.training.datasets import load_eval_sets

    data = load_eval_sets(args.data_dir, ["toxic_spans"])["toxic_spans"]
    assert data.spans is not None
    posts = []
    for text, offsets in zip(data.texts, data.spans, strict=True):
        spans, start = [], None
        for k, off in enumerate(offsets):
            if start is None:
                start = off
            if k + 1 == len(offsets) or offsets[k + 1] != off + 1:
                spans.append((start, off + 1))
                start = None
        posts.append((text, tuple(spans)))
    base_spans = _base_spans(args, [t for t, _ in posts])
    order = np.random.default_rng(args.seed).permutation(len(posts))
    nan = (float("nan"),) * len(LABELS)
    print(f"\ntoxic_spans test ({len(posts)} posts): span F1 on the posts not yet marked")
    print(" marked  unseen  F1 base explainer  F1 with site words")
    for n in (0, 100, 200, 400, 800):
        seen = [posts[k] for k in order[:n]]
        model = fit_site_model(
            [Example(t, nan, (0.5,) * len(LABELS), s) for t, s in seen], params, seed=args.seed
        )
        rest = order[n:]
        f_base = np.mean([span_f1(base_spans[k], posts[k][1]) for k in rest])
        f_site = np.mean(
            [span_f1(model.word_spans(posts[k][0], base_spans[k]), posts[k][1]) for k in rest]
        )
        print(f" {n:6d}  {len(rest):6d}  {f_base:17.3f}  {f_site:18.3f}")


def _base_spans(args: argparse.Namespace, texts: list[str]) -> list[list[tuple[int, int]]]:
    """The shipped explainer's toxicity spans on the original texts, or none without one."""
    try:
        from rostra.moderation.engine import ModerationEngine

        engine = ModerationEngine.from_model_dir(args.model_dir, tiers=("fast",))
    except Exception as exc:  # noqa: BLE001 - report and go on without a base explainer
        print(f" (no base explainer: {exc})")
        return [[] for _ in texts]
    if engine.explainer is None:
        print(" (no base explainer in the model folder: base spans are empty)")
        return [[] for _ in texts]
    policy = Policy.default()
    out = []
    for result in engine.moderate(texts, policy=policy, tier="fast"):
        out.append([(r.start, r.end) for r in result.reasons if r.source == "model"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("ROSTRA_DATA_DIR", "../shared/data")))
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--sets", nargs="+", default=["sfu_ctc", "ruddit", "kaggle_insults"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=float, default=1.0,
                        help="share of the comments the engine does not hold that a "
                        "moderator decides anyway (1.0: a premoderated site)")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--max-rows", type=int, default=0)
    parser.add_argument("--lam", type=float, default=AdaptParams().lam)
    parser.add_argument("--lam-a", type=float, default=AdaptParams().lam_a)
    parser.add_argument("--spans", action="store_true", help="also simulate span marks")
    parser.add_argument("--ceiling", action="store_true",
                        help="also cross-validate over each whole set: the most a site could "
                        "learn from its own labels")
    parser.add_argument("--no-vectors", action="store_true",
                        help="site models read n-grams only, as on a server without the "
                        "accurate tier")
    parser.add_argument("--story-prior", action="store_true",
                        help="also print the newest model with a story-level prior (sfu_ctc)")
    parser.add_argument("--tier", choices=["fast", "accurate"], default="fast",
                        help="base tier whose scores the site model corrects")
    args = parser.parse_args()
    if not args.data_dir.is_dir():
        print(f"no data folder at {args.data_dir} (use --data-dir)", file=sys.stderr)
        return 2
    try:
        scorer = _base_scorer(args.model_dir, args.tier)
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
        print(f"cannot load the base {args.tier} model: {exc}", file=sys.stderr)
        return 2
    params = AdaptParams(lam=args.lam, lam_a=args.lam_a)
    print(f"base: {args.tier} tier; site model: {params.to_dict()}")
    sentences = _sentence_vectors(args.model_dir) if args.ceiling or not args.no_vectors else None
    for name in args.sets:
        run_set(name, args, scorer, params, sentences)
    if args.spans:
        run_spans(args, params)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
