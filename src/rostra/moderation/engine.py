"""ModerationEngine: normalise, score (fast, accurate or cascade), explain, match word lists,
measure spam, and let the Policy decide. Batch in, list out; no I/O after ``load()``.

Per-text rules (documented in docs/moderation.md):

* an empty or white-space-only text is not sent to any model: all scores 0, ``tier="none"``,
  decision from the word lists and spam signals alone (which find nothing: approve);
* a text longer than ``max_chars`` (100,000) is judged on its first ``max_chars`` characters
  and held for review at least, with a ``spam`` reason of source ``"length"``;
* lone surrogates (invalid UTF-16 halves, as from a bad decoder) are replaced by U+FFFD, so
  every reason's text can be encoded;
* a non-string item is a programming error: ``InvalidInput`` before anything is scored.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rostra.domain.errors import InvalidInput, ScorerNotLoaded
from rostra.domain.labels import LABELS, SPAM
from rostra.domain.moderation import AuthorContext, Decision, ModerationResult, Reason
from rostra.moderation.counterfactual import DEFAULT_WEIGHT, IdentityBlend
from rostra.moderation.explain import explanation_reasons
from rostra.moderation.normalize import NormalizedText, known_words, normalize, with_offsets
from rostra.moderation.policy import TIERS, Policy
from rostra.moderation.scorer import Explainer, Scorer
from rostra.moderation.spam import link_reasons, spam_score, spam_signals
from rostra.moderation.wordlist import WordList, default_terms

__all__ = ["DEFAULT_CASCADE_BAND", "MAX_CHARS", "ModerationEngine"]

log = logging.getLogger(__name__)

MAX_CHARS = 100_000
#: Fast-tier maximum label scores in [low, high) go on to the accurate tier: below, the comment
#: is clearly fine; at or above, clearly not. The band brackets every default review threshold
#: (0.3 to 0.6) with room for the fast tier's error.
DEFAULT_CASCADE_BAND = (0.1, 0.9)
WORDLIST_CACHE_SIZE = 32

_SURROGATE_RE = re.compile("[\ud800-\udfff]")

_WordListKey = tuple[tuple[str, ...], tuple[str, ...], bool]


class ModerationEngine:
    """Scores and decides batches of comments. Construct, ``load()`` once, then ``moderate``.

    ``fast`` and ``accurate`` are Scorers (either may be absent), ``explainer`` points at the
    words behind a label. ``cascade_band`` is the fast-score band sent to the accurate tier.
    """

    def __init__(
        self,
        *,
        fast: Scorer | None = None,
        accurate: Scorer | None = None,
        explainer: Explainer | None = None,
        cascade_band: tuple[float, float] = DEFAULT_CASCADE_BAND,
        max_chars: int = MAX_CHARS,
        identity_weight: float = DEFAULT_WEIGHT,
    ) -> None:
        low, high = cascade_band
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"cascade_band must satisfy 0 <= low <= high <= 1, got {cascade_band}")
        if max_chars < 1:
            raise ValueError("max_chars must be positive")
        self.fast = fast
        self.accurate = accurate
        self.explainer = explainer
        self.cascade_band = (float(low), float(high))
        self.max_chars = max_chars
        #: Comments that name a group are also scored with the group named neutrally
        #: (rostra.moderation.counterfactual); 1.0 scores them as written only.
        self.identity = IdentityBlend(identity_weight)
        self._default_terms: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self._wordlists: OrderedDict[_WordListKey, WordList] = OrderedDict()
        self._lock = threading.Lock()

    # --- loading ---------------------------------------------------------------------

    def load(self) -> None:
        """Load the scorers and the default word list; idempotent."""
        for scorer in (self.fast, self.accurate):
            if scorer is not None:
                scorer.load()
        explainer_load = getattr(self.explainer, "load", None)
        if callable(explainer_load):
            explainer_load()
        if self._default_terms is None:
            self._default_terms = default_terms()
            self._wordlist(Policy.default())  # compile the common case now
        known_words()  # what the normaliser reads where "a" or "i" comes before split letters

    @classmethod
    def from_model_dir(
        cls,
        model_dir: str | Path | None = None,
        *,
        tiers: Sequence[str] = ("fast", "accurate"),
    ) -> ModerationEngine:
        """Build and load an engine from shipped or trained model files.

        ``model_dir`` holds ``fast/`` and ``accurate/`` (the layout of the package's
        ``models/`` folder); ``None`` means the shipped models. A tier whose files are missing
        or unreadable is skipped with a warning: the engine falls back to the other tier.
        Raises ``InvalidInput`` when no tier could be loaded at all.
        """
        unknown = set(tiers) - {"fast", "accurate"}
        if unknown:
            raise InvalidInput(f"unknown tiers: {sorted(unknown)}", field="tiers")
        root = Path(model_dir) if model_dir is not None else None
        fast: Scorer | None = None
        accurate: Scorer | None = None
        explainer: Explainer | None = None
        problems: list[str] = []
        fast_dir = root / "fast" if root is not None else None
        accurate_dir = root / "accurate" if root is not None else None
        if "fast" in tiers:
            fast = _build("fast", "FastScorer", fast_dir, problems)
            if fast is not None:
                # The explainer reads the fast model's weights: share the loaded copy.
                explainer = _build("spans", "SpanExplainer", fast_dir, problems, fast=fast)
        if "accurate" in tiers:
            accurate = _build("accurate", "AccurateScorer", accurate_dir, problems)
        if fast is None and accurate is None:
            raise InvalidInput(
                "no moderation model could be loaded: " + "; ".join(problems), field="model_dir"
            )
        engine = cls(fast=fast, accurate=accurate, explainer=explainer)
        engine.load()
        return engine

    @property
    def tiers(self) -> tuple[str, ...]:
        """The tiers this engine can run."""
        return tuple(
            name for name, s in (("fast", self.fast), ("accurate", self.accurate)) if s is not None
        )

    @property
    def version(self) -> str:
        """Which models produce the scores, recorded with every signal: "fast=...;accurate=..."."""
        parts = []
        for tier, scorer in (("fast", self.fast), ("accurate", self.accurate)):
            if scorer is not None:
                version = getattr(scorer, "version", None) or getattr(scorer, "name", "unknown")
                parts.append(f"{tier}={version}")
        return ";".join(parts) or "wordlist-only"

    @property
    def embedding_version(self) -> str | None:
        """The model behind :meth:`embed` (its vectors mean nothing to another model), or None
        when this engine cannot embed."""
        accurate = self.accurate
        if accurate is None or not getattr(accurate, "has_embeddings", False):
            return None
        return str(getattr(accurate, "version", "accurate"))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The accurate tier's sentence representation of each text (normalised here, and
        judged on its first ``max_chars`` characters as in :meth:`moderate`). Raises
        ``InvalidInput`` when this engine has no such representation (see
        :attr:`embedding_version`)."""
        if self.embedding_version is None:
            raise InvalidInput("this engine has no sentence representation (accurate tier)")
        assert self.accurate is not None
        cleaned = [
            normalize(_checked(i, text)[: self.max_chars], with_offsets=False).text
            for i, text in enumerate(texts)
        ]
        return np.asarray(self.accurate.embed(cleaned), dtype=np.float64)  # type: ignore[attr-defined]

    # --- word lists ------------------------------------------------------------------

    def _wordlist(self, policy: Policy) -> WordList:
        key = (policy.banned_terms, policy.suspect_terms, policy.use_default_wordlist)
        with self._lock:
            cached = self._wordlists.get(key)
            if cached is not None:
                self._wordlists.move_to_end(key)
                return cached
        if self._default_terms is None:
            raise ScorerNotLoaded("ModerationEngine.moderate() called before load()")
        banned, suspect = self._default_terms if policy.use_default_wordlist else ((), ())
        compiled = WordList((*banned, *policy.banned_terms), (*suspect, *policy.suspect_terms))
        with self._lock:
            self._wordlists[key] = compiled
            while len(self._wordlists) > WORDLIST_CACHE_SIZE:
                self._wordlists.popitem(last=False)
        return compiled

    # --- scoring ---------------------------------------------------------------------

    def _resolve_tier(self, tier: str) -> str:
        if tier not in TIERS:
            raise InvalidInput(f"tier must be one of {', '.join(TIERS)}", field="tier")
        if self.fast is None and self.accurate is None:
            return "none"
        if self.accurate is None:
            return "fast"
        if self.fast is None:
            return "accurate"
        return tier

    def _score(self, texts: list[str], tier: str) -> tuple[np.ndarray, list[str]]:
        """Scores in LABELS order for each normalised text, and the tier that produced each."""
        n = len(texts)
        scores = np.zeros((n, len(LABELS)), dtype=np.float64)
        tiers = ["none"] * n
        if n == 0 or tier == "none":
            return scores, tiers
        if tier == "accurate":
            assert self.accurate is not None
            scores[:] = _in_label_order(self.accurate, self._blended(self.accurate, texts), n)
            return scores, ["accurate"] * n
        assert self.fast is not None
        scores[:] = _in_label_order(self.fast, self._blended(self.fast, texts), n)
        tiers = ["fast"] * n
        if tier == "cascade":
            assert self.accurate is not None
            low, high = self.cascade_band
            peak = scores.max(axis=1)
            routed = np.flatnonzero((peak >= low) & (peak < high))
            if routed.size:
                refined = self._blended(self.accurate, [texts[i] for i in routed])
                # Where the accurate tier ran, its scores replace the fast ones outright: it is
                # the better model, and the fast score only decided that it was worth asking.
                scores[routed] = _in_label_order(self.accurate, refined, len(routed))
                for i in routed:
                    tiers[i] = "accurate"
        return scores, tiers

    def _blended(self, scorer: Scorer, texts: list[str]) -> np.ndarray:
        return self.identity.score(scorer.score, texts)

    def moderate(
        self,
        texts: Sequence[str],
        *,
        policy: Policy | None = None,
        contexts: Sequence[AuthorContext] | None = None,
        tier: str | None = None,
        explain: bool = True,
    ) -> list[ModerationResult]:
        """Judge each text: scores, decision and reasons (spans of the ORIGINAL text).

        ``tier`` overrides ``policy.tier`` ("fast", "accurate" or "cascade"); a tier whose
        model is absent falls back to the other. ``contexts``, when given, has one
        ``AuthorContext`` per text. ``explain=False`` skips the explainer spans (word-list,
        spam and policy reasons are always given).
        """
        policy = policy or Policy.default()
        chosen = self._resolve_tier(tier or policy.tier)
        if contexts is not None and len(contexts) != len(texts):
            raise InvalidInput("contexts must have one entry per text", field="contexts")
        originals = [_checked(i, text) for i, text in enumerate(texts)]
        wordlist = self._wordlist(policy)

        truncated = [len(t) > self.max_chars for t in originals]
        judged = [t[: self.max_chars] for t in originals]
        normalized = [normalize(t, with_offsets=False) for t in judged]
        to_score = [i for i, n in enumerate(normalized) if n.text.strip()]
        label_scores, tiers = self._score([normalized[i].text for i in to_score], chosen)

        results: list[ModerationResult] = []
        empty = {label: 0.0 for label in LABELS}
        positions = {i: k for k, i in enumerate(to_score)}
        all_scores: list[dict[str, float]] = []
        for i in range(len(judged)):
            k = positions.get(i)
            if k is None:
                all_scores.append(dict(empty))
            else:
                all_scores.append(
                    {label: float(v) for label, v in zip(LABELS, label_scores[k], strict=True)}
                )
        explained: dict[int, list[Reason]] = {}
        if explain and self.explainer is not None:
            explained = self._explain(
                {i: normalized[i] for i in to_score}, {i: all_scores[i] for i in to_score}, policy
            )
        for i, text in enumerate(judged):
            k = positions.get(i)
            scores = all_scores[i]
            used = "none" if k is None else tiers[k]
            ctx = contexts[i] if contexts is not None else None
            reasons: list[Reason] = list(explained.get(i, ()))
            reasons.extend(wordlist.find(normalized[i]))
            signals = spam_signals(text, ctx)
            signals[SPAM] = spam_score(signals)
            if signals["link_count"]:
                reasons.extend(link_reasons(text))
            decision, all_reasons = policy.decide(scores, reasons, signals)
            if truncated[i]:
                all_reasons += (Reason(SPAM, 0, 0, "", 1.0, source="length"),)
                if decision is Decision.APPROVE:
                    decision = Decision.REVIEW
            results.append(
                ModerationResult(
                    scores=scores,
                    decision=decision,
                    reasons=all_reasons,
                    spam=signals,
                    tier=used,
                )
            )
        return results

    def explain(
        self, texts: Sequence[str], labels: Sequence[Sequence[str]]
    ) -> list[list[Reason]]:
        """The model's reasons (spans of each ORIGINAL text) for the labels asked, whatever the
        scores: for a caller whose own correction (a site model) flags a label the engine did
        not. Only words the explainer weighs at or above its own word threshold (an explainer's
        ``threshold``, if it has one) are marked: a comment the base model finds clean may get
        none. ``labels[i]`` goes with ``texts[i]``; unknown labels are ignored. Without an
        explainer every list is empty."""
        if len(labels) != len(texts):
            raise InvalidInput("explain needs one list of labels per text", field="labels")
        originals = [_checked(i, text)[: self.max_chars] for i, text in enumerate(texts)]
        wanted: dict[int, list[str]] = {}
        for i, asked in enumerate(labels):
            if isinstance(asked, str):
                raise InvalidInput(f"labels[{i}] must be a list of label names", field="labels")
            known = [label for label in LABELS if label in asked]
            if known and originals[i].strip():
                wanted[i] = known
        out: list[list[Reason]] = [[] for _ in texts]
        if self.explainer is None or not wanted:
            return out
        normalized = {i: normalize(originals[i], with_offsets=False) for i in wanted}
        threshold = getattr(self.explainer, "threshold", None)
        floor = None if threshold is None else float(threshold)
        for i, reasons in self._explain_labels(normalized, wanted, floor).items():
            out[i] = reasons
        return out

    def _explain(
        self,
        normalized: dict[int, NormalizedText],
        scores: dict[int, dict[str, float]],
        policy: Policy,
    ) -> dict[int, list[Reason]]:
        """Reasons over the original text for every label at or above its review threshold,
        for all texts of the batch at once (an explainer with ``explain_many`` runs once)."""
        wanted: dict[int, list[str]] = {}
        for i, row in scores.items():
            labels = [label for label in LABELS if row[label] >= policy.thresholds[label].review]
            if labels:
                wanted[i] = labels
        if not wanted:
            return {}
        return self._explain_labels(normalized, wanted)

    def _explain_labels(
        self,
        normalized: dict[int, NormalizedText],
        wanted: dict[int, list[str]],
        floor: float | None = None,
    ) -> dict[int, list[Reason]]:
        assert self.explainer is not None
        order = list(wanted)
        mapped = [with_offsets(normalized[i]) for i in order]
        texts = [n.text for n in mapped]
        many = getattr(self.explainer, "explain_many", None)
        if callable(many):
            found = many(texts, [wanted[i] for i in order])
        else:
            found = [
                self.explainer.explain(t, wanted[i]) for t, i in zip(texts, order, strict=True)
            ]
        out: dict[int, list[Reason]] = {}
        for i, norm, spans in zip(order, mapped, found, strict=True):
            keep = set(wanted[i])
            out[i] = explanation_reasons(
                norm, [s for s in spans if s[0] in keep and (floor is None or s[3] >= floor)]
            )
        return out


def _checked(i: int, text: object) -> str:
    """Text ``i`` of a batch with lone surrogates replaced; a non-string is InvalidInput."""
    if not isinstance(text, str):
        raise InvalidInput(f"text {i} is a {type(text).__name__}, not a string")
    if not text.isascii() and _SURROGATE_RE.search(text):
        text = _SURROGATE_RE.sub("\ufffd", text)
    return text


def _in_label_order(scorer: Scorer, rows: np.ndarray, n: int) -> np.ndarray:
    """Columns of ``rows`` rearranged into LABELS order (missing labels score 0), clipped to
    [0, 1] with NaN as 0; a wrong shape is a broken scorer and raises RuntimeError."""
    rows = np.asarray(rows, dtype=np.float64)
    expected = (n, len(scorer.labels))
    if rows.shape != expected:
        raise RuntimeError(
            f"scorer {scorer.name!r} returned shape {rows.shape}, expected {expected}"
        )
    rows = np.clip(np.nan_to_num(rows, nan=0.0), 0.0, 1.0)
    if tuple(scorer.labels) == LABELS:
        return rows
    out = np.zeros((n, len(LABELS)), dtype=np.float64)
    for j, label in enumerate(scorer.labels):
        if label in LABELS:
            out[:, LABELS.index(label)] = rows[:, j]
    return out


def _build(
    module: str, class_name: str, model_dir: Path | None, problems: list[str], **extra: Any
) -> Any:
    """Import ``rostra.moderation.<module>.<class_name>``, build it and load it; None on failure.

    Imported here, not at the top: each tier pulls in its own runtime (onnxruntime for the
    accurate tier) and an engine built from fakes needs neither.
    """
    try:
        component = getattr(importlib.import_module(f"rostra.moderation.{module}"), class_name)(
            model_dir=model_dir, **extra
        )
        component.load()
    except (OSError, ValueError, KeyError, ImportError, AttributeError, InvalidInput) as exc:
        message = getattr(exc, "message", None) or str(exc)
        log.warning("moderation %s not loaded: %s", class_name, message)
        problems.append(f"{class_name}: {message}")
        return None
    return component
