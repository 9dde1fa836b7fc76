"""The Scorer and Explainer protocols every model tier implements, and their conformance check.

Conventions (docs/moderation.md repeats them; ``check_scorer`` enforces them):

* ``__init__`` takes keyword-only parameters, stores them and does no I/O; ``load()`` does the
  heavy work once and is idempotent.
* ``score(texts)`` takes texts that are ALREADY normalised (``rostra.moderation.normalize``)
  and returns a float array of shape ``(len(texts), len(labels))``: calibrated probabilities
  in [0, 1], columns in the order of ``labels``. An empty batch gives shape ``(0, n_labels)``.
* ``score()`` before ``load()`` raises ``rostra.domain.errors.ScorerNotLoaded``.
* Scorers never decide: ``rostra.moderation.policy`` turns numbers into decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from rostra.domain.errors import ScorerNotLoaded

__all__ = ["Explainer", "Scorer", "ScorerNotLoaded", "check_explainer", "check_scorer"]


@runtime_checkable
class Scorer(Protocol):
    """A model tier: normalised texts in, one row of label probabilities per text out."""

    name: str
    labels: tuple[str, ...]

    def load(self) -> None: ...

    def score(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class Explainer(Protocol):
    """Says which spans of a normalised text drove each label.

    ``explain`` returns ``(label, start, end, weight)`` tuples with offsets into the given
    normalised text; the engine maps them back to the original text and merges them.
    """

    def explain(self, text: str, labels: Sequence[str]) -> list[tuple[str, int, int, float]]: ...


_PROBE_TEXTS = (
    "thank you for this thoughtful article",
    "you are a stupid idiot",
    "",
    "x" * 2000,
    "ünïcödé text with 2020 numbers!!",
)


def check_scorer(scorer: object, *, loaded: bool = False) -> None:
    """Assert that ``scorer`` follows the Scorer conventions; raise AssertionError if not.

    With ``loaded=False`` (the default) the scorer must be fresh: the check verifies that
    ``score()`` refuses to run before ``load()``, then loads it. Pass ``loaded=True`` for a
    scorer that is already loaded.
    """
    name = type(scorer).__name__
    assert isinstance(getattr(scorer, "name", None), str), f"{name}.name must be a str"
    labels = getattr(scorer, "labels", None)
    assert isinstance(labels, tuple) and labels, f"{name}.labels must be a non-empty tuple"
    assert all(isinstance(label, str) for label in labels), f"{name}.labels must hold str"
    assert len(set(labels)) == len(labels), f"{name}.labels has duplicates: {labels}"
    assert isinstance(scorer, Scorer), f"{name} lacks load() or score()"

    if not loaded:
        try:
            scorer.score(["hello"])
        except ScorerNotLoaded:
            pass
        except Exception as exc:  # noqa: BLE001 - report what it raised instead
            raise AssertionError(
                f"{name}.score() before load() raised {type(exc).__name__}, "
                "expected ScorerNotLoaded"
            ) from exc
        else:
            raise AssertionError(f"{name}.score() before load() must raise ScorerNotLoaded")
        scorer.load()
    scorer.load()  # idempotent

    out = scorer.score(list(_PROBE_TEXTS))
    assert isinstance(out, np.ndarray), f"{name}.score() must return a numpy array"
    expected = (len(_PROBE_TEXTS), len(labels))
    assert out.shape == expected, f"{name}.score() returned shape {out.shape}, expected {expected}"
    assert np.issubdtype(out.dtype, np.floating), f"{name}.score() must return floats"
    assert np.all(np.isfinite(out)), f"{name}.score() returned NaN or infinity"
    assert np.all((out >= 0.0) & (out <= 1.0)), f"{name}.score() returned values outside [0, 1]"

    empty = scorer.score([])
    got = getattr(empty, "shape", None)
    assert isinstance(empty, np.ndarray) and got == (0, len(labels)), (
        f"{name}.score([]) must return shape (0, {len(labels)}), got {got}"
    )

    # Scores of a text must not depend on its batch neighbours.
    single = scorer.score([_PROBE_TEXTS[1]])
    assert np.allclose(single[0], out[1], atol=1e-4), (
        f"{name}.score() gives a different result for a text alone and in a batch"
    )


def check_explainer(explainer: object, labels: Sequence[str]) -> None:
    """Assert that ``explainer`` follows the Explainer conventions."""
    name = type(explainer).__name__
    assert isinstance(explainer, Explainer), f"{name} lacks explain()"
    for text in _PROBE_TEXTS:
        spans = explainer.explain(text, labels)
        assert isinstance(spans, list), f"{name}.explain() must return a list"
        for span in spans:
            assert isinstance(span, tuple) and len(span) == 4, (
                f"{name}.explain() items must be (label, start, end, weight), got {span!r}"
            )
            label, start, end, weight = span
            assert label in labels, f"{name}.explain() returned unknown label {label!r}"
            assert 0 <= start < end <= len(text), (
                f"{name}.explain() span ({start}, {end}) outside the text of length {len(text)}"
            )
            assert isinstance(weight, float), f"{name}.explain() weight must be a float"
