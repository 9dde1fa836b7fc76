"""ModerationEngine with fake scorers: tiers, cascade routing, reasons, bad items in a batch."""

from __future__ import annotations

import numpy as np
import pytest

from rostra.domain.errors import InvalidInput, ScorerNotLoaded
from rostra.domain.labels import BANNED_TERM, LABELS, SPAM, SUSPECT_TERM
from rostra.domain.moderation import AuthorContext, Decision
from rostra.moderation.engine import MAX_CHARS, ModerationEngine
from rostra.moderation.normalize import known_words
from rostra.moderation.policy import Policy
from rostra.moderation.scorer import check_explainer, check_scorer
from rostra.testing import FakeExplainer, FakeScorer


def fast_scores(text: str) -> dict[str, float]:
    if "idiot" in text:
        return {"insult": 0.97, "toxicity": 0.95}
    if "dumb" in text:
        return {"insult": 0.4}
    return {"toxicity": 0.02}


def accurate_scores(text: str) -> dict[str, float]:
    return {"insult": 0.6} if "dumb" in text else {"toxicity": 0.01}


@pytest.fixture
def fast() -> FakeScorer:
    return FakeScorer(fast_scores, name="fast")


@pytest.fixture
def accurate() -> FakeScorer:
    return FakeScorer(accurate_scores, name="accurate")


@pytest.fixture
def engine(fast: FakeScorer, accurate: FakeScorer) -> ModerationEngine:
    engine = ModerationEngine(
        fast=fast, accurate=accurate, explainer=FakeExplainer({"idiot": "insult", "dumb": "insult"})
    )
    engine.load()
    return engine


def test_fakes_conform_to_the_protocols() -> None:
    check_scorer(FakeScorer({"toxicity": 0.5}))
    check_explainer(FakeExplainer({"idiot": "insult"}), LABELS)


def test_check_scorer_reports_a_broken_scorer() -> None:
    class Broken(FakeScorer):
        def score(self, texts):  # type: ignore[no-untyped-def]
            return super().score(texts) * 2 + 0.5

    with pytest.raises(AssertionError, match="outside"):
        check_scorer(Broken({"toxicity": 0.5}))


def test_batch_in_list_out_one_result_per_text(engine: ModerationEngine) -> None:
    results = engine.moderate(["Thanks for the article", "you 1d10t", "a dumb take"])
    assert [r.decision for r in results] == [Decision.APPROVE, Decision.REJECT, Decision.REVIEW]
    assert list(results[0].scores) == list(LABELS)
    assert engine.moderate([]) == []


def test_cascade_sends_only_the_uncertain_band_to_the_accurate_tier(
    engine: ModerationEngine, accurate: FakeScorer
) -> None:
    results = engine.moderate(["Thanks for the article", "you idiot", "a dumb take"])
    # Clearly fine (0.02) and clearly toxic (0.97) stay with the fast tier.
    assert accurate.calls == [["a dumb take"]]
    assert [r.tier for r in results] == ["fast", "fast", "accurate"]
    assert results[2].scores["insult"] == 0.6  # the accurate tier's score, not the fast one


def test_cascade_band_is_configurable(fast: FakeScorer, accurate: FakeScorer) -> None:
    engine = ModerationEngine(fast=fast, accurate=accurate, cascade_band=(0.0, 1.0))
    engine.load()
    engine.moderate(["Thanks", "you idiot"])
    assert accurate.calls == [["thanks", "you idiot"]]  # scorers get normalised text


def test_tier_argument_overrides_the_policy(engine: ModerationEngine, fast: FakeScorer) -> None:
    (result,) = engine.moderate(["a dumb take"], tier="accurate")
    assert result.tier == "accurate"
    assert fast.calls == []
    (result,) = engine.moderate(["a dumb take"], policy=Policy.default().with_changes(tier="fast"))
    assert (result.tier, result.scores["insult"]) == ("fast", 0.4)


def test_missing_accurate_tier_falls_back_to_fast(fast: FakeScorer) -> None:
    engine = ModerationEngine(fast=fast)
    engine.load()
    assert [r.tier for r in engine.moderate(["a dumb take"], tier="accurate")] == ["fast"]


def test_unknown_tier_is_refused(engine: ModerationEngine) -> None:
    with pytest.raises(InvalidInput):
        engine.moderate(["x"], tier="fastest")


def test_explanations_point_at_the_original_text(engine: ModerationEngine) -> None:
    original = "You are an ІDІОТ, a real 1 d 1 o t"
    (result,) = engine.moderate([original])
    model = [r for r in result.reasons if r.source == "model"]
    assert [r.text for r in model] == ["ІDІОТ", "1 d 1 o t"]
    assert all(original[r.start : r.end] == r.text for r in model)
    assert {r.label for r in model} == {"insult"}


def test_explain_false_skips_model_spans_but_keeps_policy_reasons(
    engine: ModerationEngine,
) -> None:
    (result,) = engine.moderate(["you idiot"], explain=False)
    assert [r.source for r in result.reasons] == ["policy", "policy"]


def test_only_labels_at_or_above_review_are_explained(engine: ModerationEngine) -> None:
    lax = Policy.default().with_changes(thresholds={"insult": {"review": 0.99, "reject": 0.99}})
    (result,) = engine.moderate(["you idiot"], policy=lax)
    assert not [r for r in result.reasons if r.source == "model"]


def test_word_lists_of_the_policy_and_the_default_list(engine: ModerationEngine) -> None:
    policy = Policy.default().with_changes(banned_terms=("plugh",), suspect_terms=("xyzzy",))
    results = engine.moderate(["say p.l.u.g.h", "say xyzzy", "what a c*nt", "sh!t"], policy=policy)
    assert [r.decision for r in results] == [
        Decision.REJECT,
        Decision.REVIEW,
        Decision.REJECT,
        Decision.REVIEW,
    ]
    assert [(r.label, r.text) for r in results[0].reasons] == [(BANNED_TERM, "p.l.u.g.h")]
    assert [(r.label, r.text) for r in results[3].reasons] == [(SUSPECT_TERM, "sh!t")]
    no_defaults = policy.with_changes(use_default_wordlist=False)
    assert engine.moderate(["what a c*nt"], policy=no_defaults)[0].decision is Decision.APPROVE


def test_compiled_word_lists_are_cached_per_term_set(engine: ModerationEngine) -> None:
    policy = Policy.default().with_changes(banned_terms=("plugh",))
    engine.moderate(["a"], policy=policy)
    first = engine._wordlist(policy)
    engine.moderate(["b"], policy=Policy.from_dict(policy.to_dict()))
    assert engine._wordlist(policy) is first


def test_spam_signals_and_link_reasons(engine: ModerationEngine) -> None:
    text = "Cheap pills at www.pills.ru and pills.biz/buy"
    ctx = AuthorContext(recent_texts=(text,), comments_last_hour=40)
    (result,) = engine.moderate([text], contexts=[ctx])
    assert result.decision is Decision.REJECT
    assert result.spam["link_count"] == 2
    assert result.spam[SPAM] >= 0.9
    links = [r.text for r in result.reasons if r.source == "spam"]
    assert links == ["www.pills.ru", "pills.biz/buy"]


def test_contexts_must_match_texts(engine: ModerationEngine) -> None:
    with pytest.raises(InvalidInput, match="contexts"):
        engine.moderate(["a", "b"], contexts=[AuthorContext()])


def test_bad_items_do_not_break_the_batch(engine: ModerationEngine, fast: FakeScorer) -> None:
    texts = [
        "",
        "   \n",
        "word " * (MAX_CHARS // 5 + 2),
        "bad \ud800 idiot",
        "\x00\x01",
        "you idiot",
    ]
    results = engine.moderate(texts)
    assert len(results) == len(texts)
    empty, blank, huge, surrogate, control, idiot = results
    assert (empty.tier, empty.decision) == ("none", Decision.APPROVE)
    assert set(empty.scores.values()) == {0.0}
    assert blank.tier == "none"
    assert huge.decision is Decision.REVIEW
    assert any(r.source == "length" for r in huge.reasons)
    assert max(len(t) for batch in fast.calls for t in batch) == MAX_CHARS
    assert surrogate.decision is Decision.REJECT
    assert all("\ud800" not in r.text for r in surrogate.reasons)
    assert [r.text for r in surrogate.reasons if r.source == "model"] == ["idiot"]
    assert control.decision is Decision.APPROVE
    assert idiot.decision is Decision.REJECT


def test_non_string_items_are_a_programming_error(engine: ModerationEngine) -> None:
    with pytest.raises(InvalidInput, match="text 1"):
        engine.moderate(["fine", None])  # type: ignore[list-item]


def test_moderate_before_load_is_refused(fast: FakeScorer) -> None:
    with pytest.raises(ScorerNotLoaded):
        ModerationEngine(fast=fast).moderate(["hello"])


def test_load_reads_the_words_the_normaliser_knows() -> None:
    known_words.cache_clear()
    ModerationEngine().load()
    assert known_words.cache_info().currsize == 1  # scoring will not read them from disk


def test_a_banned_word_spelled_out_after_an_article_is_rejected() -> None:
    engine = ModerationEngine()
    engine.load()
    (result,) = engine.moderate(["you are a c u n t"])
    assert result.decision == Decision.REJECT
    assert [(r.label, r.text) for r in result.reasons] == [(BANNED_TERM, "c u n t")]


def test_engine_without_models_still_applies_word_lists_and_spam() -> None:
    engine = ModerationEngine()
    engine.load()
    (clean, bad) = engine.moderate(["hello", "c*nt"])
    assert (clean.tier, clean.decision) == ("none", Decision.APPROVE)
    assert bad.decision is Decision.REJECT
    assert engine.tiers == ()


def test_constructor_validates_and_does_no_io(fast: FakeScorer) -> None:
    ModerationEngine(fast=fast)
    assert fast.calls == []
    with pytest.raises(ValueError, match="cascade_band"):
        ModerationEngine(cascade_band=(0.9, 0.1))


def test_from_model_dir_without_any_model_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="no moderation model"):
        ModerationEngine.from_model_dir(tmp_path)


def test_result_serialises(engine: ModerationEngine) -> None:
    (result,) = engine.moderate(["you idiot"])
    data = result.to_dict()
    assert data["decision"] == "reject"
    assert data["tier"] == "fast"
    assert {"label": "insult", "text": "idiot"}.items() <= data["reasons"][0].items()


def test_version_names_the_models(engine: ModerationEngine) -> None:
    assert engine.version == "fast=fast;accurate=accurate"
    assert ModerationEngine().version == "wordlist-only"


def test_scores_out_of_range_are_clipped_and_a_wrong_shape_is_an_error() -> None:
    class Wild(FakeScorer):
        def score(self, texts):  # type: ignore[no-untyped-def]
            rows = super().score(texts)
            rows[:, 0] = float("nan")
            rows[:, 1] = 7.0
            return rows

    engine = ModerationEngine(fast=Wild())
    engine.load()
    (result,) = engine.moderate(["hello"])
    assert (result.scores["toxicity"], result.scores["severe_toxicity"]) == (0.0, 1.0)

    class Short(FakeScorer):
        def score(self, texts):  # type: ignore[no-untyped-def]
            return super().score(texts)[:0]

    engine = ModerationEngine(fast=Short())
    engine.load()
    with pytest.raises(RuntimeError, match="shape"):
        engine.moderate(["hello"])


def test_engine_embeds_with_the_shipped_accurate_tier() -> None:
    shipped = ModerationEngine.from_model_dir(tiers=("accurate",))
    version = shipped.embedding_version
    assert version is not None and version == shipped.accurate.version  # type: ignore[union-attr]
    # Normalised first, as the tier scores: evasion spelling lands where the plain word does.
    plain, evasive, other = shipped.embed(["you idiot", "y0u 1d10t", "lovely weather \ud800"])
    cosine = float(plain @ evasive) / float(np.linalg.norm(plain) * np.linalg.norm(evasive))
    assert cosine > 0.99
    assert other.shape == plain.shape
    with pytest.raises(InvalidInput, match="not a string"):
        shipped.embed(["fine", 3])  # type: ignore[list-item]


def test_an_engine_without_the_accurate_tier_cannot_embed(engine: ModerationEngine) -> None:
    fast_only = ModerationEngine(fast=engine.fast)
    fast_only.load()
    assert fast_only.embedding_version is None
    # The fake accurate tier of the fixture has no representation either.
    assert engine.embedding_version is None
    with pytest.raises(InvalidInput, match="no sentence representation"):
        fast_only.embed(["hello"])


def test_explain_marks_the_labels_asked_whatever_the_scores(engine: ModerationEngine) -> None:
    lax = Policy.default().with_changes(thresholds={"insult": {"review": 0.99, "reject": 0.99}})
    text = "You are an ІDІОТ"
    (result,) = engine.moderate([text], policy=lax)
    assert not [r for r in result.reasons if r.source == "model"]  # below review: no marks
    marked, empty, blank = engine.explain([text, "you idiot", "   "], [["insult"], [], ["insult"]])
    assert [(r.label, r.text, r.source) for r in marked] == [("insult", "ІDІОТ", "model")]
    assert text[marked[0].start : marked[0].end] == "ІDІОТ"  # the original text, as written
    assert empty == [] and blank == []
    assert engine.explain(["you idiot"], [["rudeness"]]) == [[]]  # unknown labels: nothing
    with pytest.raises(InvalidInput):
        engine.explain(["you idiot"], [])
    with pytest.raises(InvalidInput):
        engine.explain(["you idiot"], ["insult"])  # a label list per text, not a name
    assert ModerationEngine(fast=engine.fast).explain(["you idiot"], [["insult"]]) == [[]]


def test_explain_marks_only_words_the_explainer_would_mark() -> None:
    class Strict(FakeExplainer):
        threshold = 2.0  # above every weight FakeExplainer gives (1.0)

    strict = ModerationEngine(fast=FakeScorer(fast_scores), explainer=Strict({"idiot": "insult"}))
    strict.load()
    assert strict.explain(["you idiot"], [["insult"]]) == [[]]
    (result,) = strict.moderate(["you idiot"])  # scoring's own explanations are unchanged
    assert [r.text for r in result.reasons if r.source == "model"] == ["idiot"]
