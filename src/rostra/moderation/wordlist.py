"""Word lists: banned terms (reject) and suspect terms (hold for review), matched after
normalisation, whole words only, phrases included.

Terms are normalised with the same ``normalize`` as comments and split into tokens (runs of
letters, digits and ``*``), then indexed by their first token: matching a comment costs one
dict lookup per token, whatever the number of terms, and no regular expression built from the
terms can blow up. A ``*`` in a comment ("f*ck", "n***er", "f#ck" after normalisation) is a
wildcard for one letter: such a token matches a listed term of the same length whose other
letters agree, provided the token shows at least as many letters as it hides (suspect terms
also accept up to two hidden letters next to one shown: "a**", "sh**").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources

from rostra.domain.labels import BANNED_TERM, SUSPECT_TERM
from rostra.domain.moderation import Reason
from rostra.moderation.normalize import NormalizedText, normalize

__all__ = ["WordList", "default_wordlist", "load_terms"]

_TOKEN_RE = re.compile(r"(?:[^\W_]|\*)+")
_FAST_TOKEN_RE = re.compile(r"[\w*]+")  # the same tokens when the text has no "_", twice as fast


def _token_re(text: str) -> re.Pattern[str]:
    return _TOKEN_RE if "_" in text else _FAST_TOKEN_RE


Term = tuple[str, ...]


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in _token_re(text).finditer(text)]


def _term_tokens(term: str) -> Term:
    # A listed term never acts as a wildcard itself: its stars are dropped.
    return tuple(
        token
        for token in (
            t.replace("*", "") for t, _, _ in _tokens(normalize(term, with_offsets=False).text)
        )
        if token
    )


_RUN_RE = re.compile(r"(.)\1+")
_STRETCH_RE = re.compile(r"([^\W\d_])\1\1")


def _squeeze(word: str) -> str:
    return _RUN_RE.sub(r"\1", word)


#: Starred tokens whose candidate terms an index remembers (then it starts afresh).
_SHAPE_CACHE_SIZE = 4096


def _wildcard_ok(token: str, strict: bool) -> bool:
    stars = token.count("*")
    letters = len(token) - stars
    if strict:  # banned terms: at least as many letters shown as hidden ("f*ck", "n***er")
        return stars > 0 and letters >= stars
    return stars > 0 and letters >= 1 and stars <= max(2, letters)  # also "a**", "sh**"


def _agrees(pattern: str, word: str) -> bool:
    return len(pattern) == len(word) and all(
        p in ("*", w) for p, w in zip(pattern, word, strict=True)
    )


@dataclass(frozen=True, slots=True)
class _Match:
    label: str
    first: int  # token index
    last: int  # token index, inclusive


class _Index:
    """Terms of one list, keyed by first token (exact) and by first-token shape (wildcards)."""

    def __init__(self, terms: Iterable[str], *, strict: bool) -> None:
        self.strict = strict
        by_first: dict[str, list[Term]] = {}
        by_shape: dict[tuple[int, str], list[Term]] = {}
        count = 0
        for term in terms:
            tokens = _term_tokens(term)
            if not tokens:
                continue
            count += 1
            by_first.setdefault(tokens[0], []).append(tokens)
            # A wildcard token is looked up by length and first character, or by length
            # alone (key "*") when it starts with a star.
            by_shape.setdefault((len(tokens[0]), tokens[0][0]), []).append(tokens)
            by_shape.setdefault((len(tokens[0]), "*"), []).append(tokens)
        # Longest phrase first, so "son of a bitch" wins over "son".
        for bucket in (*by_first.values(), *by_shape.values()):
            bucket.sort(key=len, reverse=True)
        self.by_first = by_first
        self.by_shape = by_shape
        # Single words with a double letter, by their form with every run squeezed to one
        # letter: "asssss" normalises to "as", which must find "ass" (see WordList.find).
        self.by_squeezed = {
            _squeeze(term[0]): term
            for terms in by_first.values()
            for term in terms
            if len(term) == 1 and _squeeze(term[0]) != term[0]
        }
        self.size = count
        self._shape_cache: dict[str, tuple[Term, ...]] = {}

    def match_at(self, tokens: list[str], i: int) -> int:
        """Number of tokens of the longest term starting at ``tokens[i]`` (0 for none)."""
        token = tokens[i]
        for term in self.by_first.get(token, ()):
            if _rest_agrees(term, tokens, i, self.strict):
                return len(term)
        if "*" in token:
            stripped = token.strip("*")
            if stripped != token and stripped:
                for term in self.by_first.get(stripped, ()):
                    if len(term) == 1:
                        return 1  # "*fuck*": emphasis around a listed word
            if _wildcard_ok(token, self.strict):
                for term in self._shaped(token):
                    if _rest_agrees(term, tokens, i, self.strict):
                        return len(term)
        return 0

    def _shaped(self, token: str) -> tuple[Term, ...]:
        """Terms whose first token the wildcard ``token`` agrees with, longest phrase first.

        Remembered per token: Markdown emphasis ("**the", "agenda*") makes the same starred
        tokens come back comment after comment, and each would otherwise be compared with
        every listed word of its length."""
        found = self._shape_cache.get(token)
        if found is None:
            found = tuple(
                term
                for term in self.by_shape.get((len(token), token[0]), ())
                if _agrees(token, term[0])
            )
            if len(self._shape_cache) >= _SHAPE_CACHE_SIZE:
                self._shape_cache.clear()
            self._shape_cache[token] = found
        return found


def _rest_agrees(term: Term, tokens: list[str], i: int, strict: bool) -> bool:
    if i + len(term) > len(tokens):
        return False
    for k in range(1, len(term)):
        token = tokens[i + k]
        if token != term[k] and not (
            "*" in token and _wildcard_ok(token, strict) and _agrees(token, term[k])
        ):
            return False
    return True


class WordList:
    """Banned and suspect terms, compiled once; ``find`` reports matches as reasons."""

    def __init__(self, banned: Iterable[str] = (), suspect: Iterable[str] = ()) -> None:
        self._banned = _Index(banned, strict=True)
        self._suspect = _Index(suspect, strict=False)

    def __len__(self) -> int:
        return self._banned.size + self._suspect.size

    def _matches(self, text: str) -> Iterator[tuple[str, int, int]]:
        """(label, first token start, last token end) in normalised text offsets."""
        words = _token_re(text).findall(text)
        if not words:
            return
        # Most comments hold no listed word: one set intersection settles them.
        maybe_masked = "*" in text
        indexes = [
            (label, index)
            for label, index in ((BANNED_TERM, self._banned), (SUSPECT_TERM, self._suspect))
            if index.size and (maybe_masked or not index.by_first.keys().isdisjoint(words))
        ]
        if not indexes:
            return
        found = _tokens(text)
        for label, index in indexes:
            i = 0
            while i < len(words):
                n = index.match_at(words, i)
                if n:
                    yield label, found[i][1], found[i + n - 1][2]
                    i += n
                else:
                    i += 1

    def _squeezed_candidates(self, text: str) -> list[tuple[str, int, int]]:
        """Words that are a listed word with its double letter squeezed ("as" for "ass")."""
        candidates: list[tuple[str, int, int]] = []
        for label, index in ((BANNED_TERM, self._banned), (SUSPECT_TERM, self._suspect)):
            if index.by_squeezed:
                candidates.extend(
                    (label, start, end)
                    for word, start, end in _tokens(text)
                    if word in index.by_squeezed
                )
        return candidates

    def find(self, normalized: NormalizedText) -> list[Reason]:
        """Every banned and suspect term in the text, with spans of the ORIGINAL text.

        A span both lists match is reported once, as banned.
        """
        matches = list(self._matches(normalized.text))
        candidates = self._squeezed_candidates(normalized.text) if normalized.stretched else []
        if not matches and not candidates:
            return []
        if normalized.offsets is None:
            # The bulk path normalises without offsets; build them only when something matched.
            # The normalised text is the same, so the matches' positions hold.
            normalized = normalize(normalized.original)
        taken = {(start, end) for _, start, end in matches}
        for label, start, end in candidates:
            # "as" stands for "ass" only where the author stretched a letter of it ("asssss").
            a, b = normalized.to_original(start, end)
            if (start, end) not in taken and _STRETCH_RE.search(normalized.original[a:b].lower()):
                matches.append((label, start, end))
                taken.add((start, end))
        reasons: list[Reason] = []
        banned_spans: set[tuple[int, int]] = set()
        for label, start, end in matches:
            a, b = normalized.to_original(start, end)
            if label == BANNED_TERM:
                banned_spans.add((a, b))
            elif (a, b) in banned_spans:
                continue
            reasons.append(Reason(label, a, b, normalized.original[a:b], 1.0, source="wordlist"))
        reasons.sort(key=lambda r: (r.start, r.end, r.label))
        return reasons


def load_terms(lines: Iterable[str]) -> list[str]:
    """Terms from word-list lines: one per line, ``#`` starts a comment, blanks ignored."""
    terms = []
    for line in lines:
        term = line.split("#", 1)[0].strip()
        if term:
            terms.append(term)
    return terms


def _packaged_terms(name: str) -> list[str]:
    path = resources.files("rostra.moderation").joinpath("data", "wordlists", name)
    return load_terms(path.read_text(encoding="utf-8").splitlines())


@functools.cache
def default_terms() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The shipped English (banned, suspect) terms, read once."""
    return tuple(_packaged_terms("banned_en.txt")), tuple(_packaged_terms("suspect_en.txt"))


@functools.cache
def default_wordlist() -> WordList:
    """The shipped English word list: slurs and threats banned, profanity and insults suspect."""
    banned, suspect = default_terms()
    return WordList(banned, suspect)
