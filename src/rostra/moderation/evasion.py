"""Deterministic perturbations that imitate how people dodge filters; for tests and evaluation.

``perturb(text, rng, kinds=KINDS, *, word_rate=0.5) -> str``

* ``text``: the comment to obfuscate;
* ``rng``: a ``random.Random`` (seed it: same seed, same output);
* ``kinds``: which perturbations may be used, from ``KINDS``; each chosen word gets one kind,
  picked at random among those that can change it;
* ``word_rate``: the share of words (of three letters or more) that are perturbed.

Kinds: ``leet`` (a→4/@, e→3, o→0, s→$/5, i→1/!, t→7), ``spacing`` ("f u c k"), ``dots``
("f.u.c.k"), ``dashes`` ("f-u-c-k"), ``homoglyph`` (Cyrillic and Greek look-alikes),
``zero_width`` (invisible characters between letters), ``masking`` ("f*ck", "sh#t"),
``stretch`` ("fuuuuck"), ``mixed_case`` ("FuCk").

Every kind but ``masking`` is undone by ``rostra.moderation.normalize`` for ordinary words;
masking hides a letter for good (the word lists treat ``*`` as a wildcard).

Example::

    rng = random.Random(42)
    perturb("you are an idiot", rng, kinds=("leet", "spacing"), word_rate=1.0)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

__all__ = ["KINDS", "perturb", "perturb_word"]

KINDS: tuple[str, ...] = (
    "leet",
    "spacing",
    "dots",
    "dashes",
    "homoglyph",
    "zero_width",
    "masking",
    "stretch",
    "mixed_case",
)

_LEET = {"a": "4@", "e": "3", "o": "0", "s": "$5", "i": "1!", "t": "7"}
_HOMOGLYPHS = {
    "a": "аα", "c": "сϲ", "e": "еε", "h": "һ", "i": "іι", "j": "ј", "k": "кκ", "o": "оο",
    "p": "рρ", "s": "ѕ", "x": "хχ", "y": "у", "b": "в", "m": "м", "t": "т", "n": "η",
}  # fmt: skip
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\u00ad")
_MASKS = "*#%"
_WORD_RE = re.compile(r"[A-Za-z]{3,}")


def _leet(word: str, rng: random.Random) -> str | None:
    spots = [i for i, c in enumerate(word) if c.lower() in _LEET]
    # Keep a letter: a token of digits only ("455") reads as a number and is left alone.
    if not spots or len(spots) == len(word):
        spots = spots[:-1] if spots else spots
    if not spots:
        return None
    chosen = [i for i in spots if rng.random() < 0.5] or [rng.choice(spots)]
    chars = list(word)
    for i in chosen:
        options = _LEET[word[i].lower()]
        # "!" and "@" are punctuation or a mention at the edge of a word: use them inside only.
        if i in (0, len(word) - 1):
            options = options.replace("!", "").replace("@", "")
        chars[i] = rng.choice(options)
    return "".join(chars)


def _joined(separator: str) -> Callable[[str, random.Random], str | None]:
    def join(word: str, rng: random.Random) -> str | None:
        return separator.join(word)

    return join


def _homoglyph(word: str, rng: random.Random) -> str | None:
    spots = [i for i, c in enumerate(word) if c.lower() in _HOMOGLYPHS]
    if not spots:
        return None
    chosen = [i for i in spots if rng.random() < 0.5] or [rng.choice(spots)]
    chars = list(word)
    for i in chosen:
        chars[i] = rng.choice(_HOMOGLYPHS[word[i].lower()])
    return "".join(chars)


def _zero_width(word: str, rng: random.Random) -> str | None:
    gaps = rng.sample(range(1, len(word)), k=rng.randint(1, min(3, len(word) - 1)))
    chars = list(word)
    for gap in sorted(gaps, reverse=True):
        chars.insert(gap, rng.choice(_ZERO_WIDTH))
    return "".join(chars)


def _masking(word: str, rng: random.Random) -> str | None:
    inner = range(1, len(word) - 1)
    vowels = [i for i in inner if word[i].lower() in "aeiou"]
    i = rng.choice(vowels or list(inner))
    return word[:i] + rng.choice(_MASKS) + word[i + 1 :]


def _stretch(word: str, rng: random.Random) -> str | None:
    # A letter already doubled ("ss" in "ass") would collapse to one: stretch another.
    spots = [
        i
        for i, c in enumerate(word)
        if (i == 0 or word[i - 1].lower() != c.lower())
        and (i == len(word) - 1 or word[i + 1].lower() != c.lower())
        and c.lower() != "w"
    ]
    if not spots:
        return None
    vowels = [i for i in spots if word[i].lower() in "aeiou"]
    i = rng.choice(vowels or spots)
    return word[: i + 1] + word[i] * rng.randint(2, 6) + word[i + 1 :]


def _mixed_case(word: str, rng: random.Random) -> str | None:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in word)


_PERTURBERS: dict[str, Callable[[str, random.Random], str | None]] = {
    "leet": _leet,
    "spacing": _joined(" "),
    "dots": _joined("."),
    "dashes": _joined("-"),
    "homoglyph": _homoglyph,
    "zero_width": _zero_width,
    "masking": _masking,
    "stretch": _stretch,
    "mixed_case": _mixed_case,
}


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in _PERTURBERS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty selection of {', '.join(KINDS)}")
    return kinds


def perturb_word(word: str, rng: random.Random, kinds: Sequence[str] = KINDS) -> str:
    """One perturbation of ``word`` (three letters or more), of a kind drawn from ``kinds``."""
    order = list(_check_kinds(kinds))
    rng.shuffle(order)
    for kind in order:
        changed = _PERTURBERS[kind](word, rng)
        if changed is not None and changed != word:
            return changed
    return word


def perturb(
    text: str,
    rng: random.Random,
    kinds: Sequence[str] = KINDS,
    *,
    word_rate: float = 0.5,
) -> str:
    """Obfuscate ``text``: each word of 3+ letters is perturbed with probability ``word_rate``."""
    kinds = _check_kinds(kinds)
    if not 0.0 <= word_rate <= 1.0:
        raise ValueError("word_rate must be between 0 and 1")

    def replace(m: re.Match[str]) -> str:
        if rng.random() >= word_rate:
            return m.group()
        return perturb_word(m.group(), rng, kinds)

    return _WORD_RE.sub(replace, text)
