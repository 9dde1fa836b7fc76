"""Hashed word and character n-gram features for the fast tier, shared by training and scoring.

The whole batch of (normalised) texts is joined into one UTF-8 byte array and every feature is
computed with a handful of vectorised numpy operations, no Python loop per text:

* character n-grams of orders ``char_orders`` (windows that do not cross texts), hashed into
  ``2**char_bits`` buckets;
* words (runs of letters, digits, apostrophes, ``*`` and non-ASCII bytes) and pairs of
  neighbouring words, hashed into ``2**word_bits`` buckets. Word hashes are polynomial hashes
  taken from prefix sums, so a word of any length costs O(1).

Feature values are IDF weights and each group (characters, words) is scaled to unit L2 norm
per text (counting every occurrence), as a TF-IDF ``FeatureUnion`` would do. Features come in
blocks that are already in text order, so no sort is needed. Hash arithmetic wraps modulo 2**64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # scipy loads when a matrix is first built, not with every command
    import scipy.sparse as sp

__all__ = ["Block", "NgramHasher", "WordSpan"]

_P = np.uint64(0x100000001B3)  # polynomial base (odd, so invertible modulo 2**64)
_P_INV = np.uint64(pow(0x100000001B3, -1, 1 << 64))
_MIX = np.uint64(0x9E3779B97F4A7C15)
_PAIR = np.uint64(0xC2B2AE3D27D4EB4F)
_SEP = "\x00"

# Bytes that belong to words: a-z, 0-9, apostrophe, "*" (masked letters), all non-ASCII bytes.
_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'*":
    _WORD_BYTE[_c] = True
_WORD_BYTE[128:] = True


@dataclass(frozen=True)
class Block:
    """Features of one kind for a batch, in text order: text i owns feats[indptr[i]:indptr[i+1]].

    ``pos``/``ends`` (byte offsets in the joined batch) are filled only when asked for.
    """

    group: str  # "chars" or "words": the L2 norm is taken per group
    feats: np.ndarray  # (m,) int64 global feature index
    indptr: np.ndarray  # (n + 1,) int64
    pos: np.ndarray | None = None
    ends: np.ndarray | None = None


@dataclass(frozen=True)
class WordSpan:
    """A word of one text: character offsets, unigram feature index and word hash."""

    start: int
    end: int
    feature: int
    hash: int


def _indptr(counts: np.ndarray) -> np.ndarray:
    indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr


def _segment_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Sum of values[indptr[i]:indptr[i+1]] for every i (empty segments give 0)."""
    csum = np.zeros(values.shape[0] + 1, dtype=np.float64)
    np.cumsum(values, out=csum[1:])
    sums: np.ndarray = csum[indptr[1:]] - csum[indptr[:-1]]
    return sums


class RowMap(Protocol):
    """Feature ids -> rows of a compact weight table (see ``NgramHasher.logits``)."""

    def __getitem__(self, feats: np.ndarray, /) -> np.ndarray: ...


#: Up to this many texts, scoring and word shares add weight rows with numpy instead of a
#: scipy sparse product (the same sums, in the same order).
FEW = 4


def _sparse_sums(columns: np.ndarray, indptr: np.ndarray, weighted: np.ndarray) -> np.ndarray:
    """Per text (``indptr``), the sum of the rows of ``weighted`` that its features pick."""
    import scipy.sparse as sp

    ones = np.ones(columns.shape[0], dtype=np.float32)
    x = sp.csr_matrix((ones, columns, indptr), shape=(indptr.shape[0] - 1, weighted.shape[0]))
    return np.asarray(x @ weighted)


class NgramHasher:
    """Turns normalised texts into feature blocks; see the module docstring."""

    def __init__(
        self,
        *,
        char_orders: tuple[int, ...] = (2, 3, 4, 5),
        char_bits: int = 20,
        word_bits: int = 19,
        idf: np.ndarray | None = None,
    ) -> None:
        self.char_orders = tuple(sorted(char_orders))
        self.char_bits = char_bits
        self.word_bits = word_bits
        self.n_char = 1 << char_bits
        self.n_word = 1 << word_bits
        self.n_features = self.n_char + self.n_word
        self.idf = idf  # (n_features,) float32, None = all ones
        self._char_shift = np.uint64(64 - char_bits)
        self._word_shift = np.uint64(64 - word_bits)

    # -- byte level ------------------------------------------------------------------------

    @staticmethod
    def _bytes(texts: Sequence[str]) -> np.ndarray:
        joined = _SEP.join(texts)
        if joined.count(_SEP) != max(len(texts) - 1, 0):
            joined = _SEP.join(t.replace(_SEP, " ") for t in texts)
        return np.frombuffer(joined.encode("utf-8", "replace"), dtype=np.uint8)

    def blocks(self, texts: Sequence[str], *, positions: bool = False) -> list[Block]:
        n = len(texts)
        b = self._bytes(texts)
        seps = np.flatnonzero(b == 0)
        bounds = np.concatenate(([-1], seps, [b.shape[0]]))
        doc_start = bounds[:-1] + 1
        doc_len = bounds[1:] - doc_start
        if n == 0:
            doc_start = doc_len = np.zeros(0, np.int64)
        out = self._chars(b, seps, doc_len, positions)
        out.extend(self._words(b, seps, n, positions))
        return out

    def _chars(
        self, b: np.ndarray, seps: np.ndarray, doc_len: np.ndarray, positions: bool
    ) -> list[Block]:
        n_bytes = b.shape[0]
        out: list[Block] = []
        h = b.astype(np.uint64)
        for order in range(1, (self.char_orders[-1] if self.char_orders else 0) + 1):
            if order > 1:
                h = h[:-1] * _P + b[order - 1 :]
            if order not in self.char_orders:
                continue
            m = n_bytes - order + 1
            if m <= 0:
                counts = np.zeros(doc_len.shape[0], dtype=np.int64)
                out.append(Block("chars", np.zeros(0, np.int64), _indptr(counts)))
                continue
            ok = np.ones(m, dtype=bool)
            # windows that contain a separator start at sep - order + 1 .. sep
            bad = (seps[:, None] - np.arange(order)[None, :]).ravel()
            ok[bad[(bad >= 0) & (bad < m)]] = False
            feats = ((h[ok] + np.uint64(order)) * _MIX >> self._char_shift).astype(np.int64)
            counts = np.maximum(doc_len - order + 1, 0)
            pos = ends = None
            if positions:
                pos = np.flatnonzero(ok)
                ends = pos + order
            out.append(Block("chars", feats, _indptr(counts), pos, ends))
        return out

    @staticmethod
    def word_bounds(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start and end byte offsets of words, and each word's hash."""
        is_w = _WORD_BYTE[b]
        edges = np.diff(np.concatenate(([False], is_w, [False])).astype(np.int8))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        n = b.shape[0]
        powers = np.full(n + 1, _P, dtype=np.uint64)
        powers[0] = 1
        powers = np.cumprod(powers, dtype=np.uint64)
        inv = np.full(n + 1, _P_INV, dtype=np.uint64)
        inv[0] = 1
        inv = np.cumprod(inv, dtype=np.uint64)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(b * powers[:n], out=prefix[1:], dtype=np.uint64)
        hashes = (prefix[ends] - prefix[starts]) * inv[starts]
        return starts, ends, hashes

    def _unigrams(self, hashes: np.ndarray) -> np.ndarray:
        return ((hashes ^ np.uint64(101)) * _MIX >> self._word_shift).astype(np.int64) + self.n_char

    def _bigrams(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        h = (left * _PAIR + right) * _MIX
        feats: np.ndarray = (h >> self._word_shift).astype(np.int64) + self.n_char
        return feats

    def _words(self, b: np.ndarray, seps: np.ndarray, n: int, positions: bool) -> list[Block]:
        starts, ends, hashes = self.word_bounds(b)
        wdoc = np.searchsorted(seps, starts)  # text index of each word
        same = wdoc[:-1] == wdoc[1:]
        uni = Block(
            "words",
            self._unigrams(hashes),
            _indptr(np.bincount(wdoc, minlength=n)),
            starts if positions else None,
            ends if positions else None,
        )
        bi = Block(
            "words",
            self._bigrams(hashes[:-1][same], hashes[1:][same]),
            _indptr(np.bincount(wdoc[:-1][same], minlength=n)),
            starts[:-1][same] if positions else None,
            ends[1:][same] if positions else None,
        )
        return [uni, bi]

    # -- matrices and scores -------------------------------------------------------------

    def _values(self, feats: np.ndarray) -> np.ndarray:
        if self.idf is None:
            return np.ones(feats.shape[0], dtype=np.float32)
        values: np.ndarray = self.idf[feats]
        return values

    def _norms(
        self, blocks: list[Block], n: int, idf_sq: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        sq: dict[str, np.ndarray] = {}
        for blk in blocks:
            v = idf_sq[blk.feats] if idf_sq is not None else self._values(blk.feats) ** 2
            sq[blk.group] = sq.get(blk.group, np.zeros(n)) + _segment_sums(v, blk.indptr)
        norms = {}
        for group, s in sq.items():
            s = np.sqrt(s)
            s[s == 0] = 1.0
            norms[group] = s
        return norms

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The (n, n_features) TF-IDF matrix (used for training and tests)."""
        import scipy.sparse as sp

        n = len(texts)
        blocks = self.blocks(texts)
        norms = self._norms(blocks, n, None)
        total = sp.csr_matrix((n, self.n_features), dtype=np.float32)
        for blk in blocks:
            counts = np.diff(blk.indptr)
            v = self._values(blk.feats) / np.repeat(norms[blk.group], counts)
            x = sp.csr_matrix(
                (v.astype(np.float32), blk.feats, blk.indptr), shape=(n, self.n_features)
            )
            total = total + x
        return total.tocsr()

    def logits(
        self,
        texts: Sequence[str],
        weighted: np.ndarray,
        idf_sq: np.ndarray | None = None,
        *,
        rows: RowMap | None = None,
    ) -> np.ndarray:
        """``transform(texts) @ W`` without building values: ``weighted = idf[:, None] * W``.
        ``idf_sq`` (the squared IDFs) saves squaring them; without it they come from ``idf``.
        ``rows`` maps each feature to its row of ``weighted`` when that holds only some rows
        (an array indexed by feature, or anything that maps an array of features the same
        way). The result has ``weighted``'s dtype."""
        n = len(texts)
        blocks = self.blocks(texts)
        norms = self._norms(blocks, n, idf_sq)
        sums: dict[str, np.ndarray] = {}
        for blk in blocks:
            if blk.feats.size == 0:
                continue
            columns = blk.feats if rows is None else rows[blk.feats]
            if n <= FEW:
                # A live post (with its group-neutral copy): add up each text's weight rows.
                # Building a scipy matrix costs ~100 us whatever its size, most of the time of
                # scoring one comment, and a server that only takes posts then never loads
                # scipy (~15 MB). The sums run row by row as the sparse product does, so the
                # scores are the same to the bit.
                part = np.stack([
                    weighted[columns[blk.indptr[i] : blk.indptr[i + 1]]].sum(axis=0)
                    for i in range(n)
                ])
            else:
                part = _sparse_sums(columns, blk.indptr, weighted)
            sums[blk.group] = sums[blk.group] + part if blk.group in sums else part
        out = np.zeros((n, weighted.shape[1]), dtype=weighted.dtype)
        for group, s in sums.items():
            out += (s / norms[group][:, None]).astype(weighted.dtype)
        return out

    def words(self, text: str) -> list[WordSpan]:
        """The words of one text with character offsets, unigram feature and hash."""
        encoded = text.encode("utf-8", "replace")
        b = np.frombuffer(encoded, dtype=np.uint8)
        starts, ends, hashes = self.word_bounds(b)
        feats = self._unigrams(hashes)
        char_of_byte = char_offsets_of_bytes(text, encoded)
        return [
            WordSpan(int(char_of_byte[s]), int(char_of_byte[e]), int(f), int(h))
            for s, e, f, h in zip(starts, ends, feats, hashes, strict=True)
        ]

    def bigram_feature(self, left: WordSpan, right: WordSpan) -> int:
        """Feature index of the word pair (left, right)."""
        pair = self._bigrams(
            np.array([left.hash], dtype=np.uint64), np.array([right.hash], dtype=np.uint64)
        )
        return int(pair[0])


def char_offsets_of_bytes(text: str, encoded: bytes) -> np.ndarray:
    """For each byte offset of ``encoded`` (and its end), the character offset in ``text``."""
    if len(encoded) == len(text):
        return np.arange(len(encoded) + 1)
    # UTF-8 width of each character from its code point; a lone surrogate becomes "?" (1 byte)
    # under the "replace" error handler the encoder used.
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    widths = 1 + (cps >= 0x80).astype(np.int64) + (cps >= 0x800) + (cps >= 0x10000)
    widths[(cps >= 0xD800) & (cps < 0xE000)] = 1
    out = np.empty(len(encoded) + 1, dtype=np.int64)
    out[:-1] = np.repeat(np.arange(len(text)), widths)
    out[-1] = len(text)
    return out
