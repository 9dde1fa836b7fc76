"""The perturbation generator: deterministic, each kind visible, and undone by normalisation."""

from __future__ import annotations

import random

import pytest

from rostra.moderation.evasion import KINDS, perturb, perturb_word
from rostra.moderation.normalize import normalize
from rostra.moderation.wordlist import WordList

WORDS = [
    "idiot",
    "stupid",
    "moron",
    "loser",
    "pathetic",
    "disgusting",
    "hate",
    "kill",
    "shut",
    "garbage",
    "trash",
    "people",
    "ignorant",
    "ugly",
    "dumb",
    "fool",
    "coward",
    "liar",
    "racist",
    "scum",
    "vermin",
]


def test_same_seed_same_output() -> None:
    text = "You are a stupid idiot and everyone hates you"
    assert perturb(text, random.Random(3)) == perturb(text, random.Random(3))
    assert perturb(text, random.Random(3)) != perturb(text, random.Random(4))


def test_word_rate_zero_changes_nothing_and_one_changes_every_long_word() -> None:
    text = "You are a stupid idiot"
    assert perturb(text, random.Random(1), word_rate=0.0) == text
    changed = perturb(text, random.Random(1), kinds=("spacing",), word_rate=1.0)
    assert changed == "Y o u a r e a s t u p i d i d i o t"


@pytest.mark.parametrize(
    ("kind", "looks_like"),
    [
        ("leet", lambda p: any(c in p for c in "4@30$51!7")),
        ("spacing", lambda p: " " in p),
        ("dots", lambda p: "." in p),
        ("dashes", lambda p: "-" in p),
        ("homoglyph", lambda p: not p.isascii()),
        ("zero_width", lambda p: len(p) > len("pathetic")),
        ("masking", lambda p: any(c in p for c in "*#%")),
        ("stretch", lambda p: len(p) > len("pathetic")),
        ("mixed_case", lambda p: p.lower() == "pathetic"),
    ],
)
def test_each_kind_does_what_it_says(kind: str, looks_like) -> None:
    rng = random.Random(11)
    for _ in range(20):
        perturbed = perturb_word("pathetic", rng, (kind,))
        assert perturbed != "pathetic" or kind == "mixed_case"
        assert looks_like(perturbed), perturbed


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "masking"])
def test_normalisation_undoes_every_kind_but_masking(kind: str) -> None:
    rng = random.Random(kind)
    for word in WORDS:
        for _ in range(10):
            perturbed = perturb_word(word, rng, (kind,))
            assert normalize(f"you {perturbed} now").text == f"you {word} now", perturbed


def test_masked_words_are_still_caught_by_word_lists() -> None:
    wordlist = WordList(banned=WORDS)
    rng = random.Random(2)
    for word in WORDS:
        masked = perturb_word(word, rng, ("masking",))
        assert masked != word
        assert [r.text for r in wordlist.find(normalize(f"so {masked}!"))] == [masked]


def test_unknown_kinds_and_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="kinds"):
        perturb("text", random.Random(0), kinds=("rot13",))
    with pytest.raises(ValueError, match="kinds"):
        perturb("text", random.Random(0), kinds=())
    with pytest.raises(ValueError, match="word_rate"):
        perturb("text", random.Random(0), word_rate=1.5)


def test_short_words_and_non_letters_are_left_alone() -> None:
    text = "an ox, 2020! 🙂"
    assert perturb(text, random.Random(0), word_rate=1.0) == text
