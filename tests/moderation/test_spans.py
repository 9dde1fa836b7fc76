"""Explanations: the shipped span explainer points at the words that made a comment toxic."""

import pytest

from rostra.domain.errors import ScorerNotLoaded
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
