"""The fast tier: hashed word and character n-gram logistic regression, six labels, calibrated.

Built for bulk rescoring and as the first pass of the cascade: a few vectorised numpy passes
and sparse matrix products per batch, tens of thousands of comments per second on one core.
Runtime needs numpy and scipy only; ``rostra train --tier fast``
(``rostra.moderation.training.train_fast``) rebuilds the files in ``models/fast/``:

* ``weights.npz`` — int8 weights (n_features, 6) with a scale per label, bias, IDF (uint8
  with a scale) and the Platt calibration ``p = sigmoid(a * logit + b)`` per label;
* ``meta.json`` — hashing parameters, labels and how the model was trained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rostra.domain.errors import InvalidInput, ScorerNotLoaded
from rostra.domain.labels import LABELS
from rostra.moderation.features import FEW, NgramHasher, char_offsets_of_bytes

_SEP = "\x00"

__all__ = ["DEFAULT_MODEL_DIR", "FastModel", "FastScorer", "load_fast_model", "save_fast_model"]

DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "fast"


@dataclass
class FastModel:
    """Everything the fast tier needs in memory."""

    char_orders: tuple[int, ...]
    char_bits: int
    word_bits: int
    weights: np.ndarray  # (n_features, 6) float32
    bias: np.ndarray  # (6,)
    idf: np.ndarray  # (n_features,) float32
    calib_a: np.ndarray  # (6,)
    calib_b: np.ndarray  # (6,)
    meta: dict[str, Any]

    def hasher(self) -> NgramHasher:
        return NgramHasher(
            char_orders=self.char_orders,
            char_bits=self.char_bits,
            word_bits=self.word_bits,
            idf=self.idf,
        )


def save_fast_model(model: FastModel, out_dir: Path) -> None:
    """Write a fast model: weights quantised to int8 per label, IDF to uint8."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scale = np.abs(model.weights).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(model.weights / scale), -127, 127).astype(np.int8)
    idf_scale = max(float(model.idf.max()), 1e-6) / 255.0
    idf_q = np.clip(np.round(model.idf / idf_scale), 0, 255).astype(np.uint8)
    np.savez_compressed(
        out_dir / "weights.npz",
        weights=q,
        scale=scale.astype(np.float32),
        bias=model.bias.astype(np.float32),
        idf=idf_q,
        idf_scale=np.float32(idf_scale),
        calib_a=model.calib_a.astype(np.float32),
        calib_b=model.calib_b.astype(np.float32),
    )
    meta = dict(
        model.meta,
        labels=list(LABELS),
        char_orders=list(model.char_orders),
        char_bits=model.char_bits,
        word_bits=model.word_bits,
    )
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_fast_model(model_dir: Path) -> FastModel:
    """Read a fast model directory; a clear error when files are missing or inconsistent."""
    try:
        meta = json.loads((model_dir / "meta.json").read_text())
        with np.load(model_dir / "weights.npz") as z:
            arrays = {k: z[k] for k in z.files}
        char_orders = tuple(int(o) for o in meta["char_orders"])
        char_bits = int(meta["char_bits"])
        word_bits = int(meta["word_bits"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"cannot load the fast model from {model_dir}: {exc}") from exc
    if tuple(meta.get("labels", ())) != LABELS:
        raise InvalidInput(f"fast model in {model_dir} was trained for other labels")
    n_features = (1 << char_bits) + (1 << word_bits)
    weights = arrays["weights"].astype(np.float32) * arrays["scale"].astype(np.float32)
    if weights.shape != (n_features, len(LABELS)) or arrays["idf"].shape != (n_features,):
        raise InvalidInput(f"fast model in {model_dir} has arrays of the wrong shape")
    return FastModel(
        char_orders=char_orders,
        char_bits=char_bits,
        word_bits=word_bits,
        weights=weights,
        bias=arrays["bias"].astype(np.float32),
        idf=arrays["idf"].astype(np.float32) * float(arrays["idf_scale"]),
        calib_a=arrays["calib_a"].astype(np.float32),
        calib_b=arrays["calib_b"].astype(np.float32),
        meta=meta,
    )


def sigmoid(z: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return p


class FastScorer:
    """Scores normalised texts for all six labels; see the module docstring."""

    name = "fast"
    labels: tuple[str, ...] = LABELS

    def __init__(self, *, model_dir: str | Path | None = None) -> None:
        self.model_dir = model_dir
        self._model: FastModel | None = None
        self._hasher: NgramHasher | None = None
        self._weighted = np.zeros((0, len(LABELS)), dtype=np.float32)
        self._rows = np.zeros(0, dtype=np.int32)

    def get_params(self) -> dict[str, Any]:
        return {"model_dir": None if self.model_dir is None else str(self.model_dir)}

    def load(self) -> None:
        if self._model is not None:
            return
        directory = DEFAULT_MODEL_DIR if self.model_dir is None else Path(self.model_dir)
        model = load_fast_model(directory)
        self._hasher = model.hasher()
        # Fold the IDF into the weights once, so scoring needs no per-feature values.
        # The unfolded weights are not kept: (n_features, 6) float32 is tens of MB per copy;
        # nor are the squared IDFs (the norms square the few they need).
        # Only the rows of features with a weight are kept (about 40 % of the hashed space),
        # plus one zero row that every other feature points at: ``_rows`` maps a feature to
        # its row (int32), which costs a look-up per feature and halves the table.
        weighted = model.weights * model.idf[:, None]
        kept = np.flatnonzero((weighted != 0).any(axis=1))
        self._rows = np.full(weighted.shape[0], kept.size, dtype=np.int32)
        self._rows[kept] = np.arange(kept.size, dtype=np.int32)
        self._weighted = np.zeros((kept.size + 1, len(LABELS)), dtype=np.float32)
        self._weighted[:-1] = weighted[kept]
        del weighted
        self._model = replace(model, weights=np.zeros((0, len(LABELS)), dtype=np.float32))

    @property
    def model(self) -> FastModel:
        if self._model is None:
            raise ScorerNotLoaded("FastScorer.score() called before load()")
        return self._model

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Uncalibrated log-odds, shape (n, 6)."""
        model = self.model
        assert self._hasher is not None
        if len(texts) == 0:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        z: np.ndarray = self._hasher.logits(texts, self._weighted, rows=self._rows) + model.bias
        return z

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, shape (len(texts), 6), columns in ``LABELS`` order."""
        model = self.model
        z = self.logits(texts)
        return sigmoid(z * model.calib_a + model.calib_b).astype(np.float32)

    def word_contributions(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Each word's share of each label's logit: character offsets in ``text``, (W, 6).

        A feature's weight is shared evenly by the words it overlaps: a word unigram goes to
        its word, a word pair to both words, a character n-gram to the words it touches.
        """
        starts, ends, indptr, contrib = self.word_contributions_many([text])
        offsets = list(zip(starts.tolist(), ends.tolist(), strict=True))
        return offsets, contrib

    def word_contributions_many(
        self, texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`word_contributions` for a batch in one vectorised pass.

        Returns the words' character ``starts`` and ``ends`` (each relative to its own text),
        ``indptr`` (text i owns words ``indptr[i]:indptr[i + 1]``) and the (W, 6) shares.
        """
        self.model  # noqa: B018 - raises ScorerNotLoaded
        hasher = self._hasher
        assert hasher is not None
        n = len(texts)
        b = hasher._bytes(texts)
        seps = np.flatnonzero(b == 0)
        starts, ends, _hashes = hasher.word_bounds(b)
        wdoc = np.searchsorted(seps, starts)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(wdoc, minlength=n), out=indptr[1:])
        n_words = starts.shape[0]
        empty = np.zeros(0, dtype=np.int64)
        if n_words == 0:
            return empty, empty, indptr, np.zeros((0, len(LABELS)), dtype=np.float32)

        blocks = [blk for blk in hasher.blocks(texts, positions=True) if blk.feats.size]
        norm_sq = {group: np.zeros(n, dtype=np.float64) for group in {blk.group for blk in blocks}}
        docs = []
        for blk in blocks:
            doc = np.repeat(np.arange(n), np.diff(blk.indptr))
            idf = self.model.idf[blk.feats]
            norm_sq[blk.group] += np.bincount(doc, weights=idf * idf, minlength=n)
            docs.append(doc)
        inv_norm = {group: 1.0 / np.where(v > 0, np.sqrt(v), 1.0) for group, v in norm_sq.items()}
        feats = np.concatenate([blk.feats for blk in blocks])
        pos = np.concatenate([blk.pos for blk in blocks if blk.pos is not None])
        end = np.concatenate([blk.ends for blk in blocks if blk.ends is not None])
        scale = np.concatenate(
            [inv_norm[blk.group][doc] for blk, doc in zip(blocks, docs, strict=True)]
        )

        # The word each byte belongs to (-1 between words), so a feature's words are two
        # look-ups instead of two binary searches.
        started = np.zeros(b.shape[0], dtype=np.int64)
        started[starts] = 1
        latest = np.cumsum(started) - 1
        word_of_byte = np.where(
            (latest >= 0) & (np.arange(b.shape[0]) < ends[np.maximum(latest, 0)]), latest, -1
        )
        first, last = word_of_byte[pos], word_of_byte[end - 1]
        # Each occurrence's weighted features go to its first word and, when it spans two
        # words, half to each: a sparse (word x feature) matrix of shares times the weights
        # (the product gathers the weight rows in C, with no (occurrences, 6) temporary).
        two = (first >= 0) & (last >= 0) & (first != last)
        take_first = first >= 0
        take_last = (last >= 0) & (last != first)
        share = (np.where(two, 0.5, 1.0) * scale).astype(np.float32)
        occurrences = np.concatenate([np.flatnonzero(take_first), np.flatnonzero(take_last)])
        rows = np.concatenate([first[take_first], last[take_last]])
        # Rows in order: each block's rows already ascend, so the stable sort only merges runs.
        order = np.argsort(rows, kind="stable")
        picked = self._rows[feats[occurrences[order]]]
        if n <= FEW:
            # A live post: add the shares of the weight rows up word by word, in the order the
            # sparse product adds them, so the shares are the same to the bit. A server that
            # only takes posts then never loads scipy (~15 MB).
            contrib = np.zeros((n_words, len(LABELS)), dtype=np.float32)
            parts = share[occurrences[order], None] * self._weighted[picked]
            np.add.at(contrib, rows[order], parts)
        else:
            import scipy.sparse as sp

            # Built from (data, indices, indptr), the matrix skips scipy's duplicate-summing sort.
            indptr_w = np.zeros(n_words + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=n_words), out=indptr_w[1:])
            shares = sp.csr_matrix(
                (share[occurrences[order]], picked, indptr_w),
                shape=(n_words, self._weighted.shape[0]),
            )
            contrib = np.asarray(shares @ self._weighted, dtype=np.float32)

        # Byte offsets in the joined batch -> character offsets within each text.
        joined = _SEP.join(texts)
        char_of_byte = char_offsets_of_bytes(joined, b.tobytes())
        doc_start = np.concatenate(([0], seps + 1))
        base = char_of_byte[doc_start][wdoc]
        return char_of_byte[starts] - base, char_of_byte[ends] - base, indptr, contrib
