"""Pieces of the accurate-tier training that need no torch: row selection and calibration."""

from __future__ import annotations

import numpy as np

from rostra.domain.labels import LABELS
from rostra.moderation.training.datasets import LabelledSet
from rostra.moderation.training.finetune import FinetuneConfig, platt, split_rows


def _rows(n: int, sources: list[str]) -> LabelledSet:
    return LabelledSet(
        texts=[f"text {i}" for i in range(n)],
        y=np.zeros((n, len(LABELS)), np.float32),
        mask=np.ones((n, len(LABELS)), bool),
        source=[sources[i % len(sources)] for i in range(n)],
        weight=np.ones(n, np.float32),
    )


def test_split_caps_each_source_and_keeps_calibration_apart() -> None:
    config = FinetuneConfig(source_caps=(("big", 100),), calibration_share=0.1)
    train, calib = split_rows(_rows(1000, ["big", "small"]), config, seed=0)
    assert train.source.count("big") == 100
    assert train.source.count("small") > 400
    assert not set(train.texts) & set(calib.texts)
    assert 50 < len(calib) < 150


def test_split_is_deterministic_for_a_seed() -> None:
    data = _rows(500, ["a", "b"])
    first, _ = split_rows(data, FinetuneConfig(), seed=3)
    again, _ = split_rows(data, FinetuneConfig(), seed=3)
    assert first.texts == again.texts


def test_platt_recovers_a_known_scaling() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000) * 3
    target = 1.0 / (1.0 + np.exp(-(0.5 * x - 1.0)))  # soft labels from a = 0.5, b = -1
    a, b = platt(x, target)
    assert abs(a - 0.5) < 0.02 and abs(b + 1.0) < 0.02
