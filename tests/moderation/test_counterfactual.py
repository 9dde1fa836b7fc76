"""Counterfactual identity blending: group names alone do not flag a comment."""

import numpy as np
import pytest

from rostra.domain.labels import LABELS
from rostra.moderation.counterfactual import (
    BlendedScorer,
    IdentityBlend,
    counterfactual,
    identity_pattern,
    identity_terms,
)
from rostra.moderation.engine import ModerationEngine
from rostra.moderation.normalize import normalize


def test_group_terms_become_the_neutral_word_with_their_plural():
    assert counterfactual("i am trans and proud") == "i am local and proud"
    assert counterfactual("muslims and jews met at the vigil") == (
        "locals and locals met at the vigil"
    )
    assert counterfactual("my middle eastern neighbours") == "my local neighbours"
    assert counterfactual("a middle-aged african american man") == "a local local local"


def test_only_whole_words_are_replaced():
    assert counterfactual("the gaylord hotel, a transaction, blindfolds") is None
    assert counterfactual("") is None
    assert counterfactual("a friendly comment about the budget") is None


def test_the_term_list_reads_comments_and_blank_lines(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("# groups\n\nGay\nmiddle eastern  # two words\ngay\n", encoding="utf-8")
    assert identity_terms(path) == ("gay", "middle eastern")
    pattern = identity_pattern(identity_terms(path))
    assert counterfactual("gay and middle  eastern", pattern) == "local and local"


class _ByWord:
    """A scorer whose toxicity is 0.9 when the text contains "trans", else 0.1."""

    name = "by-word"
    labels = LABELS

    def __init__(self):
        self.calls = []

    def load(self):
        pass

    def score(self, texts):
        self.calls.append(list(texts))
        out = np.full((len(texts), len(LABELS)), 0.1, dtype=np.float32)
        for i, text in enumerate(texts):
            if "trans" in text.split():
                out[i] = 0.9
        return out


def test_a_text_naming_a_group_blends_its_two_scores_in_log_odds():
    scorer = _ByWord()
    blend = IdentityBlend(0.3)
    out = blend.score(scorer.score, ["i am trans", "the budget is late"])
    z = 0.3 * np.log(0.9 / 0.1) + 0.7 * np.log(0.1 / 0.9)
    assert out[0, 0] == pytest.approx(1 / (1 + np.exp(-z)), abs=1e-6)
    assert out[1, 0] == pytest.approx(0.1)
    # One call: the texts as written and the counterfactuals together.
    assert scorer.calls == [["i am trans", "the budget is late", "i am local"]]


def test_weight_one_scores_as_written_and_bad_weights_are_refused():
    scorer = _ByWord()
    out = IdentityBlend(1.0).score(scorer.score, ["i am trans"])
    assert out[0, 0] == pytest.approx(0.9)
    assert scorer.calls == [["i am trans"]]
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            IdentityBlend(bad)


def test_blended_scorer_wraps_a_scorer_for_evaluation():
    wrapped = BlendedScorer(_ByWord(), 0.0)
    wrapped.load()
    assert wrapped.labels == LABELS
    assert wrapped.score(["i am trans"])[0, 0] == pytest.approx(0.1)
    assert wrapped.score([]).shape == (0, len(LABELS))


@pytest.fixture(scope="module")
def engine():
    return ModerationEngine.from_model_dir(None)


@pytest.mark.parametrize(
    "text",
    [
        "I am trans.",
        "Gay people live on my street.",
        "As a queer woman I enjoyed this article.",
        "We are Muslims and we love this town.",
        "White people and Black people came to the meeting.",
    ],
)
def test_the_shipped_engine_approves_benign_mentions_of_groups(engine, text):
    for tier in ("fast", "accurate", "cascade"):
        result = engine.moderate([text], tier=tier)[0]
        assert result.decision.value == "approve", (tier, result.scores)


@pytest.mark.parametrize(
    "text",
    [
        "Gay people are disgusting and should be kept away from children.",
        "Muslims are terrorists, every single one of them.",
        "Kill all the trans freaks.",
    ],
)
def test_the_shipped_engine_still_flags_attacks_on_groups(engine, text):
    result = engine.moderate([text], tier="accurate")[0]
    assert result.decision.value != "approve", result.scores


def test_blending_can_be_switched_off():
    raw = ModerationEngine.from_model_dir(None, tiers=("fast",))
    raw.identity = IdentityBlend(1.0)
    text = normalize("queer", with_offsets=False).text
    blended = ModerationEngine.from_model_dir(None, tiers=("fast",))
    assert (
        blended.moderate([text])[0].scores["toxicity"] < raw.moderate([text])[0].scores["toxicity"]
    )
