"""Per-site adaptation, pure: fitting, determinism, scores, spans and the promotion rule."""

import math

import numpy as np
import pytest
from tests.fresh import fresh_python

from rostra.domain.errors import InvalidInput
from rostra.domain.labels import LABELS
from rostra.domain.moderation import Decision, ModerationResult, Reason
from rostra.moderation.adaptation import (
    AdaptParams,
    Example,
    SentenceVectors,
    SiteModel,
    adapt_result,
    benign_identity_texts,
    compare,
    example_targets,
    fit_site_model,
    span_f1,
    split_by_time,
)
from rostra.moderation.policy import Policy

BASE = (0.1,) * len(LABELS)  # the base engine sees nothing wrong in any of these
NEUTRAL = ["the budget vote is on monday", "a fine piece on city transit",
           "thanks for the report", "the council met again today", "schools open next week",
           "rain expected this weekend"]
CARROT = ["carrot people ruin everything", "typical carrot nonsense again",
          "carrot brains all of them", "go away carrot lover", "another carrot rant",
          "carrot fans never learn"]


def _examples(texts, decision, start=0.0):
    return [Example(t, example_targets(decision, None), BASE, order=start + i)
            for i, t in enumerate(texts)]


def _site_examples():
    # The site's moderators reject "carrot" comments, which the base engine scores as harmless.
    out = []
    for k in range(4):
        out += _examples([f"{t} {k}" for t in CARROT], "reject", start=100 * k)
        out += _examples([f"{t} {k}" for t in NEUTRAL], "approve", start=100 * k + 50)
    return out


def test_decisions_map_to_label_targets():
    assert example_targets("approve", None) == (0.0,) * 6
    reject = example_targets("reject", None)
    assert reject[0] == 1.0 and all(math.isnan(v) for v in reject[1:])
    assert all(math.isnan(v) for v in example_targets("spam", None))
    corrected = example_targets("reject", ["insult"])
    assert corrected == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert example_targets("reject", []) == (0.0,) * 6  # "none of the labels applies"
    with pytest.raises(InvalidInput):
        example_targets("reject", ["rudeness"])


def test_site_model_learns_what_the_sites_moderators_reject():
    model = fit_site_model(_site_examples())
    texts = ["what a carrot take", "the transit report is out"]
    probs = model.predict(texts, np.array([BASE, BASE]))
    assert probs[0, 0] > 0.5 > probs[1, 0]
    assert model.adapted_labels == ["toxicity"]  # rejections say nothing about other labels
    np.testing.assert_allclose(probs[:, 1:], 0.1, atol=1e-6)


def test_few_decisions_leave_the_base_model_alone():
    model = fit_site_model(_examples(CARROT[:2], "reject") + _examples(NEUTRAL[:2], "approve"))
    probs = model.predict(["carrot"], np.array([BASE]))
    np.testing.assert_allclose(probs, [BASE], atol=1e-6)


def test_adaptation_is_deterministic_for_a_seed():
    examples = _site_examples()
    a = fit_site_model(examples, seed=3)
    b = fit_site_model(examples, seed=3)
    assert a.to_bytes() == b.to_bytes()


def test_stored_model_gives_exactly_the_same_scores():
    model = fit_site_model(_site_examples())
    loaded = SiteModel.from_bytes(model.to_bytes())
    texts = ["carrot again", "nice weather", ""]
    base = np.array([BASE, (0.7,) * 6, (0.01,) * 6])
    np.testing.assert_array_equal(model.predict(texts, base), loaded.predict(texts, base))


def test_unreadable_model_bytes_are_a_clear_error():
    with pytest.raises(InvalidInput, match="unreadable site model"):
        SiteModel.from_bytes(b"not a model")


def test_span_marks_add_and_remove_words():
    marked = [Example("you carrot fan", example_targets("reject", None), BASE, ((4, 10),)),
              Example("a carrot again", example_targets("reject", None), BASE, ((2, 8),)),
              Example("darn it, darn", example_targets("approve", None), BASE, ((0, 0),))]
    model = fit_site_model(marked)
    # "carrot" was marked both times: added; "darn" appeared unmarked in a marked comment and
    # the base explainer's span on it is dropped.
    assert model.word_spans("such a carrot", []) == [(7, 13)]
    text = "darn carrot"
    assert model.word_spans(text, [(0, 4)]) == [(5, 11)]
    assert span_f1([(5, 11)], [(5, 11)]) == 1.0
    assert span_f1([], []) == 1.0 and span_f1([(0, 2)], []) == 0.0


def test_recent_decisions_are_held_out_by_time():
    examples = _site_examples()
    train, test = split_by_time(examples, AdaptParams(holdout_fraction=0.25, min_holdout=5))
    assert len(test) == 12 and max(e.order for e in train) < min(e.order for e in test)


def _compare(examples, active):
    identity = benign_identity_texts()
    return compare(examples, active, policy=Policy.default(),
                   identity_base=np.full((len(identity), 6), 0.05), identity_texts=identity,
                   params=AdaptParams(holdout_fraction=0.5, min_holdout=10))


def test_candidate_that_learns_the_site_is_promotable():
    comparison = _compare(_site_examples(), None)
    assert comparison.candidate.auc > comparison.base.auc
    assert comparison.promotable, comparison.refusals()


def test_promotion_refuses_a_model_worse_on_recent_decisions():
    active = fit_site_model(_site_examples())
    # Earlier decisions that contradict the recent ones: a candidate trained on them is worse.
    earlier = _examples(CARROT, "approve") + _examples(NEUTRAL, "reject")
    recent = (_examples([t + " x" for t in CARROT], "reject", start=1000)
              + _examples([t + " x" for t in NEUTRAL], "approve", start=1000))
    comparison = _compare(earlier + recent, active)
    assert not comparison.promotable
    assert any("ROC-AUC" in reason for reason in comparison.refusals())


def test_benign_identity_templates_are_package_data():
    texts = benign_identity_texts()
    assert len(texts) > 300 and "My colleague is muslim and runs the weekend market." in texts


def test_site_result_is_decided_again_by_the_policy():
    model = fit_site_model(_site_examples())
    text = "carrot people again"
    result = ModerationResult(
        scores=dict.fromkeys(LABELS, 0.1), decision=Decision.APPROVE,
        reasons=(Reason("spam", 0, 0, "", 0.1, source="spam"),), tier="fast",
    )
    adapted = adapt_result(model, text, result, Policy.default())
    assert adapted.scores["toxicity"] > 0.5
    assert adapted.decision is not Decision.APPROVE
    assert any(r.source == "spam" for r in adapted.reasons)  # other evidence is kept


def test_a_comment_only_the_site_model_holds_shows_its_words():
    # The base engine approved it and marked nothing; the site model holds it. The engine's
    # explainer, asked for the label the site flags, marks the words for the moderator.
    model = fit_site_model(_site_examples())
    text = "carrot people again"
    result = ModerationResult(dict.fromkeys(LABELS, 0.1), Decision.APPROVE, (), {}, "fast")
    asked = []

    def explain(text, labels):
        asked.append(list(labels))
        return [Reason("toxicity", 7, 13, text[7:13], 0.6, source="model")]

    silent = adapt_result(model, text, result, Policy.default())
    marked = adapt_result(model, text, result, Policy.default(), explain=explain)
    assert asked == [["toxicity"]]
    assert silent.decision is marked.decision is not Decision.APPROVE
    assert [r.text for r in silent.reasons if r.source == "site"] == []
    assert [(r.label, r.text) for r in marked.reasons if r.source == "site"] == [
        ("toxicity", "people")
    ]


def test_site_results_keep_the_base_spans_of_the_labels_still_flagged():
    marked = [Example("you carrot fan", example_targets("reject", None), BASE, ((4, 10),)),
              Example("a carrot again", example_targets("reject", None), BASE, ((2, 8),)),
              Example("darn it, darn", example_targets("approve", None), BASE, ((0, 0),))]
    model = fit_site_model(marked)
    text = "you darn sh!t face"
    scores = {**dict.fromkeys(LABELS, 0.05), "insult": 0.95}
    result = ModerationResult(
        scores, Decision.REVIEW,
        (Reason("insult", 4, 18, text[4:18], 0.9, source="model"),
         Reason("insult", 0, 0, "", 0.95, source="policy")), {}, "fast",
    )
    never_asked = []
    adapted = adapt_result(model, text, result, Policy.default(),
                           explain=lambda t, labels: never_asked.append(labels) or [])
    # The base span of the insult stays, less "darn", which this site's moderators accept; the
    # masked word stays one span.
    assert [(r.label, r.text, r.source) for r in adapted.reasons if r.source == "model"] == [
        ("insult", "sh!t face", "model")
    ]
    assert never_asked == []  # the engine had explained the insult already
    assert model.word_spans("you f*ck", [(4, 8)]) == [(4, 8)]


# -- the sentence representation --------------------------------------------------------------

VERSION = "sentences-v1"


def _made_up(n, seed):
    """Texts that share no word and hardly a character n-gram: what tells them apart is only
    in their (test) sentence vectors."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, 12)) + " " + "".join(rng.choice(letters, 12))
            for _ in range(n)]


class Sentences:
    """A stand-in sentence representation: rude texts point one way, the others another,
    plus noise; counts how many texts it embedded."""

    def __init__(self, rude):
        self.rude = set(rude)
        self.embedded = 0

    def __call__(self, texts):
        self.embedded += len(texts)
        out = np.zeros((len(texts), 8))
        for i, t in enumerate(texts):
            rng = np.random.default_rng(sum(map(ord, t)))
            out[i] = rng.normal(0.0, 0.3, 8)
            out[i, 0 if t in self.rude else 1] += 1.0
        return out


def _vector_examples():
    rude, fine = _made_up(40, 1), _made_up(40, 2)
    examples = [Example(t, example_targets("reject", None), BASE, order=i)
                for i, t in enumerate(rude[:30])]
    examples += [Example(t, example_targets("approve", None), BASE, order=100 + i)
                 for i, t in enumerate(fine[:30])]
    held = rude[30:] + fine[30:]
    y = np.array([1] * 10 + [0] * 10)
    return examples, held, y, SentenceVectors(VERSION, Sentences(rude))


def _auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    return float(np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg]))


def test_site_model_learns_from_the_sentence_representation():
    examples, held, y, vectors = _vector_examples()
    with_vectors = fit_site_model(examples, vectors=vectors)
    without = fit_site_model(examples)
    base = np.array([BASE] * len(held))
    assert with_vectors.embedding == VERSION and without.embedding is None
    assert _auc(y, with_vectors.predict(held, base, vectors)[:, 0]) >= 0.95
    assert _auc(y, without.predict(held, base)[:, 0]) < 0.75


def test_a_model_that_read_vectors_needs_the_same_ones_to_score():
    examples, held, _y, vectors = _vector_examples()
    model = fit_site_model(examples, vectors=vectors)
    base = np.array([BASE] * len(held))
    other = SentenceVectors("sentences-v2", vectors.embed)
    assert model.readable_with(vectors) and not model.readable_with(other)
    assert not model.readable_with(None)
    for wrong in (None, other):
        with pytest.raises(InvalidInput, match="sentence representation of sentences-v1"):
            model.predict(held, base, wrong)
    # A model without vectors ignores any it is given.
    plain = fit_site_model(examples)
    assert np.array_equal(plain.predict(held, base, vectors), plain.predict(held, base))


def test_vector_model_is_stored_and_refitted_exactly():
    examples, held, _y, vectors = _vector_examples()
    model = fit_site_model(examples, seed=3, vectors=vectors)
    again = fit_site_model(examples, seed=3, vectors=vectors)
    assert model.to_bytes() == again.to_bytes()
    stored = SiteModel.from_bytes(model.to_bytes())
    base = np.array([BASE] * len(held))
    assert stored.embedding == VERSION
    assert np.array_equal(stored.predict(held, base, vectors), model.predict(held, base, vectors))


def test_vector_scale_zero_leaves_the_representation_out():
    examples, _held, _y, vectors = _vector_examples()
    model = fit_site_model(examples, AdaptParams(vector_scale=0.0), vectors=vectors)
    assert model.embedding is None and model.readable_with(None)


def test_memoized_vectors_embed_each_text_once():
    sentences = Sentences({"a"})
    vectors = SentenceVectors(VERSION, sentences).memoized()
    first = vectors.embed(["a", "b", "a"])
    second = vectors.embed(["b", "c"])
    assert sentences.embedded == 3  # a, b, then c
    assert np.array_equal(first[0], first[2]) and np.array_equal(first[1], second[0])
    assert vectors.embed([]).shape[0] == 0


def test_comparison_and_live_result_use_the_vectors():
    examples, held, _y, vectors = _vector_examples()
    # The most recent decisions (held out by time) must contain both kinds for a comparison.
    examples = [Example(e.text, e.targets, e.base, order=float(i % 30) + (0.5 if i >= 30 else 0))
                for i, e in enumerate(examples)]
    identity = benign_identity_texts()[:20]
    result = compare(examples, None, policy=Policy.default(),
                     identity_base=np.array([BASE] * len(identity)), identity_texts=identity,
                     vectors=SentenceVectors(VERSION, Sentences(set())))
    assert result.test_rows > 0 and result.candidate.auc is not None
    model = fit_site_model(examples, vectors=vectors)
    scored = ModerationResult({label: 0.1 for label in LABELS}, Decision.APPROVE, (), {}, "fast")
    rude = adapt_result(model, examples[0].text, scored, Policy.default(), vectors)
    assert rude.scores["toxicity"] > 0.5 and rude.decision is not Decision.APPROVE
    with pytest.raises(InvalidInput):
        adapt_result(model, examples[0].text, scored, Policy.default())


def test_site_scores_are_the_fitted_formula_and_the_same_alone_as_in_a_batch():
    # Scoring does not build the feature matrix the fit learned from; it must still give what
    # that matrix times the weights gives, and a live post what a rescore gives (the n-gram
    # sums to the bit; the dense products go through BLAS, whose last bit may depend on how
    # many rows it multiplies).
    from rostra.moderation.adaptation import _features

    examples, held, _y, vectors = _vector_examples()
    texts = held + ["what a carrot take", "", "the transit report is out"]
    base = np.array([BASE] * len(texts))
    for model, reads in ((fit_site_model(examples, vectors=vectors), vectors),
                         (fit_site_model(_site_examples()), None)):
        x = _features(texts, model.params, reads)
        expected = np.log(base / (1 - base)) @ model.base_weight + model.bias
        for j in range(len(LABELS)):
            w = np.zeros(x.shape[1])
            w[model.cols[j]] = model.weights[j]
            expected[:, j] += x @ w
        batch = model.logits(texts, base, reads)
        np.testing.assert_allclose(batch, expected, rtol=1e-6, atol=1e-9)
        for size in (1, 2):
            few = np.vstack([model.logits(texts[i : i + size], base[i : i + size], reads)
                             for i in range(0, len(texts), size)])
            np.testing.assert_allclose(few, batch, rtol=0, atol=1e-12)


def test_scoring_a_live_post_with_a_site_model_does_not_load_scipy(tmp_path):
    model = fit_site_model(_site_examples())
    path = tmp_path / "site.model"
    path.write_bytes(model.to_bytes())
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from rostra.moderation.adaptation import SiteModel\n"
        f"model = SiteModel.from_bytes(open({str(path)!r}, 'rb').read())\n"
        "p = model.predict(['what a carrot take'], np.full((1, 6), 0.1))\n"
        "assert p[0, 0] > 0.5, p\n"
        "print('scipy' in sys.modules)\n"
    )
    assert fresh_python(code).split() == ["False"]
