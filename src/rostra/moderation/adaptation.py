"""Per-site adaptation: a small correction learned from one site's moderator decisions.

A site model never replaces the base engine; it corrects it. For each label ``j``::

    site_logit_j = logit(base_p) . a_j + x . w_j + b_j

where ``base_p`` are the base engine's six calibrated probabilities (any tier), ``x`` the
hashed word and character n-grams of the normalised text (L2-normalised per group, no IDF) and,
where the engine has one, the accurate tier's sentence representation of the text (the
mean-pooled layer its head reads, L2-normalised and scaled by ``vector_scale``), and
``w_j, b_j, a_j`` are fitted to the site's decisions by L-BFGS on the log-loss with penalties
``lam/2 |w|^2 + lam_b/2 b^2 + lam_a/2 |a_j - e_j|^2`` (``e_j``: label j's own base logit). So
with few decisions the correction is close to zero and the site gets the base model; with many,
``a_j`` learns how far to trust each base label on this site and ``w_j`` what this site's
moderators reject that the base misses. The base training data enter through the base model
itself (its logits are the offset), which keeps adaptation to seconds and needs no training
data on the server. The sentence representation carries what n-grams of a few hundred
decisions cannot: which comments read alike (measured with ``bench/adaptation.py``: after 400
decisions, ROC-AUC on the comments not yet seen 0.911 instead of 0.875 on Ruddit). A model that
learned from it records whose representation it was (``SentenceVectors.version``) and needs
the same one to score.

Span marks ("these words made it unacceptable") give per-site word weights: a smoothed log
ratio of how often a word was marked against how often it appeared unmarked in marked
comments. They add words to, or remove words from, the base explainer's spans.

Pure: no database, no web. Deterministic for a given input and ``seed``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rostra.domain.errors import InvalidInput
from rostra.domain.labels import LABELS, TOXICITY
from rostra.domain.moderation import Decision, ModerationResult, Reason
from rostra.moderation.explain import Span, merge_spans
from rostra.moderation.features import NgramHasher
from rostra.moderation.normalize import normalize
from rostra.moderation.policy import Policy

if TYPE_CHECKING:  # scipy loads with the features that build its matrices
    import scipy.sparse as sp

__all__ = [
    "AdaptParams",
    "Comparison",
    "Example",
    "Explain",
    "Metrics",
    "SentenceVectors",
    "SiteModel",
    "adapt_result",
    "benign_identity_texts",
    "compare",
    "evaluate",
    "example_targets",
    "fit_site_model",
    "span_f1",
    "split_by_time",
]

TOX = LABELS.index(TOXICITY)
_EPS = 1e-4
#: The engine's explainer as a site model uses it: text and labels in, model reasons out.
Explain = Callable[[str, Sequence[str]], Sequence[Reason]]

#: Punctuation trimmed off the ends of what is left of a base span around an accepted word.
_EDGE = frozenset(",.;:'\"()[]")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_DATA = Path(__file__).parent / "data" / "adaptation"


@dataclass(frozen=True)
class AdaptParams:
    """Hyper-parameters, chosen with ``bench/adaptation.py`` (see docs/moderation.md)."""

    lam: float = 1.0  # L2 on n-gram weights: few decisions barely move the model
    lam_b: float = 0.1  # L2 on the per-label bias
    lam_a: float = 1.0  # pull of the base model's weight a toward 1
    char_orders: tuple[int, ...] = (2, 3, 4, 5)
    char_bits: int = 18
    word_bits: int = 18
    min_df: int = 2  # n-grams in fewer decisions get no weight
    min_positives: int = 3  # a label is adapted only with this many positives and negatives
    max_iter: int = 200
    span_prior: float = 1.0  # pseudo-counts of the span word weights
    holdout_fraction: float = 0.2  # most recent decisions held out for the promotion check
    min_holdout: int = 20
    vector_scale: float = 1.0  # norm of the sentence representation's features (0: not used)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lam": self.lam,
            "lam_b": self.lam_b,
            "lam_a": self.lam_a,
            "char_orders": list(self.char_orders),
            "char_bits": self.char_bits,
            "word_bits": self.word_bits,
            "min_df": self.min_df,
            "min_positives": self.min_positives,
            "max_iter": self.max_iter,
            "span_prior": self.span_prior,
            "vector_scale": self.vector_scale,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AdaptParams:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "char_orders" in known:
            known["char_orders"] = tuple(int(o) for o in known["char_orders"])
        return cls(**known)


@dataclass(frozen=True)
class SentenceVectors:
    """Where a site model's sentence representation comes from: the name of the model that
    makes it (another model's vectors mean nothing to a site model) and a function from raw
    comment texts to one vector each, shape ``(n, d)``."""

    version: str
    embed: Callable[[Sequence[str]], np.ndarray]

    def memoized(self) -> SentenceVectors:
        """The same, computing each distinct text once (an adaptation embeds its decisions
        for the comparison and again for the final fit)."""
        known: dict[str, np.ndarray] = {}

        def embed(texts: Sequence[str]) -> np.ndarray:
            todo = list(dict.fromkeys(t for t in texts if t not in known))
            if todo:
                for text, row in zip(todo, np.asarray(self.embed(todo)), strict=True):
                    known[text] = row
            if not texts:
                return np.asarray(self.embed([]))
            return np.stack([known[t] for t in texts])

        return SentenceVectors(self.version, embed)


@dataclass(frozen=True)
class Example:
    """One moderator decision as training data: the text, targets per label (NaN = unknown),
    the base engine's probabilities for it (LABELS order) and the marked character spans."""

    text: str
    targets: tuple[float, ...]
    base: tuple[float, ...]
    spans: tuple[tuple[int, int], ...] = ()
    order: float = 0.0  # decision time (seconds); later examples are held out first


def example_targets(decision: str, corrections: Sequence[str] | None) -> tuple[float, ...]:
    """Targets per label from a decision and the moderator's optional label corrections.

    Corrections (a list of labels, possibly empty for "none of them") are complete: listed
    labels are 1, the others 0. Without them: approve means every label is 0; reject means
    toxic (1) and says nothing of the other labels (NaN); spam says nothing (all NaN).
    """
    nan = float("nan")
    if corrections is not None:
        unknown = sorted(set(corrections) - set(LABELS))
        if unknown:
            raise InvalidInput(f"unknown labels: {', '.join(unknown)}", field="labels")
        marked = set(corrections)
        if marked:
            marked.add(TOXICITY)  # every other label is a kind of toxicity
        return tuple(1.0 if label in marked else 0.0 for label in LABELS)
    if decision == "approve":
        return (0.0,) * len(LABELS)
    if decision == "reject":
        return tuple(1.0 if label == TOXICITY else nan for label in LABELS)
    return (nan,) * len(LABELS)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    out: np.ndarray = np.log(p / (1.0 - p))
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return out


def _words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group().casefold()) for m in _WORD.finditer(text)]


# -- the model -----------------------------------------------------------------------------


@dataclass
class SiteModel:
    """A fitted correction (see the module docstring). ``cols[j]``/``weights[j]`` are the sparse
    n-gram weights of label j (empty where the label was not adapted)."""

    params: AdaptParams
    cols: list[np.ndarray]  # int32 feature indices per label
    weights: list[np.ndarray]  # float32 per label
    bias: np.ndarray  # (6,) float64
    base_weight: np.ndarray  # (6, 6): label j's logit is logit(base) @ base_weight[:, j]
    word_weights: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    _scoring: _ScoringTables | None = field(default=None, init=False, repr=False, compare=False)

    def hasher(self) -> NgramHasher:
        return _hasher(self.params)

    def _tables(self) -> _ScoringTables:
        """The weights laid out for scoring, built on first use."""
        if self._scoring is None:
            self._scoring = _ScoringTables.of(self.cols, self.weights, self.hasher())
        return self._scoring

    @property
    def embedding(self) -> str | None:
        """The model whose sentence representation this site model reads, if any."""
        value = self.meta.get("embedding")
        return None if value is None else str(value)

    def readable_with(self, vectors: SentenceVectors | None) -> bool:
        """Whether this model can score with ``vectors`` (what the engine has now)."""
        return self.embedding is None or (vectors is not None and vectors.version == self.embedding)

    @property
    def adapted_labels(self) -> list[str]:
        return [label for j, label in enumerate(LABELS) if self.meta.get("adapted", [0] * 6)[j]]

    def logits(
        self, texts: Sequence[str], base: np.ndarray, vectors: SentenceVectors | None = None
    ) -> np.ndarray:
        """Site logits (n, 6) from raw texts and the base probabilities (n, 6). A model that
        reads a sentence representation needs ``vectors`` of the same model (else
        ``InvalidInput``)."""
        base = np.asarray(base, dtype=np.float64).reshape(len(texts), len(LABELS))
        z: np.ndarray = _logit(base) @ self.base_weight + self.bias
        if not self.readable_with(vectors):
            have = "none" if vectors is None else vectors.version
            raise InvalidInput(
                f"this site model reads the sentence representation of {self.embedding} "
                f"(the engine has {have}); train a new one with `rostra adapt`"
            )
        if not texts or not any(c.size for c in self.cols):
            return z
        # x . w_j for every label at once, without building x: the n-gram part as the fast
        # tier scores (a few texts add up their weight rows, so a live post loads no scipy),
        # the sentence part as a plain product.
        tables = self._tables()
        z += tables.hasher.logits(_normalised(texts), tables.ngrams, rows=tables.rows)
        if self.embedding is not None and vectors is not None and tables.vectors.shape[0]:
            v = np.asarray(vectors.embed(list(texts)), dtype=np.float64).reshape(len(texts), -1)
            v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            width = min(v.shape[1], tables.vectors.shape[0])
            z += (v[:, :width] * self.params.vector_scale) @ tables.vectors[:width]
        return z

    def predict(
        self, texts: Sequence[str], base: np.ndarray, vectors: SentenceVectors | None = None
    ) -> np.ndarray:
        """Site probabilities (n, 6), LABELS order."""
        return _sigmoid(self.logits(texts, base, vectors))

    def word_spans(
        self, text: str, base_spans: Sequence[tuple[int, int]], *, add: bool = True
    ) -> list[tuple[int, int]]:
        """Spans of ``text`` the site's marks say are unacceptable, sorted, overlaps merged:
        each base span as it is or, where it covers a word the site's weight calls acceptable
        (negative), what is left of it around that word; plus (``add``) every word with a
        positive site weight. A masked word (``f*ck``) in a base span stays whole."""
        words = _words(text)
        accepted = [(a, b) for a, b, w in words if self.word_weights.get(w, 0.0) < 0.0]
        out: list[tuple[int, int]] = []
        for s, e in base_spans:
            pieces = [(s, e)]
            for a, b in accepted:
                if a < e and s < b:
                    cut = [((x, min(y, a)), (max(x, b), y)) for x, y in pieces]
                    pieces = [p for pair in cut for p in pair if p[0] < p[1]]
            for x, y in pieces:
                while x < y and (text[x].isspace() or text[x] in _EDGE):
                    x += 1
                while y > x and (text[y - 1].isspace() or text[y - 1] in _EDGE):
                    y -= 1
                if x < y:
                    out.append((x, y))
        if add:
            out += [(a, b) for a, b, w in words if self.word_weights.get(w, 0.0) > 0.0]
        merged: list[tuple[int, int]] = []
        for a, b in sorted(out):
            if merged and a < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return merged

    # -- bytes, for the database -----------------------------------------------------------

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {
            "bias": self.bias.astype(np.float64),
            "base_weight": self.base_weight.astype(np.float64),
        }
        for j in range(len(LABELS)):
            arrays[f"cols{j}"] = self.cols[j].astype(np.int32)
            arrays[f"w{j}"] = self.weights[j].astype(np.float32)
        words = sorted(self.word_weights)
        arrays["words"] = np.array(words, dtype=np.str_) if words else np.zeros(0, "U1")
        arrays["word_w"] = np.array([self.word_weights[w] for w in words], dtype=np.float64)
        header = {"params": self.params.to_dict(), "meta": self.meta}
        arrays["header"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SiteModel:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                header = json.loads(z["header"].tobytes().decode())
                words = [str(w) for w in z["words"]]
                return cls(
                    params=AdaptParams.from_dict(header["params"]),
                    cols=[z[f"cols{j}"].astype(np.int64) for j in range(len(LABELS))],
                    weights=[z[f"w{j}"].astype(np.float64) for j in range(len(LABELS))],
                    bias=z["bias"].astype(np.float64),
                    base_weight=z["base_weight"].astype(np.float64),
                    word_weights=dict(zip(words, z["word_w"].tolist(), strict=True)),
                    meta=header["meta"],
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"unreadable site model: {exc}") from exc


class _SortedRows:
    """Feature id -> row of a compact table holding the few features a site model weighs:
    a binary search in their sorted ids; every other feature gets the last row (zeros)."""

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = keys

    def __getitem__(self, feats: np.ndarray, /) -> np.ndarray:
        if self.keys.size == 0:
            return np.zeros(feats.shape, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, feats), self.keys.size - 1)
        found: np.ndarray = np.where(self.keys[at] == feats, at, self.keys.size)
        return found


@dataclass(frozen=True)
class _ScoringTables:
    """A site model's weights for scoring: n-gram rows (float64, one column per label, a last
    row of zeros) with their feature ids, and the sentence-representation weights
    (dimension x label)."""

    hasher: NgramHasher
    ngrams: np.ndarray
    rows: _SortedRows
    vectors: np.ndarray

    @classmethod
    def of(cls, cols: Sequence[np.ndarray], weights: Sequence[np.ndarray],
           hasher: NgramHasher) -> _ScoringTables:
        n = hasher.n_features
        keys = np.unique(np.concatenate([c[c < n] for c in cols])).astype(np.int64)
        width = max((int(c.max()) - n + 1 for c in cols if c.size and c.max() >= n), default=0)
        ngrams = np.zeros((keys.size + 1, len(LABELS)), dtype=np.float64)
        vectors = np.zeros((width, len(LABELS)), dtype=np.float64)
        for j, (c, w) in enumerate(zip(cols, weights, strict=True)):
            gram = c < n
            ngrams[np.searchsorted(keys, c[gram]), j] = w[gram]
            vectors[c[~gram] - n, j] = w[~gram]
        return cls(hasher, ngrams, _SortedRows(keys), vectors)


def _hasher(params: AdaptParams) -> NgramHasher:
    return NgramHasher(
        char_orders=params.char_orders, char_bits=params.char_bits, word_bits=params.word_bits
    )


def _normalised(texts: Sequence[str]) -> list[str]:
    return [normalize(t, with_offsets=False).text for t in texts]


def _features(
    texts: Sequence[str], params: AdaptParams, vectors: SentenceVectors | None
) -> sp.csr_matrix:
    """Hashed n-grams of the texts, then (with ``vectors``) their sentence representation,
    each row L2-normalised and scaled by ``params.vector_scale``."""
    import scipy.sparse as sparse

    x = _hasher(params).transform(_normalised(texts))
    if vectors is None:
        return x
    v = np.asarray(vectors.embed(list(texts)), dtype=np.float64).reshape(len(texts), -1)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12) * params.vector_scale
    return sparse.hstack([x, sparse.csr_matrix(v)], format="csr")


# -- fitting -------------------------------------------------------------------------------


def _lbfgs(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x: np.ndarray,
    max_iter: int,
    memory: int = 10,
    gtol: float = 1e-5,
) -> np.ndarray:
    """Plain L-BFGS with a backtracking (Armijo) line search. Here rather than scipy's
    L-BFGS-B, whose bound handling costs far more per step on ~10^5 free parameters."""
    f, g = fun(x)
    history: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(max_iter):
        if float(np.abs(g).max()) < gtol:
            break
        q = g.copy()
        alphas = []
        for s_k, y_k, rho in reversed(history):
            alpha = rho * float(s_k @ q)
            q -= alpha * y_k
            alphas.append(alpha)
        if history:
            s_k, y_k, _ = history[-1]
            q *= float(s_k @ y_k) / float(y_k @ y_k)
        else:
            q /= max(1.0, float(np.linalg.norm(g)))
        for (s_k, y_k, rho), alpha in zip(history, reversed(alphas), strict=True):
            q += s_k * (alpha - rho * float(y_k @ q))
        direction = -q
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction: restart from the gradient
            history.clear()
            direction, slope = -g, -float(g @ g)
        step = 1.0
        while True:
            x_new = x + step * direction
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope or step < 1e-8:
                break
            step *= 0.5
        s_k, y_k = x_new - x, g_new - g
        sy = float(s_k @ y_k)
        if sy > 1e-12:
            history.append((s_k, y_k, 1.0 / sy))
            if len(history) > memory:
                history.pop(0)
        converged = abs(f - f_new) <= 1e-7 * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if converged:
            break
    return x


def _fit_label(
    x: sp.csr_matrix, offsets: np.ndarray, y: np.ndarray, j: int, params: AdaptParams
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Minimise sum logloss(y, offsets.a + x.w + b) + penalties, ``a`` pulled toward the
    unit vector of label j; returns (cols, w, b, a)."""
    # Only n-grams seen in at least ``min_df`` decisions get a weight: a one-off n-gram cannot
    # generalise, and dropping them keeps the solver small (seconds for 10,000 decisions).
    df = np.bincount(x.indices, minlength=x.shape[1])
    cols = np.flatnonzero(df >= params.min_df)
    xs = x[:, cols].tocsr().astype(np.float64)
    k = cols.shape[0]
    m = offsets.shape[1]
    # The solver works on a * scale: base logits (spread of several units) and n-gram values
    # (about 0.05 each) then have comparable curvature, and L-BFGS converges in few steps.
    scale = np.maximum(offsets.std(axis=0), 0.1) * 10.0
    scaled = offsets / scale
    prior = np.zeros(m)
    prior[j] = 1.0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b, a_scaled = theta[:k], theta[k], theta[k + 1 :]
        a = a_scaled / scale
        z = scaled @ a_scaled + xs @ w + b
        loss = float(np.sum(np.logaddexp(0.0, z) - y * z))
        r = _sigmoid(z) - y
        grad = np.empty(k + 1 + m)
        grad[:k] = xs.T @ r + params.lam * w
        grad[k] = r.sum() + params.lam_b * b
        grad[k + 1 :] = scaled.T @ r + params.lam_a * (a - prior) / scale
        loss += 0.5 * (params.lam * float(w @ w) + params.lam_b * b * b)
        loss += 0.5 * params.lam_a * float((a - prior) @ (a - prior))
        return loss, grad

    theta0 = np.concatenate([np.zeros(k + 1), prior * scale])
    theta = _lbfgs(objective, theta0, params.max_iter)
    a = theta[k + 1 :] / scale
    return cols.astype(np.int32), theta[:k].astype(np.float32), float(theta[k]), a


def _word_weights(examples: Sequence[Example], prior: float) -> dict[str, float]:
    """log((marked + prior) / (unmarked + prior)) per word seen in comments with marks."""
    marked: dict[str, int] = {}
    unmarked: dict[str, int] = {}
    for ex in examples:
        if not ex.spans:
            continue
        for start, end, word in _words(ex.text):
            inside = any(s < end and start < e for s, e in ex.spans)
            counts = marked if inside else unmarked
            counts[word] = counts.get(word, 0) + 1
    return {
        w: float(np.log((marked.get(w, 0) + prior) / (unmarked.get(w, 0) + prior)))
        for w in sorted(set(marked) | set(unmarked))
    }


def fit_site_model(
    examples: Sequence[Example],
    params: AdaptParams | None = None,
    *,
    seed: int = 0,
    vectors: SentenceVectors | None = None,
) -> SiteModel:
    """Fit a site model; labels with too few positives or negatives keep the base model.
    With ``vectors`` (and ``params.vector_scale`` > 0) it also learns from the texts' sentence
    representation, and then needs the same ``vectors`` to score."""
    params = params or AdaptParams()
    if params.vector_scale <= 0:
        vectors = None
    # The seed fixes the row order the solver sees (the result does not depend on it beyond
    # floating-point summation order, and is identical for identical input and seed).
    order = np.random.default_rng(seed).permutation(len(examples))
    rows = [examples[i] for i in order]
    n = len(rows)
    cols = [np.zeros(0, np.int32) for _ in LABELS]
    weights = [np.zeros(0, np.float32) for _ in LABELS]
    bias = np.zeros(len(LABELS))
    base_weight = np.eye(len(LABELS))
    adapted = [0] * len(LABELS)
    if n:
        targets = np.array([r.targets for r in rows], dtype=np.float64).reshape(n, len(LABELS))
        base = np.array([r.base for r in rows], dtype=np.float64).reshape(n, len(LABELS))
        x = _features([r.text for r in rows], params, vectors)
        for j in range(len(LABELS)):
            known = ~np.isnan(targets[:, j])
            y = targets[known, j]
            if (y >= 0.5).sum() < params.min_positives or (y < 0.5).sum() < params.min_positives:
                continue
            cols[j], weights[j], bias[j], base_weight[:, j] = _fit_label(
                x[known], _logit(base[known]), y, j, params
            )
            adapted[j] = 1
    return SiteModel(
        params=params,
        cols=cols,
        weights=weights,
        bias=bias,
        base_weight=base_weight,
        word_weights=_word_weights(rows, params.span_prior),
        meta={
            "examples": n,
            "seed": seed,
            "adapted": adapted,
            "embedding": None if vectors is None else vectors.version,
        },
    )


# -- evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """How one model does on held-out decisions (toxicity: any reject)."""

    rows: int
    auc: float | None  # ROC-AUC of the toxicity score against the moderators' decisions
    agreement: float | None  # share where the policy's flag (review or reject) matches
    identity_fpr: float  # share of benign identity templates the policy flags
    span_f1: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "auc": self.auc,
            "agreement": self.agreement,
            "identity_fpr": self.identity_fpr,
            "span_f1": self.span_f1,
        }


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Mann-Whitney ROC-AUC with ties counted half; None when one class is missing."""
    y = np.asarray(y) >= 0.5
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return None
    from scipy.stats import rankdata

    ranks = rankdata(score)
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def flags(policy: Policy, probs: np.ndarray) -> np.ndarray:
    """True where the policy would hold or reject on these label scores alone."""
    out = np.zeros(probs.shape[0], dtype=bool)
    for j, label in enumerate(LABELS):
        out |= probs[:, j] >= policy.thresholds[label].review
    return out


def span_f1(pred: Sequence[tuple[int, int]], gold: Sequence[tuple[int, int]]) -> float:
    """Character-level F1 of one post (SemEval-2021 Task 5: 1.0 when both are empty)."""
    p = {i for s, e in pred for i in range(s, e)}
    g = {i for s, e in gold for i in range(s, e)}
    if not g:
        return 1.0 if not p else 0.0
    if not p:
        return 0.0
    tp = len(p & g)
    return 2 * tp / (len(p) + len(g))


def benign_identity_texts() -> list[str]:
    """The benign identity-mention sentences of the promotion check (package data)."""

    def lines(name: str) -> list[str]:
        text = (_DATA / name).read_text(encoding="utf-8")
        return [x.strip() for x in text.splitlines() if x.strip() and not x.startswith("#")]

    return [
        t.format(t=term, T=term[:1].upper() + term[1:])
        for t in lines("identity_checks.txt")
        for term in lines("identity_terms.txt")
    ]


def evaluate(
    model: SiteModel | None,
    examples: Sequence[Example],
    *,
    policy: Policy,
    identity_base: np.ndarray,
    identity_texts: Sequence[str],
    base_spans: Sequence[Sequence[tuple[int, int]]] | None = None,
    vectors: SentenceVectors | None = None,
) -> Metrics:
    """Metrics of ``model`` (None: the base engine) on decided examples.

    ``identity_base`` are the base probabilities of ``identity_texts``; ``base_spans``, one
    list per example, the base explainer's spans (for span F1 on the examples with marks);
    ``vectors``, the sentence representation a model that reads one needs.
    """
    rows = [e for e in examples if not np.isnan(e.targets[TOX])]
    texts = [e.text for e in rows]
    base = np.array([e.base for e in rows], dtype=np.float64).reshape(len(rows), len(LABELS))
    probs = base if model is None else model.predict(texts, base, vectors)
    y = np.array([e.targets[TOX] for e in rows], dtype=np.float64)
    agreement = float(np.mean(flags(policy, probs) == (y >= 0.5))) if rows else None
    ident = np.asarray(identity_base, dtype=np.float64).reshape(len(identity_texts), len(LABELS))
    ident_probs = ident if model is None else model.predict(identity_texts, ident, vectors)
    fpr = float(flags(policy, ident_probs).mean()) if len(identity_texts) else 0.0
    f1 = None
    if base_spans is not None:
        scores = []
        for ex, spans in zip(examples, base_spans, strict=True):
            if not ex.spans:
                continue
            pred = list(spans) if model is None else model.word_spans(ex.text, spans)
            scores.append(span_f1(pred, ex.spans))
        f1 = float(np.mean(scores)) if scores else None
    return Metrics(len(rows), roc_auc(y, probs[:, TOX]), agreement, fpr, f1)


def split_by_time(
    examples: Sequence[Example], params: AdaptParams | None = None
) -> tuple[list[Example], list[Example]]:
    """(earlier, most recent): the last ``holdout_fraction`` of decisions, at least
    ``min_holdout`` of them, are held out (fewer than twice that: nothing can be held out)."""
    params = params or AdaptParams()
    ordered = sorted(examples, key=lambda e: e.order)
    n_test = max(params.min_holdout, int(round(len(ordered) * params.holdout_fraction)))
    if len(ordered) < 2 * params.min_holdout:
        return ordered, []
    return ordered[:-n_test], ordered[-n_test:]


@dataclass(frozen=True)
class Comparison:
    """Base, active and candidate models on the same held-out recent decisions."""

    base: Metrics
    active: Metrics | None
    candidate: Metrics
    train_rows: int
    test_rows: int

    @property
    def reference(self) -> Metrics:
        return self.active or self.base

    @property
    def promotable(self) -> bool:
        return not self.refusals()

    def refusals(self) -> list[str]:
        """Why the candidate may not be promoted (empty: it may)."""
        ref, cand = self.reference, self.candidate
        out = []
        if self.test_rows == 0 or cand.auc is None or ref.auc is None:
            out.append("not enough recent decisions of both kinds to compare")
            return out
        if cand.auc <= ref.auc:
            out.append(f"ROC-AUC {cand.auc:.3f} is not above {ref.auc:.3f}")
        if (
            cand.agreement is not None
            and ref.agreement is not None
            and cand.agreement <= ref.agreement
        ):
            out.append(f"agreement {cand.agreement:.3f} is not above {ref.agreement:.3f}")
        if cand.identity_fpr > ref.identity_fpr:
            out.append(
                f"flags {cand.identity_fpr:.1%} of benign identity mentions "
                f"(current: {ref.identity_fpr:.1%})"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.to_dict(),
            "active": None if self.active is None else self.active.to_dict(),
            "candidate": self.candidate.to_dict(),
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "promotable": self.promotable,
            "refusals": self.refusals(),
        }


def compare(
    examples: Sequence[Example],
    active: SiteModel | None,
    *,
    policy: Policy,
    identity_base: np.ndarray,
    identity_texts: Sequence[str],
    base_spans: Sequence[Sequence[tuple[int, int]]] | None = None,
    params: AdaptParams | None = None,
    seed: int = 0,
    vectors: SentenceVectors | None = None,
) -> Comparison:
    """Train a candidate on the earlier decisions and compare it with the active model (and
    the base engine) on the most recent ones. ``vectors``: the sentence representation the
    candidate may learn from (and the active model may read)."""
    params = params or AdaptParams()
    spans_of = {}
    if base_spans is not None:
        spans_of = {id(e): s for e, s in zip(examples, base_spans, strict=True)}
    train, test = split_by_time(examples, params)
    candidate = fit_site_model(train, params, seed=seed, vectors=vectors)
    test_spans = [spans_of[id(e)] for e in test] if base_spans is not None else None
    kwargs: dict[str, Any] = {
        "policy": policy,
        "identity_base": identity_base,
        "identity_texts": identity_texts,
        "base_spans": test_spans,
        "vectors": vectors,
    }
    return Comparison(
        base=evaluate(None, test, **kwargs),
        active=None if active is None else evaluate(active, test, **kwargs),
        candidate=evaluate(candidate, test, **kwargs),
        train_rows=len(train),
        test_rows=len(test),
    )


# -- live use ------------------------------------------------------------------------------


def adapt_result(
    model: SiteModel,
    text: str,
    result: ModerationResult,
    policy: Policy,
    vectors: SentenceVectors | None = None,
    explain: Explain | None = None,
) -> ModerationResult:
    """The base engine's result for ``text`` with the site model's scores, decided again by
    the same policy. Word-list and spam reasons are kept. For each label the site model
    flags, the base explainer's spans are kept, less the words the site's marks call
    acceptable; toxicity's spans are the site's own words (see :meth:`SiteModel.word_spans`).
    ``explain`` (the engine's explainer: text and labels in, model reasons out) marks the
    words of a label the site model flags and the engine did not, so that a comment held only
    by the site model still shows its moderator which words drove it.
    ``vectors``: see :meth:`SiteModel.logits`."""
    if result.tier == "none":  # empty text: nothing was scored
        return result
    base = np.array([[result.scores.get(label, 0.0) for label in LABELS]])
    probs = model.predict([text], base, vectors)[0]
    scores = {label: float(p) for label, p in zip(LABELS, probs, strict=True)}
    flagged = [label for label in LABELS if scores[label] >= policy.thresholds[label].review]
    evidence = [r for r in result.reasons if r.source not in ("policy", "model")]
    explained = [r for r in result.reasons if r.source == "model"]
    unexplained = [label for label in flagged if all(r.label != label for r in explained)]
    if unexplained and explain is not None:
        explained += [r for r in explain(text, unexplained) if r.label in unexplained]
    kept: list[Span] = []
    for reason in explained:
        if reason.label != TOXICITY and reason.label in flagged:
            for start, end in model.word_spans(text, [(reason.start, reason.end)], add=False):
                kept.append((reason.label, start, end, reason.weight))
    evidence += [
        Reason(label, start, end, text[start:end], weight, source="model")
        for label, start, end, weight in merge_spans(kept, text)
    ]
    if TOXICITY in flagged:
        model_spans = [(r.start, r.end) for r in explained]
        for start, end in model.word_spans(text, model_spans):
            evidence.append(
                Reason(TOXICITY, start, end, text[start:end], scores[TOXICITY], source="site")
            )
    decision, reasons = policy.decide(scores, evidence, result.spam)
    # A review the engine forced for another reason (an over-long text) stays a review.
    if decision is Decision.APPROVE and any(r.source == "length" for r in result.reasons):
        decision = Decision.REVIEW
    return ModerationResult(scores, decision, reasons, dict(result.spam), result.tier)
