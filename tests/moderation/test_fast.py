"""The fast tier: the shipped model's behaviour, the scorer conventions and the features."""

import numpy as np
import pytest
from tests.fresh import fresh_python

from rostra.domain.errors import InvalidInput, ScorerNotLoaded
from rostra.domain.labels import LABELS
from rostra.moderation.fast import DEFAULT_MODEL_DIR, FastScorer
from rostra.moderation.features import FEW, NgramHasher, char_offsets_of_bytes
from rostra.moderation.normalize import normalize
from rostra.moderation.policy import Policy
from rostra.moderation.scorer import check_scorer

REVIEW = np.array([Policy.default().thresholds[label].review for label in LABELS])

TOXIC = [
    "You are a stupid idiot and everyone hates you.",
    "Shut up, you pathetic moron.",
    "What a fucking disgrace, you worthless piece of shit.",
    "I will find you and kill you.",
    "F.U.C.K you, st00pid 1d10t",
    "you are a c u n t",  # the article stays a word of its own
]
BENIGN = [
    "Thank you for this thoughtful article.",
    "The council meets again on Tuesday to discuss the budget.",
    "I disagree with the conclusion, but the reporting is careful.",
    "I am a proud gay Muslim woman.",
    "Jewish people celebrate Hanukkah.",
    "My neighbour is Black and a wonderful cook.",
    "As a Christian, I found this piece moving.",
    "Immigrants opened most of the shops on our street.",
]


@pytest.fixture(scope="module")
def fast():
    scorer = FastScorer()
    scorer.load()
    return scorer


def _score(scorer, texts):
    return scorer.score([normalize(t, with_offsets=False).text for t in texts])


def test_shipped_model_flags_clearly_toxic_comments(fast):
    probs = _score(fast, TOXIC)
    flagged = (probs >= REVIEW).any(axis=1)
    assert flagged.all(), [t for t, f in zip(TOXIC, flagged, strict=True) if not f]


def test_shipped_model_passes_benign_comments_and_identity_mentions(fast):
    probs = _score(fast, BENIGN)
    flagged = (probs >= REVIEW).any(axis=1)
    assert not flagged.any(), [t for t, f in zip(BENIGN, flagged, strict=True) if f]


def test_shipped_model_names_the_kind_of_toxicity(fast):
    probs = _score(fast, ["you are a stupid idiot", "i will kill you"])
    insult, threat = LABELS.index("insult"), LABELS.index("threat")
    assert probs[0, insult] > probs[1, insult]
    assert probs[1, threat] > probs[0, threat]


def test_fast_scorer_follows_the_scorer_conventions():
    check_scorer(FastScorer())


def test_score_before_load_is_refused():
    with pytest.raises(ScorerNotLoaded):
        FastScorer().score(["hello"])


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="cannot load the fast model"):
        FastScorer(model_dir=tmp_path).load()


def test_hostile_texts_score_without_error(fast):
    texts = ["", "\x00\x00", "a" * 200_000, "🙂" * 50, "\ud800 lone surrogate", "\n\t "]
    probs = fast.score(texts)
    assert probs.shape == (len(texts), len(LABELS))
    assert np.isfinite(probs).all()


def test_batch_neighbours_do_not_change_a_score(fast):
    texts = [normalize(t, with_offsets=False).text for t in TOXIC + BENIGN]
    assert len(texts) > FEW
    together = fast.score(texts)
    # Up to FEW texts take a path of their own (their weight rows added up, no sparse matrix);
    # it must give the very same numbers, so a live post scores what a rescore of the archive
    # does.
    for size in range(1, FEW + 1):
        few = np.vstack([fast.score(texts[i : i + size]) for i in range(0, len(texts), size)])
        np.testing.assert_array_equal(together, few)


def test_word_contributions_point_at_the_insult(fast):
    text = "thanks for the article, you idiot"
    offsets, contrib = fast.word_contributions(text)
    words = [text[a:b] for a, b in offsets]
    top = words[int(np.argmax(contrib[:, LABELS.index("toxicity")]))]
    assert top == "idiot"


def test_hasher_logits_match_the_sparse_matrix():
    hasher = NgramHasher(char_orders=(3, 5), char_bits=10, word_bits=9)
    texts = ["you are an idiot", "", "héllo wörld, fine", "x", "a longer one, you moron", "ok"]
    assert len(texts) > FEW  # the batch takes the sparse product
    w = np.random.default_rng(0).normal(size=(hasher.n_features, 6)).astype(np.float32)
    ones = np.ones(hasher.n_features, dtype=np.float32)
    batch = hasher.logits(texts, w, ones)
    np.testing.assert_allclose(hasher.transform(texts) @ w, batch, atol=1e-4)
    for size in (1, 2, FEW):
        few = np.vstack([hasher.logits(texts[i : i + size], w, ones)
                         for i in range(0, len(texts), size)])
        np.testing.assert_array_equal(few, batch)


def test_shipped_model_files_fit_the_size_budget():
    total = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir() if p.is_file())
    assert total <= 10 * 1024 * 1024


@pytest.mark.parametrize(
    "text",
    ["plain ascii", "café 日本 😀 end", "lone \ud800 surrogate", "\U0010ffff\u07ff\u0800", ""],
)
def test_byte_offsets_map_to_the_characters_that_own_them(text):
    encoded = text.encode("utf-8", "replace")
    mapped = char_offsets_of_bytes(text, encoded)
    assert mapped.shape == (len(encoded) + 1,)
    assert mapped[-1] == len(text)
    for i, ch in enumerate(text):
        start = len(text[:i].encode("utf-8", "replace"))
        width = len(ch.encode("utf-8", "replace"))
        assert list(mapped[start : start + width]) == [i] * width


def test_word_contributions_of_a_batch_equal_those_of_each_text(fast):
    texts = ["you stupid idiot", "", "café idiot 😀 moron", "plain words here",
             "f.u.c.k off, loser", "the council met on Tuesday"]
    assert len(texts) > FEW  # the batch takes the sparse product, one text the numpy sums
    starts, ends, indptr, contrib = fast.word_contributions_many(texts)
    assert indptr.tolist()[0] == 0 and indptr.tolist()[-1] == len(starts)
    for i, text in enumerate(texts):
        offsets, alone = fast.word_contributions(text)
        a, b = indptr[i], indptr[i + 1]
        assert list(zip(starts[a:b].tolist(), ends[a:b].tolist(), strict=True)) == offsets
        np.testing.assert_array_equal(contrib[a:b], alone)
    pairs = np.vstack([fast.word_contributions_many(texts[i : i + 2])[3] for i in (0, 2, 4)])
    np.testing.assert_array_equal(pairs, contrib)
    assert [
        texts[2][s:e]
        for s, e in zip(starts[indptr[2] : indptr[3]], ends[indptr[2] : indptr[3]], strict=True)
    ] == ["café", "idiot", "😀", "moron"]


def test_judging_a_live_post_does_not_load_scipy():
    # A server that only takes posts keeps ~15 MB less when the post path (one comment, its
    # group-neutral copy, explanations) never imports scipy; batches still use it.
    code = (
        "import sys\n"
        "from rostra.moderation.engine import ModerationEngine\n"
        "engine = ModerationEngine.from_model_dir(tiers=['fast'])\n"
        "result = engine.moderate(['Those women are stupid idiots, f*ck them'])[0]\n"
        "assert result.decision.value != 'approve', result\n"
        "assert any(r.text for r in result.reasons), result.reasons\n"
        "print('scipy' in sys.modules)\n"
        "engine.moderate(['one', 'two', 'three', 'four', 'five you idiot'])\n"
        "print('scipy' in sys.modules)\n"
    )
    assert fresh_python(code).split() == ["False", "True"]
