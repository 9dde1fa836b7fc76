"""The dataset layer on a tiny fixture folder in the same formats as shared/data."""

from pathlib import Path

import numpy as np
import pytest

from rostra.domain.errors import InvalidInput
from rostra.domain.labels import IDENTITY_ATTACK, INSULT, LABELS, OBSCENE, THREAT, TOXICITY
from rostra.moderation.training.datasets import (
    identity_mentions,
    in_holdout,
    load_eval_sets,
    load_span_annotations,
    load_span_split,
    load_training_set,
    madlibs_identity,
)

DATA = Path(__file__).parent / "fixtures" / "data"
COL = {label: i for i, label in enumerate(LABELS)}


def _row(data, text):
    return data.texts.index(text)


def test_training_set_has_every_licence_ok_source():
    data = load_training_set(DATA)
    assert set(data.source) == {
        "toxic_spans",
        "davidson2017",
        "olid",
        "toxigen",
        "wiki_context",
        "identity_mentions",
    }
    assert data.y.shape == data.mask.shape == (len(data), len(LABELS))
    assert data.y.dtype == np.float32 and data.mask.dtype == bool
    assert ((data.y >= 0) & (data.y <= 1)).all()


def test_training_set_never_contains_evaluation_only_text():
    data = load_training_set(DATA)
    assert "you are a moron" not in " ".join(data.texts)  # kaggle fixture
    assert "what an idiotic opinion" not in data.texts  # sfu fixture


def test_toxic_spans_semeval_test_and_trial_posts_are_not_trained_on():
    data = load_training_set(DATA, sources=["toxic_spans"])
    for text, _gold in load_span_split(DATA, "test") + load_span_split(DATA, "trial"):
        assert text not in data.texts


def test_toxic_spans_rater_shares_become_soft_labels():
    posts = load_training_set(DATA, sources=["toxic_spans"])
    held = load_eval_sets(DATA, ["toxic_spans_posts"])["toxic_spans_posts"]
    texts = posts.texts + held.texts
    assert "you are a stupid idiot" in texts
    if "you are a stupid idiot" in posts.texts:
        i = _row(posts, "you are a stupid idiot")
        assert posts.y[i, COL[TOXICITY]] == 1.0
        # the third rater marked nothing and ticked nothing: no say on the span types
        assert posts.y[i, COL[INSULT]] == 1.0
        assert posts.mask[i, COL[THREAT]] and posts.y[i, COL[THREAT]] == 0.0
        assert not posts.mask[i, COL["severe_toxicity"]]


def test_olid_offensive_untargeted_maps_to_obscene_and_not_to_insult(tmp_path):
    data = load_training_set(DATA, sources=["olid"])
    i = _row(data, "@USER shut up you moron")
    assert data.y[i, COL[TOXICITY]] == 1.0 and data.y[i, COL[INSULT]] == 1.0
    assert data.mask[i, COL[IDENTITY_ATTACK]] and data.y[i, COL[IDENTITY_ATTACK]] == 0.0
    j = _row(data, "@USER great reporting, well done")
    assert data.mask[j].all() and (data.y[j] == 0).all()
    assert not data.mask[i, COL[OBSCENE]]


def test_davidson_soft_labels_follow_annotator_votes():
    data = load_training_set(DATA, sources=["davidson2017"])
    if "i will hurt you, idiot" in data.texts:
        i = _row(data, "i will hurt you, idiot")
        assert data.y[i, COL[TOXICITY]] == 1.0
        assert data.y[i, COL["severe_toxicity"]] == pytest.approx(2 / 3)
        assert not data.mask[i, COL[INSULT]]


def test_held_out_split_is_fixed_and_independent_of_the_seed():
    a = load_training_set(DATA, seed=0)
    b = load_training_set(DATA, seed=1)
    assert sorted(a.texts) == sorted(b.texts)
    assert a.texts != b.texts or len(a) < 3  # the seed only shuffles
    assert in_holdout("some text", 0.2, "x") == in_holdout("  Some text ", 0.2, "x")


def test_eval_sets_load_with_labels_and_spans():
    sets = load_eval_sets(
        DATA, ["olid", "kaggle_insults", "sfu_ctc", "toxic_spans", "bias_madlibs"]
    )
    olid = sets["olid"]
    assert olid.y_binary.tolist() == [1, 0]
    kaggle = sets["kaggle_insults"]
    assert kaggle.texts[0] == "you are a moron\xa0"
    assert kaggle.texts[1] == "nice \u201cquote\u201d"
    assert sets["sfu_ctc"].y_binary.tolist() == [0, 1, 1]
    spans = sets["toxic_spans"]
    assert spans.spans is not None and len(spans.spans) == len(spans.texts)
    assert sets["bias_madlibs"].groups == ["gay", "gay", "middle eastern", "middle eastern"]


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(InvalidInput, match="unknown dataset"):
        load_eval_sets(DATA, ["nope"])


def test_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="not found"):
        load_training_set(tmp_path)


def test_span_annotations_give_majority_offsets():
    posts = load_span_annotations(DATA)
    post = next(p for p in posts if p.text == "you are a stupid idiot")
    assert post.raters == 3
    start = post.text.index("idiot")
    assert set(range(start, start + 5)) <= post.majority_offsets()


def test_identity_mentions_are_benign_and_name_groups():
    texts = identity_mentions()
    assert "I am a proud gay Muslim woman." in texts
    assert any("jewish" in t.lower() for t in texts)
    assert madlibs_identity("Sam is a vile middle eastern") == "middle eastern"
