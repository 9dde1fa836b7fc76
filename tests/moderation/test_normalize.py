"""Normalisation: every evasion form, things it must leave alone, and the offset map."""

from __future__ import annotations

import random
import re

import pytest

from rostra.moderation.normalize import normalize, with_offsets


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("FUCK", "fuck"),  # case folding
        ("Ｆｕｃｋ", "fuck"),  # fullwidth (NFKC)
        ("𝐟𝐮𝐜𝐤", "fuck"),  # mathematical bold
        ("ѕһіт", "shit"),  # Cyrillic look-alikes
        ("idιοt", "idiot"),  # Greek look-alikes mixed in
        ("fu\u200bck", "fuck"),  # zero-width space
        ("f\u00adu\u200dck", "fuck"),  # soft hyphen, zero-width joiner
        ("fu\u0301ck", "fuck"),  # combining accent
        ("fúck", "fuck"),  # precomposed accent
        ("h4te", "hate"),
        ("1d10t", "idiot"),
        ("$hit", "shit"),
        ("a$$", "ass"),
        ("b@stard", "bastard"),
        ("5lut", "slut"),
        ("7w47", "twat"),
        ("m0r0n", "moron"),
        ("fuuuuuck", "fuck"),  # stretched letters
        ("shiiiit", "shit"),
        ("f u c k", "fuck"),  # split by spaces
        ("f.u.c.k", "fuck"),  # dots
        ("f-u-c-k", "fuck"),  # dashes
        ("f_u_c_k", "fuck"),  # underscores
        ("f . u . c . k", "fuck"),
        ("s h 1 t", "shit"),  # split and leet together
        ("sh!t", "shit"),  # "!" between letters reads as i
        ("b!tch", "bitch"),
        ("f*ck", "f*ck"),  # masks stay a wildcard for the word lists
        ("f#ck", "f*ck"),
        ("f%ck", "f*ck"),
        ("sh^t", "sh*t"),
    ],
)
def test_evasion_is_undone(written: str, expected: str) -> None:
    assert normalize(written).text == expected
    assert normalize(written, with_offsets=False).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "in 2020 there were 100 people",
        "the 3rd and 1st of may, 4th july",
        "it cost $5bn or $100",
        "good all coffee bookkeeper",  # legitimate doubles
        "visit www.example.com",
        "wow!! why?! #tag @alice",
        "1 2 3 and 5 - 4 - 3",
        "e.g. the u.s. economy",
        "a cat",
    ],
)
def test_ordinary_text_is_only_lowercased(text: str) -> None:
    assert normalize(text).text == text


def test_acronyms_with_three_letters_are_joined() -> None:
    assert normalize("U.S.A. today").text == "usa. today"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        # "a" or "i" before a split word is a word of its own when the rest is a word ...
        ("you are a c u n t", "you are a cunt"),
        ("what a s h i t show", "what a shit show"),
        ("you are a f u c k i n g moron", "you are a fucking moron"),
        ("such a m o r o n", "such a moron"),
        ("a b i t c h e s", "a bitches"),
        ("i h a t e you", "i hate you"),
        ("i  s  h  i  t", "i shit"),  # two spaces throughout
        # ... and the first letter of the split word when the whole run is a word
        ("a s s", "ass"),
        ("a s s h o l e s", "assholes"),
        ("i d i o t", "idiot"),
        ("a m a z i n g", "amazing"),
        ("a r s e", "arse"),
        ("a q z x", "aqzx"),  # neither reading explains it: joined, as before
        ("a.c.u.n.t", "acunt"),  # dots are no word boundary
    ],
)
def test_one_letter_word_before_split_letters(written: str, expected: str) -> None:
    assert normalize(written).text == expected
    assert normalize(written, with_offsets=False).text == expected


def test_one_letter_word_keeps_its_own_offsets() -> None:
    original = "you are a c u n t!"
    n = normalize(original)
    assert n.text == "you are a cunt!"
    article = n.text.index(" a ") + 1
    assert n.to_original(article, article + 1) == (8, 9)
    start = n.text.index("cunt")
    a, b = n.to_original(start, start + 4)
    assert original[a:b] == "c u n t"


def test_control_characters_become_spaces_and_newlines_stay() -> None:
    assert normalize("a\x00b\r\nc").text == "a b \nc"


def test_lone_surrogates_are_dropped() -> None:
    assert normalize("bad\ud800text").text == "badtext"


def test_offsets_have_one_entry_per_character_plus_the_end() -> None:
    original = "Fuuuuck  y0u ѕһіт\u200b"
    n = normalize(original)
    assert len(n.offsets) == len(n.text) + 1
    assert n.offsets[-1] == len(original)
    assert list(n.offsets) == sorted(n.offsets)


def test_stretched_flag_says_whether_letters_collapsed() -> None:
    assert normalize("sooo good").stretched
    assert not normalize("so good!!!").stretched
    assert normalize("sooo good", with_offsets=False).stretched


def test_to_original_covers_split_word() -> None:
    original = "you f . u . c . k off"
    n = normalize(original)
    start = n.text.index("fuck")
    a, b = n.to_original(start, start + 4)
    assert original[a:b] == "f . u . c . k"


def test_to_original_covers_stretched_word() -> None:
    original = "Oh FUUUUCK!"
    n = normalize(original)
    a, b = n.to_original(3, 7)
    assert original[a:b] == "FUUUUCK"


def test_to_original_covers_expanded_character() -> None:
    original = "Straße"
    n = normalize(original)
    assert n.text == "strasse"
    # The second "s" of "ss" alone still maps to the whole "ß".
    assert n.original_span(5, 6) == "ß"


def test_to_original_of_empty_span_is_empty() -> None:
    n = normalize("hello")
    assert n.to_original(2, 2) == (2, 2)


def test_to_original_without_offsets_is_refused() -> None:
    with pytest.raises(ValueError, match="with_offsets=False"):
        normalize("hello", with_offsets=False).to_original(0, 1)


_PIECES = [
    "idiot", "Fuuuck", "s h i t", "m0r0n", "ѕһіт", "f.u.c.k", "h4te", "a$$", "Ｌｏｓｅｒ",
    "fu\u200bck", "b!tch", "n\u0301ice", "Straße", "2020", "the", "!!", "café", "www.x.org",
]  # fmt: skip


def test_property_original_span_holds_the_normalised_letters() -> None:
    rng = random.Random(7)
    for _ in range(300):
        original = " ".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 8)))
        n = normalize(original)
        assert n.text == normalize(original, with_offsets=False).text
        for m in re.finditer(r"[a-z]+", n.text):
            a, b = n.to_original(m.start(), m.end())
            covered = normalize(original[a:b]).text
            # Each normalised letter appears, in order, in the normalised original span.
            it = iter(covered)
            assert all(ch in it for ch in m.group()), (original, m.group(), original[a:b])


@pytest.mark.parametrize(
    "text",
    [
        "Plain ASCII, nothing to undo.",
        "f u c k you",
        "fuuuuuck off",
        "sh!t and 4ss",
        "ｆｕｌｌｗｉｄｔｈ",
        "zero\u200bwidth",
        "İstanbul",
        "bell\x07",
        "",
    ],
)
def test_offsets_added_later_equal_those_of_a_full_normalisation(text):
    full = normalize(text)
    later = with_offsets(normalize(text, with_offsets=False))
    assert later.text == full.text and later.stretched == full.stretched
    assert tuple(later.offsets) == tuple(full.offsets)
    for start in range(len(full.text)):
        assert later.to_original(start, start + 1) == full.to_original(start, start + 1)


def test_offsets_are_kept_when_already_there():
    full = normalize("f u c k")
    assert with_offsets(full) is full
