"""Explanations: the shipped span explainer points at the words that made a comment toxic."""

import shutil
from pathlib import Path

import pytest

from rostra.domain.errors import InvalidInput, ScorerNotLoaded
from rostra.moderation.fast import DEFAULT_MODEL_DIR, FastScorer
from rostra.moderation.normalize import normalize
from rostra.moderation.scorer import check_explainer
from rostra.moderation.spans import SpanExplainer, words_of


@pytest.fixture(scope="module")
def explainer():
    spans = SpanExplainer()
    spans.load()
    return spans


def _marked(explainer, text, labels):
    norm = normalize(text)
    out = []
    for label, start, end, weight in explainer.explain(norm.text, labels):
        a, b = norm.to_original(start, end)
        out.append((label, text[a:b], weight))
    return out


def test_spans_cover_the_insulting_words(explainer):
    marked = _marked(explainer, "Thanks for the update, you stupid idiot.", ["toxicity"])
    text = " ".join(t for _label, t, _w in marked).lower()
    assert "idiot" in text
    assert "thanks" not in text and "update" not in text


def test_spans_point_at_the_original_text_of_an_obfuscated_word(explainer):
    marked = _marked(explainer, "what an 1d10t you are", ["toxicity"])
    assert any("1d10t" in t for _label, t, _w in marked)


def test_spans_carry_the_requested_label(explainer):
    marked = _marked(explainer, "you are a moron", ["insult"])
    assert marked and all(label == "insult" for label, _t, _w in marked)
    assert any("moron" in t for _label, t, _w in marked)


def test_clean_comment_gets_no_spans(explainer):
    assert _marked(explainer, "The council meets on Tuesday.", ["toxicity"]) == []


def test_low_toxicity_gate_skips_the_work(explainer):
    text = normalize("you idiot").text
    assert (
        explainer.explain(text, ["toxicity"], toxicity=0.0) == [] or explainer.config["gate"] == 0.0
    )


def test_explainer_follows_the_explainer_conventions(explainer):
    check_explainer(explainer, ["toxicity", "insult", "threat"])


def test_explain_before_load_is_refused():
    with pytest.raises(ScorerNotLoaded):
        SpanExplainer().explain("you idiot", ["toxicity"])


def test_words_keep_masked_letters_and_inner_apostrophes():
    text = "f*ck 'quoted' don't"
    assert [text[a:b] for a, b in words_of(text)] == ["f*ck", "quoted", "don't"]


BATCH = [
    "Thanks for the update, you stupid idiot.",
    "",
    "The council meets on Tuesday.",
    "what an idiot, f*ck off",
    "日本 😀 you moron's friend",
    "shut up",
]


def test_a_batch_gives_each_comment_the_spans_it_gets_alone(explainer):
    texts = [normalize(t).text for t in BATCH]
    labels = [["toxicity", "insult", "obscene"]] * len(texts)
    batch = explainer.explain_many(texts, labels)
    assert len(batch) == len(texts)
    assert any(batch), "the batch must contain something to explain"
    for text, wanted, spans in zip(texts, labels, batch, strict=True):
        alone = explainer.explain(text, wanted)
        assert [s[:3] for s in spans] == [s[:3] for s in alone]
        assert [s[3] for s in spans] == pytest.approx([s[3] for s in alone], abs=1e-9)


def test_a_batch_respects_each_comment_s_labels_and_gate(explainer):
    texts = [normalize("you stupid idiot").text] * 3
    out = explainer.explain_many(texts, [["insult"], [], ["toxicity"]], toxicity=[None, None, -1.0])
    assert out[0] and {s[0] for s in out[0]} == {"insult"}
    assert out[1] == []
    assert out[2] == [] or explainer.config["gate"] <= -1.0


def test_a_batch_with_mismatched_labels_is_refused(explainer):
    with pytest.raises(InvalidInput):
        explainer.explain_many(["a", "b"], [["toxicity"]])


def test_the_explainer_shares_a_loaded_fast_tier_without_a_model_of_its_own(tmp_path):
    for name in ("weights.npz", "meta.json", "spans.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    fast = FastScorer(model_dir=tmp_path)
    fast.load()
    shared = SpanExplainer(model_dir=tmp_path, fast=fast)
    shared.load()
    assert shared._fast is fast
    assert shared.explain(normalize("you idiot").text, ["toxicity"])


def test_the_shipped_explainer_reads_word_shares_from_its_own_model():
    fast = FastScorer()
    fast.load()
    explainer = SpanExplainer(fast=fast)
    explainer.load()
    assert explainer._fast is not fast
    assert Path(explainer._fast.model_dir) == DEFAULT_MODEL_DIR / "explainer"
    spans = explainer.explain(normalize("you idiot").text, ["toxicity"])
    assert [(s[0], s[1], s[2]) for s in spans] == [("toxicity", 4, 9)]


def test_the_engine_asks_the_shipped_explainer_whatever_the_scores(explainer):
    from rostra.moderation.engine import ModerationEngine

    engine = ModerationEngine(fast=FastScorer(), explainer=explainer)
    engine.load()
    assert 0.0 < explainer.threshold < 1.0
    rude, clean = engine.explain(
        ["Typical hypocrites, they never learn.", "The council vote is on Monday."],
        [["toxicity", "insult"], ["toxicity", "insult"]],
    )
    assert {(r.label, r.text) for r in rude} == {("toxicity", "hypocrites"),
                                                 ("insult", "hypocrites")}
    assert all(r.weight >= explainer.threshold for r in rude)
    assert clean == []  # the fallback's weak guesses are not marks
