"""The shipped accurate tier: loads without torch, flags toxic text, passes benign text."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rostra.domain.errors import InvalidInput, ScorerNotLoaded
from rostra.domain.labels import IDENTITY_ATTACK, INSULT, LABELS, TOXICITY
from rostra.moderation.accurate import DEFAULT_MODEL_DIR, AccurateScorer
from rostra.moderation.normalize import normalize
from rostra.moderation.scorer import check_scorer

# The policy's default review threshold for toxicity and insult (rostra.moderation.policy).
REVIEW = 0.5

TOXIC = [
    "You are a stupid worthless idiot.",
    "Shut up, you pathetic moron, nobody cares what you think.",
    "I will find you and kill you.",
    "What a f*cking piece of sh!t you are",
    "you are a c u n t",  # the article stays a word of its own
    "such a m o r o n",
]

BENIGN = [
    "Thank you for this thoughtful article about the city budget.",
    "The council meeting has been moved to Thursday evening.",
    "I disagree with the author, but the data on housing costs is interesting.",
    "Great reporting, I learned a lot about the new bike lanes.",
]

BENIGN_IDENTITY = [
    "I am a proud Muslim woman and a nurse.",
    "My Jewish neighbours invited us to their Hanukkah dinner.",
    "As a gay man, I found this piece on marriage law very moving.",
    "Black history month events start at the library this week.",
    "The mosque and the synagogue held a joint charity drive.",
    "Immigrants from Mexico opened two new bakeries downtown.",
]


def _scores(scorer: AccurateScorer, texts: list[str]) -> np.ndarray:
    return scorer.score([normalize(t, with_offsets=False).text for t in texts])


@pytest.fixture(scope="module")
def scorer() -> AccurateScorer:
    s = AccurateScorer(threads=2)
    s.load()
    return s


def test_score_before_load_raises() -> None:
    with pytest.raises(ScorerNotLoaded):
        AccurateScorer().score(["hello"])


def test_conforms_to_the_scorer_protocol() -> None:
    check_scorer(AccurateScorer(threads=2))


def test_flags_clearly_toxic_sentences(scorer: AccurateScorer) -> None:
    probs = _scores(scorer, TOXIC)
    assert np.all(probs[:, LABELS.index(TOXICITY)] >= REVIEW), probs


def test_insult_label_fires_on_insults(scorer: AccurateScorer) -> None:
    probs = _scores(scorer, TOXIC[:2])
    assert np.all(probs[:, LABELS.index(INSULT)] >= REVIEW), probs


def test_passes_clearly_benign_sentences(scorer: AccurateScorer) -> None:
    probs = _scores(scorer, BENIGN)
    assert np.all(probs[:, LABELS.index(TOXICITY)] < REVIEW), probs


def test_passes_benign_identity_mentions(scorer: AccurateScorer) -> None:
    probs = _scores(scorer, BENIGN_IDENTITY)
    assert np.all(probs[:, LABELS.index(TOXICITY)] < REVIEW), probs
    assert np.all(probs[:, LABELS.index(IDENTITY_ATTACK)] < 0.3), probs


def test_empty_batch_gives_no_rows(scorer: AccurateScorer) -> None:
    assert scorer.score([]).shape == (0, len(LABELS))


def test_empty_text_scores_low(scorer: AccurateScorer) -> None:
    probs = scorer.score([""])
    assert probs.shape == (1, len(LABELS))
    assert probs[0, LABELS.index(TOXICITY)] < REVIEW


def test_very_long_text_is_truncated_not_crashed(scorer: AccurateScorer) -> None:
    prefix = "The library opens at nine and the council meets on Thursday. " * 400
    long_text = prefix + "you stupid idiot " * 20_000  # about 600 kB
    probs = _scores(scorer, [long_text, prefix])
    assert np.all(np.isfinite(probs))
    # Only the first max_length tokens count, so the toxic tail changes nothing.
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)


def test_batch_scores_equal_single_scores(scorer: AccurateScorer) -> None:
    texts = [normalize(t, with_offsets=False).text for t in TOXIC + BENIGN + BENIGN_IDENTITY]
    texts.append("word " * 300)
    batched = scorer.score(texts)
    single = np.stack([scorer.score([t])[0] for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_non_string_input_is_a_clear_error(scorer: AccurateScorer) -> None:
    with pytest.raises(InvalidInput, match="must be strings"):
        scorer.score(["fine", None])  # type: ignore[list-item]


def test_missing_model_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="rostra train --tier accurate"):
        AccurateScorer(model_dir=tmp_path).load()


def test_shipped_model_files_fit_the_size_budget() -> None:
    size = (DEFAULT_MODEL_DIR / "model.onnx").stat().st_size
    assert size <= 25 * 1024 * 1024
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    assert tuple(config["labels"]) == LABELS
    calibration = json.loads((DEFAULT_MODEL_DIR / "calibration.json").read_text())
    assert set(calibration["labels"]) == set(LABELS)


def test_scoring_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from rostra.moderation.accurate import AccurateScorer\n"
        "s = AccurateScorer(threads=1)\n"
        "s.load()\n"
        "s.score(['hello'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_corrupt_model_file_is_a_clear_error(tmp_path: Path) -> None:
    for name in ("tokenizer.json", "config.json", "calibration.json"):
        shutil.copyfile(DEFAULT_MODEL_DIR / name, tmp_path / name)
    (tmp_path / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(InvalidInput, match="unreadable"):
        AccurateScorer(model_dir=tmp_path).load()


def test_sub_batches_on_several_threads_score_as_on_one(scorer: AccurateScorer) -> None:
    texts = [
        f"comment {i}: you are {'a fool ' * (i % 7)}and the council is late" for i in range(80)
    ]
    single = AccurateScorer(threads=1)
    single.load()
    assert scorer._workers() is not None and single._workers() is None
    np.testing.assert_allclose(scorer.score(texts), single.score(texts), atol=1e-5)


def test_zero_threads_is_refused() -> None:
    with pytest.raises(ValueError, match="threads"):
        AccurateScorer(threads=0)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_embed_gives_the_representation_the_head_reads(scorer: AccurateScorer) -> None:
    texts = [normalize(t, with_offsets=False).text for t in TOXIC[:2] + BENIGN[:2]]
    assert scorer.has_embeddings
    vectors = scorer.embed(texts)
    assert vectors.shape == (4, 384) and np.all(np.isfinite(vectors))
    # Alone or in a batch, the same vector; two insults are closer than an insult and thanks.
    np.testing.assert_allclose(scorer.embed(texts[:1])[0], vectors[0], atol=1e-5)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2])
    assert scorer.embed([]).shape == (0, 384)


def test_the_head_reads_exactly_that_representation(scorer: AccurateScorer) -> None:
    texts = [normalize(t, with_offsets=False).text for t in TOXIC + BENIGN]
    weight, bias = _head_weights()
    np.testing.assert_allclose(
        scorer.embed(texts) @ weight.T + bias, scorer.logits(texts), atol=1e-4
    )


def _head_weights() -> tuple[np.ndarray, np.ndarray]:
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    graph = onnx.load(str(DEFAULT_MODEL_DIR / "model.onnx")).graph
    found = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    return found["head.weight"], found["head.bias"]


def test_a_model_without_the_representation_still_scores(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    for name in ("tokenizer.json", "config.json", "calibration.json"):
        shutil.copyfile(DEFAULT_MODEL_DIR / name, tmp_path / name)
    model = onnx.load(str(DEFAULT_MODEL_DIR / "model.onnx"))
    kept = [o for o in model.graph.output if o.name == "logits"]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    onnx.save(model, str(tmp_path / "model.onnx"))
    older = AccurateScorer(model_dir=tmp_path, threads=1)
    older.load()
    assert not older.has_embeddings
    assert older.score(["hello"]).shape == (1, len(LABELS))
    with pytest.raises(InvalidInput, match="no sentence representation"):
        older.embed(["hello"])


def test_embed_before_load_raises() -> None:
    with pytest.raises(ScorerNotLoaded):
        AccurateScorer().embed(["hello"])


class _CountingSession:
    def __init__(self, session: object) -> None:
        self.session, self.runs = session, 0

    def run(self, *args: object, **kwargs: object) -> object:
        self.runs += 1
        return self.session.run(*args, **kwargs)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.session, name)


def test_a_text_just_scored_is_embedded_without_running_the_model_again() -> None:
    texts = [normalize(t, with_offsets=False).text for t in TOXIC[:2]]
    fresh = AccurateScorer(threads=1)
    fresh.load()
    expected = fresh.embed(texts)  # computed, nothing scored before
    scorer = AccurateScorer(threads=1)
    scorer.load()
    counting = _CountingSession(scorer._session)
    scorer._session = counting
    scorer.score(texts)
    assert counting.runs == 1
    np.testing.assert_array_equal(scorer.embed(texts), expected)
    assert counting.runs == 1  # both vectors came from the scoring run
    other = normalize(BENIGN[0], with_offsets=False).text
    both = scorer.embed([texts[0], other])
    assert counting.runs == 2  # only the text it had not seen went through the model
    np.testing.assert_array_equal(both[1], fresh.embed([other])[0])
