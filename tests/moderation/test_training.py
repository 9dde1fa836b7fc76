"""Training and evaluation on the tiny fixture data: seconds, never the full model."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rostra.cli import main
from rostra.moderation.fast import FastScorer, load_fast_model, save_fast_model
from rostra.moderation.training.datasets import load_training_set
from rostra.moderation.training.evaluate import (
    expected_calibration_error,
    f1_score,
    macro_f1,
    roc_auc,
)
from rostra.moderation.training.train_fast import (
    FastParams,
    distilled_targets,
    fit_fast,
    normalise_all,
    train_fast,
)
from rostra.moderation.training.train_spans import span_f1, train_spans

DATA = Path(__file__).parent / "fixtures" / "data"
TINY = FastParams(char_orders=(3, 5), char_bits=12, word_bits=11, min_df=1, max_iter=200)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A models folder (fast/ with spans.json) trained on the fixture in a few seconds."""
    root = tmp_path_factory.mktemp("models")
    model = fit_fast(load_training_set(DATA), TINY, seed=0)
    save_fast_model(model, root / "fast")
    train_spans(DATA, root / "fast", seed=0)
    return root


def test_tiny_model_ranks_insults_above_friendly_comments(tiny_models):
    scorer = FastScorer(model_dir=tiny_models / "fast")
    scorer.load()
    probs = scorer.score(["you stupid idiot", "thank you for the article"])
    assert probs.shape == (2, 6)
    assert probs[0, 0] > probs[1, 0]
    assert probs[0, 4] > probs[1, 4]  # insult


def test_training_is_deterministic():
    data = load_training_set(DATA, seed=0)
    a = fit_fast(data, TINY, seed=0)
    b = fit_fast(data, TINY, seed=0)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.calib_a, b.calib_a)


def test_distilled_targets_blend_known_labels_and_leave_masked_ones():
    y = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    mask = np.array([[True, False], [True, True]])
    teacher = np.array([[0.2, 0.9], [0.6, 0.4]], np.float32)
    mixed = distilled_targets(y, mask, teacher, 0.5)
    np.testing.assert_allclose(mixed, [[0.6, 0.0], [0.3, 0.2]], atol=1e-6)
    assert distilled_targets(y, mask, teacher, 0.0) is y
    assert distilled_targets(y, mask, None, 0.5) is y
    with pytest.raises(ValueError, match="shape"):
        distilled_targets(y, mask, teacher[:1], 0.5)


def test_distilled_targets_take_a_label_share_where_one_is_given():
    y = np.zeros((1, 6), np.float32)
    mask = np.ones((1, 6), bool)
    teacher = np.ones((1, 6), np.float32)
    mixed = distilled_targets(
        y, mask, teacher, 0.9, ("toxicity", "obscene", "insult"), {"obscene": 0.5}
    )
    # toxicity 0.9, severe_toxicity untaught, obscene 0.5, threat untaught, insult 0.9.
    np.testing.assert_allclose(mixed, [[0.9, 0.0, 0.5, 0.0, 0.9, 0.0]], atol=1e-6)


def test_a_teacher_pulls_the_model_towards_its_opinion(tmp_path):
    """A teacher that contradicts the raters on toxicity turns the model's ranking around."""
    data = load_training_set(DATA, seed=0)
    known = data.mask[:, 0] & ((data.y[:, 0] == 0) | (data.y[:, 0] == 1))
    contrary = data.y.copy()
    contrary[:, 0] = 1.0 - data.y[:, 0]
    texts = normalise_all([data.texts[i] for i in np.flatnonzero(known)])
    gold = data.y[known, 0].astype(int)

    def auc(model, name):
        save_fast_model(model, tmp_path / name)
        scorer = FastScorer(model_dir=tmp_path / name)
        scorer.load()
        return roc_auc(gold, scorer.logits(texts)[:, 0])

    alone = fit_fast(data, TINY, seed=0)
    taught = fit_fast(data, replace(TINY, teacher_share=0.9), seed=0, teacher=contrary)
    assert auc(alone, "alone") > 0.8
    assert auc(taught, "taught") < 0.5
    assert taught.meta["params"]["teacher_share"] == 0.9
    assert alone.meta["params"]["teacher_share"] == 0.0


def test_train_fast_scores_its_targets_with_the_accurate_tier(tmp_path):
    params = replace(TINY, teacher_share=0.5)
    taught = train_fast(DATA, tmp_path / "fast", seed=0, progress=False, params=params)
    alone = train_fast(DATA, tmp_path / "alone", seed=0, progress=False, params=TINY)
    assert taught.meta["params"]["teacher_share"] == 0.5
    assert not np.array_equal(taught.weights, alone.weights)
    # The explainer's sibling is the model trained on the gold labels alone.
    sibling = load_fast_model(tmp_path / "fast" / "explainer")
    np.testing.assert_array_equal(sibling.weights, load_fast_model(tmp_path / "alone").weights)
    assert not (tmp_path / "alone" / "explainer").exists()
    # A build without a teacher removes a sibling left by an earlier one.
    train_fast(DATA, tmp_path / "fast", seed=0, progress=False, params=TINY)
    assert not (tmp_path / "fast" / "explainer").exists()


def test_the_explainer_takes_word_shares_from_its_own_model(tiny_models, tmp_path):
    """With explainer/ beside spans.json, the scorer's weights do not change the spans."""
    from rostra.moderation.spans import SpanExplainer

    data = load_training_set(DATA, seed=0)
    contrary = data.y.copy()
    contrary[:, 0] = 1.0 - data.y[:, 0]
    other = fit_fast(data, replace(TINY, teacher_share=0.9), seed=0, teacher=contrary)
    spans = (tiny_models / "fast" / "spans.json").read_text()
    for name in ("with_own", "without"):
        save_fast_model(other, tmp_path / name)
        (tmp_path / name / "spans.json").write_text(spans)
    save_fast_model(load_fast_model(tiny_models / "fast"), tmp_path / "with_own" / "explainer")
    text = "you stupid idiot, thank you for the article"

    def word_scores(directory):
        scorer = FastScorer(model_dir=directory)
        explainer = SpanExplainer(model_dir=directory, fast=scorer)
        explainer.load()
        return explainer.word_scores(text)[1]

    reference = word_scores(tiny_models / "fast")
    np.testing.assert_allclose(word_scores(tmp_path / "with_own"), reference, atol=0.02)
    assert np.abs(word_scores(tmp_path / "without") - reference).max() > 0.05


def test_saved_model_round_trips_within_quantisation(tmp_path):
    model = fit_fast(load_training_set(DATA), TINY, seed=0)
    save_fast_model(model, tmp_path)
    loaded = load_fast_model(tmp_path)
    step = np.abs(model.weights).max(axis=0) / 127
    assert (np.abs(loaded.weights - model.weights) <= step / 2 + 1e-6).all()
    assert json.loads((tmp_path / "meta.json").read_text())["labels"][0] == "toxicity"


def test_span_training_tunes_its_threshold_on_posts_no_model_learned_from(tiny_models):
    from rostra.moderation.training.datasets import (
        HOLDOUT,
        in_holdout,
        load_span_annotations,
        load_span_split,
    )

    config = json.loads((tiny_models / "fast" / "spans.json").read_text())
    assert 0.0 < config["threshold"] < 1.0
    held = [p for p in load_span_annotations(DATA)
            if in_holdout(p.text, HOLDOUT["toxic_spans"], "toxic_spans")]
    assert held, "the fixture needs held-out span posts"
    assert config["validation_posts"] == len(held) + len(load_span_split(DATA, "trial"))
    assert 0.0 <= config["validation_f1"] <= 1.0 and 0.0 <= config["trial_f1"] <= 1.0
    assert "idiot" in config["lexicon"]
    assert config["lexicon"]["idiot"][0] > config["lexicon"]["you"][0]


def test_span_threshold_is_the_middle_of_a_good_stretch_not_a_lone_peak():
    from rostra.moderation.training.train_spans import THRESHOLDS, choose_threshold

    f1 = np.full((len(THRESHOLDS), 1), 0.40)
    f1[10] = 0.60  # a lone spike
    f1[30:39] = 0.58  # a stretch of nine thresholds a little lower
    f, threshold, gate = choose_threshold(f1, THRESHOLDS, [0.0])
    assert (threshold, gate) == (THRESHOLDS[34], 0.0)
    assert f == pytest.approx(0.58)


def test_a_span_gate_must_clearly_beat_no_gate():
    from rostra.moderation.training.train_spans import THRESHOLDS, choose_threshold

    no_gate = 0.5 - 0.001 * np.abs(np.arange(len(THRESHOLDS)) - 20)  # best at THRESHOLDS[20]
    slightly = np.column_stack([no_gate, np.roll(no_gate, 5) + 0.002])  # within the margin
    assert choose_threshold(slightly, THRESHOLDS, [0.0, 0.1])[1:] == (THRESHOLDS[20], 0.0)
    clearly = np.column_stack([no_gate, np.roll(no_gate, 5) + 0.03])
    assert choose_threshold(clearly, THRESHOLDS, [0.0, 0.1])[1:] == (THRESHOLDS[25], 0.1)


def test_roc_auc_counts_ties_as_half():
    assert roc_auc(np.array([0, 1]), np.array([0.1, 0.9])) == 1.0
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    assert roc_auc(np.array([1, 1]), np.array([0.1, 0.9])) is None


def test_f1_and_calibration_error():
    assert f1_score(np.array([1, 0, 1]), np.array([1, 1, 0])) == pytest.approx(0.5)
    # positives F1 0.5, negatives F1 0 (no true negative): mean 0.25
    assert macro_f1(np.array([1, 0, 1]), np.array([1, 1, 0])) == pytest.approx(0.25)
    assert macro_f1(np.array([1, 0, 0, 1]), np.array([1, 0, 1, 1])) == pytest.approx(
        (0.8 + 2 / 3) / 2
    )
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0
    assert expected_calibration_error(np.array([0, 0]), np.array([0.95, 0.95])) == pytest.approx(
        0.95
    )


def test_span_f1_follows_the_semeval_conventions():
    assert span_f1(set(), set()) == 1.0
    assert span_f1({1}, set()) == 0.0
    assert span_f1(set(), {1}) == 0.0
    assert span_f1({1, 2}, {2, 3}) == pytest.approx(0.5)


def test_eval_command_prints_json_for_one_dataset(tiny_models):
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--data-dir",
            str(DATA),
            "--model-dir",
            str(tiny_models),
            "--dataset",
            "olid",
            "--dataset",
            "toxic_spans",
            "--json",
            "--no-checks",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)[0]
    rows = {r["dataset"]: r for r in report["datasets"]}
    assert rows["olid"]["n"] == 2 and rows["olid"]["auc"] is not None
    assert 0.0 <= rows["olid"]["macro_f1"] <= 1.0
    assert rows["toxic_spans"]["span_f1"] is not None


def test_eval_command_runs_the_fairness_and_evasion_checks(tiny_models):
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--data-dir",
            str(DATA),
            "--model-dir",
            str(tiny_models),
            "--dataset",
            "olid",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)[0]
    assert set(report["fairness"]["fpr"]) == {"gay", "middle eastern"}
    assert report["evasion"]["comments"] == 1


def test_eval_command_rejects_an_unknown_dataset(tiny_models):
    result = CliRunner().invoke(
        main, ["eval", "--data-dir", str(DATA), "--model-dir", str(tiny_models), "--dataset", "x"]
    )
    assert result.exit_code != 0
    assert "unknown dataset x" in result.output
    assert "Traceback" not in result.output


def test_train_command_needs_the_data_folder(tmp_path):
    result = CliRunner().invoke(main, ["train", "--data-dir", str(tmp_path / "missing")])
    assert result.exit_code != 0
    assert "data folder" in result.output


def test_train_command_rebuilds_a_fast_model(tmp_path, monkeypatch):
    import rostra.moderation.training.train_fast as train_fast

    monkeypatch.setattr(train_fast, "DEFAULT_PARAMS", TINY)
    result = CliRunner().invoke(
        main, ["train", "--data-dir", str(DATA), "--out", str(tmp_path), "--no-eval"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fast" / "weights.npz").exists()
    assert (tmp_path / "fast" / "spans.json").exists()
