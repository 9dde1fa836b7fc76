"""Per-site learning through the actions: examples, site isolation, shadow, promotion, rollback.

The engine is real: a tiny fast-tier model trained from the fixture data in a second or two.
"""

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.factories import NOW, make_reader, make_site, make_staff

from rostra.actions.adaptation import (
    adapt_due,
    adapt_site,
    learning_status,
    mark_example,
    promote,
    rollback,
    site_scoring,
)
from rostra.actions.archive import forget_author
from rostra.actions.comments import edit_comment, post_comment
from rostra.actions.moderation import moderate
from rostra.domain.comments import CommentStatus
from rostra.domain.errors import InvalidInput, NotAllowed, NotFound
from rostra.domain.labels import LABELS
from rostra.domain.moderation import AuthorContext, Decision, ModerationAction, ModerationResult
from rostra.moderation.adaptation import AdaptParams, SiteModel, fit_site_model
from rostra.moderation.engine import ModerationEngine
from rostra.moderation.fast import FastScorer, save_fast_model
from rostra.moderation.policy import Policy
from rostra.moderation.training.datasets import load_training_set
from rostra.moderation.training.train_fast import FastParams, fit_fast
from rostra.storage.database import transaction
from rostra.storage.examples import ExampleStore
from rostra.storage.reviews import ReviewStore
from rostra.storage.site_models import ModelStatus, SiteModelStore
from rostra.storage.tables import signals
from rostra.testing import FakeExplainer

DATA = Path(__file__).parents[1] / "moderation" / "fixtures" / "data"
TINY = FastParams(char_orders=(3, 5), char_bits=12, word_bits=11, min_df=1, max_iter=200)
URL = "https://news.example/2026/vote"
# What this site's moderators reject and the base model has never heard of.
RUDE = ["carrot heads like you ruin this", "typical carrot nonsense", "go back to carrot land",
        "carrot brained take as usual", "only a carrot would write this"]
FINE = ["the vote is on monday", "thanks for covering the council", "good piece on transit",
        "the library hours changed", "schools reopen next week"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    save_fast_model(fit_fast(load_training_set(DATA), TINY, seed=0), root)
    built = ModerationEngine(fast=FastScorer(model_dir=root))
    built.load()
    return built


def _post(db, engine, site, reader, body, minutes=0):
    return post_comment(db, engine, site=site, author_id=reader.author_id, body=body, url=URL,
                        title="Vote", now=NOW + timedelta(minutes=minutes)).comment


def _decide(db, site, staff, comment, action, minutes=0):
    return moderate(db, site=site, staff=staff, comment_id=comment.id, action=action,
                    version=comment.version, now=NOW + timedelta(minutes=minutes))


def _teach(db, engine, site, staff, reader, rounds=5):
    """Posts and decides RUDE (rejected) and FINE (approved) comments, in time order."""
    minute = 0
    for k in range(rounds):
        for rude, fine in zip(RUDE, FINE, strict=True):
            minute += 1
            c = _post(db, engine, site, reader, f"{rude} {k}", minute)
            _decide(db, site, staff, c, ModerationAction.REJECT, minute)
            c = _post(db, engine, site, reader, f"{fine} {k}", minute)
            _decide(db, site, staff, c, ModerationAction.APPROVE, minute)


def _example_count(db, site):
    with db.connect() as conn:
        return ExampleStore.count(conn, site.id)


def test_a_decision_becomes_an_example_and_a_reversal_replaces_it(db, engine):
    site = make_site(db)
    maria, alice = make_staff(db, site), make_reader(db, site)
    comment = _post(db, engine, site, alice, "carrot heads again")
    rejected = _decide(db, site, maria, comment, ModerationAction.REJECT)
    with db.connect() as conn:
        example = ExampleStore.get(conn, site.id, comment.id)
    assert (example.decision, example.text, example.user_id) == ("reject", comment.body,
                                                                  maria.user_id)
    assert set(example.scores) == set(LABELS)
    _decide(db, site, maria, rejected, ModerationAction.APPROVE, minutes=5)
    with db.connect() as conn:
        example = ExampleStore.get(conn, site.id, comment.id)
    assert example.decision == "approve" and _example_count(db, site) == 1


def test_featuring_a_comment_is_not_an_example(db, engine):
    site = make_site(db)
    maria, alice = make_staff(db, site), make_reader(db, site)
    comment = _post(db, engine, site, alice, "the vote is on monday")
    _decide(db, site, maria, comment, ModerationAction.FEATURE)
    assert _example_count(db, site) == 0


def test_forgetting_an_author_removes_their_examples(db, engine):
    site = make_site(db)
    maria, alice, bob = make_staff(db, site), make_reader(db, site), make_reader(db, site, "bob")
    _decide(db, site, maria, _post(db, engine, site, alice, "carrot land"), ModerationAction.REJECT)
    _decide(db, site, maria, _post(db, engine, site, bob, "nice piece"), ModerationAction.APPROVE)
    forget_author(db, site=site, ref=str(alice.author_id), remove_comments=False, now=NOW)
    with db.connect() as conn:
        left = ExampleStore.for_site(conn, site.id)
    assert [e.text for e in left] == ["nice piece"]


def test_label_corrections_and_span_marks_are_validated_and_kept(db, engine):
    site = make_site(db)
    maria, alice = make_staff(db, site), make_reader(db, site)
    comment = _post(db, engine, site, alice, "you carrot head")
    with pytest.raises(NotFound):
        mark_example(db, site=site, comment_id=comment.id, labels=["insult"], spans=None)
    _decide(db, site, maria, comment, ModerationAction.REJECT)
    marked = mark_example(db, site=site, comment_id=comment.id, labels=["insult"],
                          spans=[[4, 10]])
    assert (marked.labels, marked.spans) == (["insult"], [(4, 10)])
    with pytest.raises(InvalidInput):
        mark_example(db, site=site, comment_id=comment.id, labels=None, spans=[[4, 99]])
    with pytest.raises(InvalidInput):
        mark_example(db, site=site, comment_id=comment.id, labels=["rude"], spans=None)


def test_site_model_learns_the_sites_decisions_and_is_promoted_on_evidence(db, engine):
    site = make_site(db)
    maria, alice = make_staff(db, site), make_reader(db, site)
    before = _post(db, engine, site, alice, "such a carrot take", minutes=0)
    _teach(db, engine, site, maria, alice)
    report = adapt_site(db, engine, site=site, seed=0)
    assert report.examples == 50 and report.comparison.test_rows == 20
    assert report.comparison.promotable, report.comparison.refusals()
    promote(db, site=site, now=NOW)
    after = _post(db, engine, site, alice, "such a carrot take", minutes=500)
    assert before.status is CommentStatus.PUBLISHED
    assert after.status is CommentStatus.PENDING
    with db.connect() as conn:
        status = learning_status(conn, site.id)
    assert status["decisions"] == 50 and status["active_version"] == 1
    assert status["estimated_gain"]["auc"] > 0
    # Held by the site model alone, the comment still shows its moderator which words did it:
    # the engine's explainer marks them for the label the site model flags.
    explaining = ModerationEngine(fast=engine.fast, explainer=FakeExplainer({"carrot": "toxicity"}))
    explaining.load()
    marked = _post(db, explaining, site, alice, "such a carrot take", minutes=501)
    assert marked.status is CommentStatus.PENDING
    with db.connect() as conn:
        (signal,) = ReviewStore.signals(conn, [marked.id])[marked.id]
    words = [(r["label"], r["text"]) for r in signal["reasons"] if r["source"] == "site"]
    assert words == [("toxicity", "carrot")]


def test_one_sites_decisions_change_nothing_for_another_site(db, engine):
    a, b = make_site(db, "a"), make_site(db, "b")
    maria = make_staff(db, a, b)
    alice_a, alice_b, bob_b = make_reader(db, a), make_reader(db, b), make_reader(db, b, "bob")
    first = _post(db, engine, b, alice_b, "such a carrot take")
    _teach(db, engine, a, maria, alice_a)
    adapt_site(db, engine, site=a)
    promote(db, site=a)
    second = _post(db, engine, b, bob_b, "such a carrot take", minutes=1)
    with db.connect() as conn:
        assert ExampleStore.count(conn, b.id) == 0 and SiteModelStore.versions(conn, b.id) == []
        found = ReviewStore.signals(conn, [first.id, second.id])
    assert found[first.id][0]["scores"] == found[second.id][0]["scores"]
    assert second.status is first.status
    with pytest.raises(InvalidInput):
        adapt_site(db, engine, site=b)  # nothing to learn from


def test_shadow_model_scores_new_comments_without_changing_their_status(db, engine):
    site, twin = make_site(db, "news"), make_site(db, "twin")
    maria = make_staff(db, site)
    alice, alice_twin = make_reader(db, site), make_reader(db, twin)
    _teach(db, engine, site, maria, alice)
    adapt_site(db, engine, site=site)  # in shadow, not promoted
    texts = ["such a carrot take", "the vote is on monday", "carrot heads, all of you"]
    for k, text in enumerate(texts):
        here = _post(db, engine, site, alice, text, minutes=600 + k)
        there = _post(db, engine, twin, alice_twin, text, minutes=600 + k)
        assert here.status is there.status
        with db.connect() as conn:
            rows = ReviewStore.signals(conn, [here.id])[here.id]
        assert sorted(r["shadow"] for r in rows) == [False, True]
    with db.connect() as conn:
        shadow = conn.execute(select(func.count()).where(signals.c.shadow.is_(True))).scalar()
    assert shadow == len(texts)


def test_promotion_refuses_a_model_without_evidence(db, engine):
    site = make_site(db)
    maria, alice = make_staff(db, site), make_reader(db, site)
    _teach(db, engine, site, maria, alice, rounds=1)  # 10 decisions: too few to hold out
    adapt_site(db, engine, site=site)
    with pytest.raises(NotAllowed, match="not promoted"):
        promote(db, site=site)
    with db.connect() as conn:
        assert SiteModelStore.with_status(conn, site.id, ModelStatus.ACTIVE) is None


def _store(db, site, model, against):
    metrics = {"promotable": True, "refusals": [], "against": against}
    with transaction(db) as conn:
        return SiteModelStore.add(conn, site_id=site.id, artifact=model.to_bytes(),
                                  metrics=metrics, examples=1, now=NOW)


def _live_scores(db, site, text):
    base = ModerationResult(dict.fromkeys(LABELS, 0.2), Decision.APPROVE, tier="fast")
    with db.connect() as conn:
        result, _ = site_scoring(conn, site, text, base)
    return result.scores


def test_rollback_restores_the_previous_models_scores_exactly(db):
    from tests.moderation.test_adaptation import CARROT, NEUTRAL, _examples

    site = make_site(db)
    params = AdaptParams(min_positives=1)
    v1 = fit_site_model(_examples(CARROT, "reject") + _examples(NEUTRAL, "approve"), params)
    v2 = fit_site_model(_examples(CARROT, "approve") + _examples(NEUTRAL, "reject"), params)
    text = "carrot people again"
    _store(db, site, v1, None)
    promote(db, site=site)
    first = _live_scores(db, site, text)
    _store(db, site, v2, 1)
    promote(db, site=site)
    assert _live_scores(db, site, text) != first
    assert rollback(db, site=site).version == 1
    assert _live_scores(db, site, text) == first
    assert rollback(db, site=site) is None  # back to the base engine
    assert _live_scores(db, site, text) == dict.fromkeys(LABELS, 0.2)
    with pytest.raises(NotFound):
        rollback(db, site=site)
    with db.connect() as conn:
        models = learning_status(conn, site.id)["models"]
    assert [(m["version"], m["status"]) for m in models] == [(2, "rejected"), (1, "rejected")]


def _model_log(db, site):
    """(action, actor, user_id, before, after, reason) of the site's model entries, oldest first."""
    with db.connect() as conn:
        entries = ReviewStore.log_entries(conn, site.id, limit=100)
    return [(e.action, e.actor, e.user_id, e.before, e.after, e.reason)
            for e in reversed(entries) if e.action.startswith("site.model.")]


def test_training_is_in_the_audit_log_with_who_and_why_it_is_not_promotable(db, engine):
    site = make_site(db)
    maria, alice = make_staff(db, site), make_reader(db, site)
    _teach(db, engine, site, maria, alice, rounds=1)
    adapt_site(db, engine, site=site, staff=maria, reason="new word list", now=NOW)
    adapt_site(db, engine, site=site, now=NOW)  # from the command line
    (first, second) = _model_log(db, site)
    refusals = ["not enough recent decisions of both kinds to compare"]
    assert first == ("site.model.train", "moderator", maria.user_id,
                     {"active": None, "shadow": None},
                     {"active": None, "shadow": 1, "examples": 10, "promotable": False,
                      "refusals": refusals}, "new word list")
    assert second[:4] == ("site.model.train", "admin", None, {"active": None, "shadow": 1})
    assert second[4]["shadow"] == 2 and second[5] is None


def test_promotion_and_rollback_are_in_the_audit_log(db):
    from tests.moderation.test_adaptation import CARROT, NEUTRAL, _examples

    site = make_site(db)
    ada = make_staff(db, name="ada", admin=True)
    model = fit_site_model(_examples(CARROT, "reject") + _examples(NEUTRAL, "approve"),
                           AdaptParams(min_positives=1))
    metrics = {"promotable": True, "refusals": [], "against": None,
               "base": {"auc": 0.5}, "active": None, "candidate": {"auc": 0.9}}
    with transaction(db) as conn:
        SiteModelStore.add(conn, site_id=site.id, artifact=model.to_bytes(), metrics=metrics,
                           examples=1, now=NOW)
    promote(db, site=site, staff=ada, now=NOW)
    _store(db, site, model, 1)
    promote(db, site=site, reason="the carrot wave", now=NOW)
    rollback(db, site=site, staff=ada, reason="too strict on Mondays", now=NOW)
    rollback(db, site=site, now=NOW)
    assert _model_log(db, site) == [
        ("site.model.promote", "admin", ada.user_id, {"active": None, "shadow": 1},
         {"active": 1, "shadow": None},
         "held-out ROC-AUC 0.900 above 0.500 (the base engine)"),
        ("site.model.promote", "admin", None, {"active": 1, "shadow": 2},
         {"active": 2, "shadow": None}, "the carrot wave"),
        ("site.model.rollback", "admin", ada.user_id, {"active": 2, "shadow": None},
         {"active": 1, "shadow": None, "rejected": 2}, "too strict on Mondays"),
        ("site.model.rollback", "admin", None, {"active": 1, "shadow": None},
         {"active": None, "shadow": None, "rejected": 1}, None),
    ]
    with pytest.raises(NotFound):  # nothing changed, nothing logged
        rollback(db, site=site)
    assert len(_model_log(db, site)) == 4


def test_the_schedule_adapts_only_sites_with_enough_new_decisions(db, engine):
    busy, quiet = make_site(db, "busy"), make_site(db, "quiet")
    maria = make_staff(db, busy, quiet)
    alice, bob = make_reader(db, busy), make_reader(db, quiet, "bob")
    _teach(db, engine, busy, maria, alice)  # 50 decisions
    c = _post(db, engine, quiet, bob, "the vote is on monday")
    _decide(db, quiet, maria, c, ModerationAction.APPROVE)
    later = NOW + timedelta(hours=2)  # after every decision above
    first = adapt_due(db, engine, sites=[busy, quiet], every=40, promote_winners=True, now=later)
    assert [(r.site, r.new_decisions, r.version) for r in first] == [
        ("busy", 50, 1), ("quiet", 1, None)]
    assert first[0].promoted and first[0].note == "promoted"
    assert "not due (1 of 40 decisions)" in first[1].note
    log = _model_log(db, busy)
    assert [e[:3] for e in log] == [("site.model.train", "system", None),
                                    ("site.model.promote", "system", None)]
    assert log[0][5] == "schedule: 50 new decisions (every 40)"
    assert log[1][5].startswith("held-out ROC-AUC") and _model_log(db, quiet) == []
    with db.connect() as conn:
        assert SiteModelStore.versions(conn, quiet.id) == []
        assert learning_status(conn, busy.id)["active_version"] == 1
    # Nothing new since model 1: not due again.
    again = adapt_due(db, engine, sites=[busy], every=40, now=later + timedelta(days=1))
    assert again[0].version is None and again[0].new_decisions == 0
    with pytest.raises(InvalidInput):
        adapt_due(db, engine, sites=[busy], every=0)


def test_an_edit_is_judged_by_the_sites_active_model_too(db, engine):
    site = make_site(db)
    maria, alice = make_staff(db, site), make_reader(db, site)
    _teach(db, engine, site, maria, alice)
    adapt_site(db, engine, site=site, seed=0)
    promote(db, site=site, now=NOW)
    bob = make_reader(db, site, "bob")
    fine = _post(db, engine, site, bob, "the vote is on monday", minutes=600)
    assert fine.status is CommentStatus.PUBLISHED
    edited = edit_comment(db, engine, site=site, reader=bob, comment_id=fine.id,
                          body="such a carrot take", now=NOW + timedelta(minutes=601))
    assert edited.status is CommentStatus.PENDING
    with db.connect() as conn:
        rows = ReviewStore.signals(conn, [fine.id])[fine.id]
    assert len(rows) == 2 and not any(r["shadow"] for r in rows)


# -- the accurate tier's sentence representation ----------------------------------------------


@pytest.fixture(scope="module")
def engine_with_sentences(engine):
    """The tiny fast tier plus the shipped accurate tier, whose representation site models read."""
    from rostra.moderation.accurate import AccurateScorer

    built = ModerationEngine(fast=engine.fast, accurate=AccurateScorer(threads=1))
    built.load()
    return built


class RebuiltAccurate(ModerationEngine):
    """The same engine after the accurate tier was rebuilt: another representation."""

    @property
    def embedding_version(self):
        return "minilm-l6-int8-rebuilt"


def test_site_models_learn_from_the_accurate_tiers_representation(db, engine_with_sentences):
    site = make_site(db)
    maria, alice = make_staff(db, site), make_reader(db, site)
    _teach(db, engine_with_sentences, site, maria, alice)
    report = adapt_site(db, engine_with_sentences, site=site, seed=0)
    assert report.comparison.promotable, report.comparison.refusals()
    with db.connect() as conn:
        stored = SiteModelStore.with_status(conn, site.id, ModelStatus.SHADOW)
    model = SiteModel.from_bytes(stored.artifact)
    assert model.embedding == engine_with_sentences.embedding_version
    # Fitted as adapt_site fits it, with the representation: the same bytes.
    assert _refit(db, engine_with_sentences, site).to_bytes() == stored.artifact
    promote(db, site=site, now=NOW)
    after = _post(db, engine_with_sentences, site, alice, "such a carrot take", minutes=500)
    assert after.status is CommentStatus.PENDING


def _refit(db, engine, site):
    from rostra.actions.adaptation import _base_probs, _examples, sentence_vectors

    with db.connect() as conn:
        stored = ExampleStore.for_site(conn, site.id)
    base, _ = _base_probs(engine, [s.text for s in stored], Policy.from_dict(site.policy))
    return fit_site_model(_examples(stored, base), seed=0, vectors=sentence_vectors(engine))


def test_a_model_of_another_representation_is_passed_over_until_retrained(
    db, engine_with_sentences, caplog
):
    site = make_site(db)
    maria, alice = make_staff(db, site), make_reader(db, site)
    _teach(db, engine_with_sentences, site, maria, alice)
    adapt_site(db, engine_with_sentences, site=site, seed=0)
    promote(db, site=site, now=NOW)
    rebuilt = RebuiltAccurate(fast=engine_with_sentences.fast,
                              accurate=engine_with_sentences.accurate)
    rebuilt.load()
    # The active model cannot read the new representation: the base engine decides, as for a
    # site without a model, and the log says why.
    bob = make_reader(db, site, "bob")
    adapted = _post(db, engine_with_sentences, site, bob, "such a carrot take", minutes=600)
    with caplog.at_level(logging.WARNING, logger="rostra.actions.adaptation"):
        plain = _post(db, rebuilt, site, bob, "such a carrot take", minutes=601)
    assert "reads the sentence representation of minilm-l6-int8-" in caplog.text
    base = rebuilt.moderate(["such a carrot take"], policy=Policy.from_dict(site.policy),
                            contexts=[AuthorContext()])[0]
    with db.connect() as conn:
        found = ReviewStore.signals(conn, [adapted.id, plain.id])
    assert found[plain.id][0]["scores"] == pytest.approx(base.scores, abs=1e-4)
    assert found[adapted.id][0]["scores"]["toxicity"] > base.scores["toxicity"] + 0.1
    # The next adaptation compares against the base engine and learns the new representation.
    report = adapt_site(db, rebuilt, site=site, seed=0)
    assert report.comparison.active is None
    with db.connect() as conn:
        newest = SiteModelStore.with_status(conn, site.id, ModelStatus.SHADOW)
    assert SiteModel.from_bytes(newest.artifact).embedding == "minilm-l6-int8-rebuilt"
