"""Word lists: whole words, phrases, evasion, wildcards, original offsets, thousands of terms."""

from __future__ import annotations

import random
import string
import time

import pytest

from rostra.domain.labels import BANNED_TERM, SUSPECT_TERM
from rostra.moderation.normalize import normalize
from rostra.moderation.wordlist import WordList, default_wordlist, load_terms

SITE = WordList(banned=["xyzzy", "plugh"], suspect=["frobnicate", "twisty little passage"])


def found(text: str, wordlist: WordList = SITE) -> list[tuple[str, str]]:
    return [(r.label, r.text) for r in wordlist.find(normalize(text))]


def test_banned_and_suspect_terms_are_reported_with_original_text() -> None:
    assert found("Well XYZZY to you") == [(BANNED_TERM, "XYZZY")]
    assert found("do not frobnicate it") == [(SUSPECT_TERM, "frobnicate")]


def test_only_whole_words_match() -> None:
    assert found("xyzzyx and axyzzy and frobnicated") == []


def test_phrases_match_across_any_spacing_and_punctuation() -> None:
    assert found("a Twisty   little\npassage!") == [(SUSPECT_TERM, "Twisty   little\npassage")]
    assert found("twisty little passages") == []


@pytest.mark.parametrize(
    "written",
    [
        "xyzzy",
        "XyZzY",
        "xÿzzy",
        "x y z z y",
        "x.y.z.z.y",
        "xyyyyyzzy",
        "xуzzу",
        "x\u200byzzy",
        "xy*zy",
    ],
)
def test_evasions_of_a_banned_term_are_caught(written: str) -> None:
    reasons = SITE.find(normalize(f"oh {written}!"))
    assert [r.label for r in reasons] == [BANNED_TERM]
    assert reasons[0].text == written  # the span is the text as the author wrote it


def test_a_stretched_double_letter_is_still_caught() -> None:
    wordlist = WordList(banned=["grue", "mess"], suspect=["zork"])
    assert found("what a messssss", wordlist) == [(BANNED_TERM, "messssss")]
    assert found("what a mesSSSS", wordlist) == [(BANNED_TERM, "mesSSSS")]
    # "mes" alone is not "mess", even when something else in the comment was stretched.
    assert found("mes amis, sooooo good", wordlist) == []


def test_reason_offsets_point_into_the_original_text() -> None:
    original = "Ｗｅｌｌ, p l u g h to you"
    (reason,) = SITE.find(normalize(original))
    assert original[reason.start : reason.end] == "p l u g h" == reason.text
    assert reason.source == "wordlist"
    assert reason.weight == 1.0


def test_finding_without_offsets_still_gives_original_spans() -> None:
    original = "ok, plüüüügh"
    (reason,) = SITE.find(normalize(original, with_offsets=False))
    assert reason.text == "plüüüügh"


def test_a_span_in_both_lists_is_reported_once_as_banned() -> None:
    both = WordList(banned=["grue"], suspect=["grue"])
    assert found("a grue", both) == [(BANNED_TERM, "grue")]


def test_longest_phrase_wins() -> None:
    wordlist = WordList(banned=[], suspect=["son", "son of a gun"])
    assert found("you son of a gun", wordlist) == [(SUSPECT_TERM, "son of a gun")]


def test_masked_words_need_enough_visible_letters() -> None:
    wordlist = WordList(banned=["grue"], suspect=["zork"])
    assert found("g*ue", wordlist) == [(BANNED_TERM, "g*ue")]
    assert found("g**e", wordlist) == [(BANNED_TERM, "g**e")]
    assert found("g***", wordlist) == []  # too little shown to reject
    assert found("z***", wordlist) == []
    assert found("z**k", wordlist) == [(SUSPECT_TERM, "z**k")]
    assert found("****", wordlist) == []


def test_masked_words_match_alike_however_many_starred_words_came_before() -> None:
    # Candidates for a starred word are remembered, up to a bound; a full memory starts over.
    wordlist = WordList(banned=["grue", "grue lair"], suspect=["zork"])
    first = found("**the g*ue l*ir and z**k", wordlist)
    assert first == [(BANNED_TERM, "g*ue l*ir"), (SUSPECT_TERM, "z**k")]
    for k in range(10_000):  # more distinct starred words than it keeps
        assert found(f"w*{k:05d} **x{k}", wordlist) == []
    assert found("**the g*ue l*ir and z**k", wordlist) == first
    assert found("g**e", wordlist) == [(BANNED_TERM, "g**e")]


def test_stars_in_listed_terms_are_not_wildcards() -> None:
    wordlist = WordList(banned=["gr*e"])
    assert found("grae", wordlist) == []
    assert found("gre", wordlist) == [(BANNED_TERM, "gre")]


def test_empty_and_blank_terms_are_ignored() -> None:
    wordlist = WordList(banned=["", "  ", "***"], suspect=[])
    assert len(wordlist) == 0
    assert found("anything ***", wordlist) == []


def test_load_terms_skips_comments_and_blank_lines() -> None:
    assert load_terms(["# header", "", "  foo  # note", "bar baz"]) == ["foo", "bar baz"]


def test_default_list_catches_slurs_and_profanity_but_not_ordinary_words() -> None:
    wordlist = default_wordlist()
    assert found("what a c*nt", wordlist) == [(BANNED_TERM, "c*nt")]
    assert found("F U C K this", wordlist) == [(SUSPECT_TERM, "F U C K")]
    assert found("sh!t happens", wordlist) == [(SUSPECT_TERM, "sh!t")]
    # "a" before a spelled-out word is the article, not the word's first letter ...
    assert found("you are a c u n t", wordlist) == [(BANNED_TERM, "c u n t")]
    assert found("what a s h i t show", wordlist) == [(SUSPECT_TERM, "s h i t")]
    # ... unless the whole run is the listed word
    assert found("you a s s h o l e", wordlist) == [(SUSPECT_TERM, "a s s h o l e")]
    benign = (
        "Scunthorpe class assassin, a cocktail in Essex, spick and span, "
        "the Dickens novel, 2020 was a hard year for 100 people"
    )
    assert found(benign, wordlist) == []


@pytest.mark.parametrize(
    "text",
    [
        "I am a gay Muslim woman and a proud Jew",
        "My Black, Pakistani and Japanese neighbours; the Chinese community; trans people",
        "Philip K. Dick lived in Essex; Hancock and Cockburn met in Scunthorpe",
        "We assume the bass player in class passed the passage; shiitake mushrooms",
        "The Niger river; Spanish speakers; Arab and Jewish leaders met in Paris",
    ],
)
def test_default_list_leaves_identity_mentions_and_names_alone(text: str) -> None:
    assert found(text, default_wordlist()) == []


def _random_terms(rng: random.Random, n: int) -> list[str]:
    terms = set()
    while len(terms) < n:
        words = [
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9)))
            for _ in range(rng.choice((1, 1, 1, 2, 3)))
        ]
        terms.add(" ".join(words))
    return sorted(terms)


def test_five_thousand_terms_compile_once_and_match_fast() -> None:
    rng = random.Random(5)
    banned = _random_terms(rng, 2500)
    suspect = _random_terms(rng, 2500)
    wordlist = WordList(banned, suspect)
    assert len(wordlist) == 5000
    comment = normalize(
        "I think the council's decision on the new bike lanes is a really good idea, but they "
        "should have asked residents first. Parking is already hard enough. " + banned[7],
        with_offsets=False,
    )
    assert [r.label for r in wordlist.find(comment)] == [BANNED_TERM]
    clean = normalize(
        "I think the council's decision on the new bike lanes is a really good idea, but they "
        "should have asked residents first. Parking is already hard enough.",
        with_offsets=False,
    )
    start = time.perf_counter()
    for _ in range(1000):
        wordlist.find(clean)
    per_comment = (time.perf_counter() - start) / 1000
    # Generous bound for a loaded CI machine; measured about 10 µs here.
    assert per_comment < 500e-6
