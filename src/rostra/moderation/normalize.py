"""Text normalisation that undoes common evasion, with a map back to the original offsets.

Stages, in order (each keeps the offset map when asked to):

1. per character: compatibility decomposition (NFKD, so fullwidth, mathematical and circled
   letters become plain ones), combining marks, zero-width and other format characters
   dropped, case folding, Cyrillic/Greek look-alikes mapped to Latin, control characters to
   a space;
2. letters split by spaces, dots, dashes or underscores ("f u c k", "f.u.c.k") are joined
   when at least three single characters, two of them letters, stand in a row; a leading
   "a" or "i" stays a word when only the rest is a known word ("a c u n t" → "a cunt");
3. inside words that contain a letter, leetspeak digits and symbols become letters
   (4→a, 3→e, 0→o, $→s, @→a, 1→i, 5→s, 7→t, and "!" between letters → i) and masking
   symbols between letters (``# % ^ ~ ?``) become ``*``, the wildcard the word lists match;
   numbers ("2020", "100 people", "3rd", "$5bn") are left alone;
4. runs of three or more identical letters collapse to one ("fuuuuck" → "fuck"); doubles
   ("good", "all") stay.

Stages 3 and the ASCII case of stage 1 are one-to-one, so they cost nothing for offsets.
``normalize(text, with_offsets=False)`` skips the map entirely: it is the bulk path used by
training and the fast tier.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

__all__ = ["NormalizedText", "known_words", "normalize", "with_offsets"]


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A normalised text and, optionally, where each of its characters came from.

    ``offsets[i]`` is the index in ``original`` of normalised character ``i``; the list has
    ``len(text) + 1`` entries and the last one is ``len(original)``. It is ``None`` when
    ``normalize`` ran with ``with_offsets=False``.
    """

    text: str
    offsets: Sequence[int] | None
    original: str = ""
    #: True when stage 4 collapsed a run of letters: the word lists then also look for words
    #: whose double letter was stretched ("asssss" became "as").
    stretched: bool = False

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalised span ``[start, end)`` to the original span that covers it.

        Characters dropped between two kept ones (separators of split letters, the tail of a
        stretched run, zero-width characters, combining marks) fall inside the returned span.
        """
        if self.offsets is None:
            raise ValueError("this text was normalised with with_offsets=False")
        n = len(self.text)
        start = min(max(start, 0), n)
        end = min(max(end, start), n)
        if start == end:
            pos = self.offsets[start]
            return pos, pos
        orig_start = self.offsets[start]
        orig_end = self.offsets[end]
        last = self.offsets[end - 1]
        if orig_end <= last:
            # ``end`` cuts through one original character that expanded to several ("ß" → "ss").
            orig_end = last + 1
        return orig_start, orig_end

    def original_span(self, start: int, end: int) -> str:
        """The original text under the normalised span ``[start, end)``."""
        a, b = self.to_original(start, end)
        return self.original[a:b]


# --- stage 1: characters -------------------------------------------------------------------

# Look-alikes that NFKD and case folding leave alone. Keys are lower case (we fold first).
_HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "б": "b", "в": "b", "г": "r", "е": "e", "ё": "e", "и": "u", "й": "u",
    "к": "k", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ш": "w", "ь": "b", "ъ": "b", "э": "e",
    "є": "e", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "ӏ": "l", "ү": "y", "ң": "h", "ҝ": "k", "ҡ": "k", "ɡ": "g",
    # Greek
    "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "θ": "o",
    "ι": "i", "κ": "k", "λ": "l", "μ": "u", "ν": "v", "ξ": "e", "ο": "o", "π": "n",
    "ρ": "p", "σ": "o", "ς": "s", "τ": "t", "υ": "u", "φ": "f", "χ": "x", "ψ": "w",
    "ω": "w", "ϲ": "c", "ϳ": "j",
    # Latin, Armenian and other look-alikes outside the basic alphabet
    "ı": "i", "ȷ": "j", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ƅ": "b",
    "ɑ": "a", "ɩ": "i", "ɪ": "i", "ʀ": "r", "ʏ": "y", "ᴀ": "a", "ʙ": "b", "ᴄ": "c",
    "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m",
    "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ǫ": "q", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v",
    "ᴡ": "w", "ᴢ": "z", "օ": "o", "ս": "u", "ց": "g", "æ": "ae", "œ": "oe",
    "ß": "ss", "þ": "th", "ð": "d",
}  # fmt: skip

# Whitespace and format characters NFKD does not turn into a plain space.
_SPACES = frozenset("\t\n\r\x0b\x0c\x85\u2028\u2029")


def _map_char(c: str) -> str:
    category = unicodedata.category(c)
    if category in ("Mn", "Me", "Cf", "Cs"):  # combining marks, zero-width/bidi, lone surrogates
        return ""
    if category == "Cc":
        return "\n" if c == "\n" else " "
    if c in _SPACES:
        return " "
    if c.isascii():
        return c.lower()
    # Look-alikes first: some decompose into other letters ("ϲ", lunate sigma, into "ς").
    direct = _HOMOGLYPHS.get(c) or _HOMOGLYPHS.get(c.lower())
    if direct is not None:
        return direct
    decomposed = unicodedata.normalize("NFKD", c)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = unicodedata.normalize("NFKC", kept).casefold()
    out = "".join(_HOMOGLYPHS.get(ch, ch) for ch in folded)
    # Compatibility forms such as "⑴" decompose to several characters; keep them, but drop
    # anything the decomposition turned into format characters.
    return "".join(ch for ch in out if unicodedata.category(ch) not in ("Mn", "Me", "Cf"))


class _CharTable(dict[int, str]):
    """A ``str.translate`` table filled on first use of each code point."""

    def __missing__(self, key: int) -> str:
        value = _map_char(chr(key))
        self[key] = value
        return value


_CHAR_TABLE = _CharTable()
_ASCII_TABLE = {i: _map_char(chr(i)) for i in range(128)}
_CHAR_TABLE.update(_ASCII_TABLE)


def _map_chars(text: str, offsets: list[int] | None) -> tuple[str, list[int] | None]:
    if text.isascii():
        # One-to-one: offsets stay the identity.
        return text.translate(_ASCII_TABLE), offsets
    if offsets is None:
        return text.translate(_CHAR_TABLE), None
    table = _CHAR_TABLE
    pieces: list[str] = []
    new_offsets: list[int] = []
    for i, c in enumerate(text):
        mapped = table[ord(c)]
        if mapped:
            pieces.append(mapped)
            new_offsets.extend([offsets[i]] * len(mapped))
    new_offsets.append(offsets[-1])
    return "".join(pieces), new_offsets


# --- generic offset-keeping substitution ------------------------------------------------------

# A rewrite gets the match and returns the replacement plus, for each replacement character,
# its position relative to match.start(); or None to keep the match unchanged.
_Rewrite = Callable[["re.Match[str]"], "tuple[str, list[int]] | None"]


def _sub(
    pattern: re.Pattern[str], rewrite: _Rewrite, text: str, offsets: list[int] | None
) -> tuple[str, list[int] | None]:
    if offsets is None:

        def replace(m: re.Match[str]) -> str:
            result = rewrite(m)
            return m.group() if result is None else result[0]

        return pattern.sub(replace, text), None
    pieces: list[str] = []
    new_offsets: list[int] = []
    pos = 0
    for m in pattern.finditer(text):
        result = rewrite(m)
        if result is None:
            continue
        replacement, rel = result
        s = m.start()
        pieces.append(text[pos:s])
        new_offsets.extend(offsets[pos:s])
        pieces.append(replacement)
        new_offsets.extend(offsets[s + r] for r in rel)
        pos = m.end()
    if pos == 0:
        return text, offsets
    pieces.append(text[pos:])
    new_offsets.extend(offsets[pos:])  # includes the final len(original) entry
    return "".join(pieces), new_offsets


# --- stage 2: split letters -------------------------------------------------------------------

_ITEM = r"(?:[^\W_]|[$@*])"
_SEP = r"[ \t.\-_·•]{1,3}"
# One separator throughout a run, so "a s-t-u-p-i-d" joins only the dashed part.
_SPLIT_RE = re.compile(
    rf"(?<![^\W_])(?<![$@*]){_ITEM}(?P<sep>{_SEP}){_ITEM}(?!{_ITEM})(?:(?P=sep){_ITEM}(?!{_ITEM}))+"
)
# Cheap pre-check (a separator first lets the regex engine skip ahead): two single characters
# in a row after a separator, which any run of three or more contains.
_SPLIT_HINT_RE = re.compile(rf"[ \t.\-_·•]{_ITEM}{_SEP}{_ITEM}(?!{_ITEM})")
_LETTER_RE = re.compile(r"[^\W\d_]")


# English words of one letter. Before letters split by spaces they may be a word of their own
# ("you are a c u n t", "i h a t e") or the split word's first letter ("a s s", "i d i o t").
_ONE_LETTER_WORDS = frozenset("ai")
#: Insults that people spell out and the WordPiece vocabulary lacks (it has "idiot" and "jerk").
_INSULTS = frozenset(
    {
        "moron", "imbecile", "cretin", "scum", "scumbag", "bigot", "hypocrite", "shill", "dolt",
        "dimwit", "halfwit", "nitwit", "twit", "numpty", "muppet", "git", "arse", "cuck",
        "libtard", "snowflake", "vermin", "filth",
    }
)  # fmt: skip


def _join_split(m: re.Match[str]) -> tuple[str, list[int]] | None:
    matched = m.group()
    sep = m.group("sep")
    step = len(sep) + 1  # one separator throughout: items sit at fixed steps
    joined = matched[::step]
    if len(_LETTER_RE.findall(joined)) < 2:
        return None  # "1 2 3", "5 - 4 - 3" stay numbers
    rel = list(range(0, len(matched), step))
    if joined[0] in _ONE_LETTER_WORDS and sep.isspace() and _word_then_split(joined):
        # "a c u n t" is "a cunt": the space after the first letter stays (at rel 1).
        return f"{joined[0]} {joined[1:]}", [0, 1, *rel[1:]]
    return joined, rel


def _word_then_split(joined: str) -> bool:
    """Whether a run that starts with "a" or "i" reads as that word and then a split word.

    Only when the rest is a known word and the whole run is not: "a c u n t" is "a cunt", but
    "a s s", "i d i o t s" and "a m a z i n g" stay whole, and a run that neither reading
    explains stays joined as well.
    """
    return not _known(_canonical(joined)) and _known(_canonical(joined[1:]))


def _canonical(word: str) -> str:
    """A joined run as the later stages will write it (leetspeak decoded, stretches undone)."""
    return _sub(_STRETCH_RE, _collapse, _decode_run(word), None)[0]


def _known(word: str) -> bool:
    vocabulary = known_words()
    return (
        word in vocabulary
        or (word.endswith("s") and word[:-1] in vocabulary)
        or (word.endswith("es") and word[:-2] in vocabulary)
    )


@lru_cache(maxsize=1)
def known_words() -> frozenset[str]:
    """Known English words: the shipped WordPiece vocabulary's whole words, the insults above
    and the default word lists' single-word terms. Read once: ``ModerationEngine.load`` reads
    them, so that scoring never touches the disk; elsewhere, when a run first needs them."""
    from rostra.moderation.wordlist import default_terms  # it imports this module

    package = resources.files("rostra.moderation")
    tokenizer = package.joinpath("models", "accurate", "tokenizer.json").read_text(encoding="utf-8")
    vocab = json.loads(tokenizer)["model"]["vocab"]
    words = {t for t in vocab if t.isascii() and t.isalpha()} | _INSULTS
    banned, suspect = default_terms()
    words.update(t.lower() for t in (*banned, *suspect) if t.isalpha())
    return frozenset(words)


# --- stage 3: leetspeak and masks (one-to-one) ------------------------------------------------

_LEET = {"4": "a", "3": "e", "0": "o", "$": "s", "@": "a", "1": "i", "5": "s", "7": "t"}
_WORDISH = r"(?:[^\W_]|[$@!*#%^~?])"
_SPECIAL_RE = re.compile(r"[\d$@!*#%^~?]")
_TOKEN_TAIL_RE = re.compile(rf"{_WORDISH}*")
_SYMBOLS = frozenset("$@!*#%^~?")
# Numbers with a unit or ordinal suffix are not leetspeak.
_NUMBER_RE = re.compile(
    r"[$£€#]?\d+(?:st|nd|rd|th|s|am|pm|k|m|b|bn|x|d|p|g|gb|mb|kb|tb|kg|km|cm|mm|ml|mph|kph|hz"
    r"|ghz|mhz|fps|yo|h|hr|hrs|min|mins|sec|secs|ft|lb|lbs|in|yr|yrs|v|w|kw|kwh|mp|c|f)?[!?]*"
)
_NOT_LEET_DIGIT_RE = re.compile(r"([2689])")
_EDGE_SYMBOLS = "!*#%^~?"
_DECODE_TABLE = str.maketrans({**_LEET, "!": "i", **{m: "*" for m in "#%^~?"}})


def _decode_run(run: str) -> str:
    return run.translate(_DECODE_TABLE) if _LETTER_RE.search(run) else run


def _decode_token(token: str) -> str:
    if not _LETTER_RE.search(token) or _NUMBER_RE.fullmatch(token):
        return token
    # Only the core of the token, from its first to its last letter, digit, "$" or "@", is
    # decoded: edge punctuation ("wow!!", "#tag", "why?!", "a**") stays as written.
    first = len(token) - len(token.lstrip(_EDGE_SYMBOLS))
    end = len(token.rstrip(_EDGE_SYMBOLS))
    core = token[first:end]
    lead = ""
    if first == 0 and core.startswith("@"):  # "@name" is a mention
        lead, core = "@", core[1:]
    if _NOT_LEET_DIGIT_RE.search(core) is None:
        decoded = _decode_run(core)
    else:
        # Runs separated by a digit that is never leet ("covid19" keeps its 9) are decoded
        # only when they themselves hold a letter.
        decoded = "".join(_decode_run(part) for part in _NOT_LEET_DIGIT_RE.split(core))
    return token[:first] + lead + decoded + token[end:]


def _decode_leet(text: str) -> str:
    """Decode every token that holds a digit or symbol (one-to-one, so offsets stay)."""
    pieces: list[str] = []
    pos = 0
    for m in _SPECIAL_RE.finditer(text):
        p = m.start()
        if p < pos:
            continue  # inside the token just decoded
        start = p
        while start > pos and (text[start - 1].isalnum() or text[start - 1] in _SYMBOLS):
            start -= 1
        tail = _TOKEN_TAIL_RE.match(text, p)
        end = tail.end() if tail is not None else p + 1
        token = text[start:end]
        decoded = _decode_token(token)
        if decoded != token:
            pieces.append(text[pos:start])
            pieces.append(decoded)
            pos = end
        else:
            pieces.append(text[pos:end])
            pos = end
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


# --- stage 4: stretched letters ---------------------------------------------------------------

# "www" stays: it is the start of a host name far more often than a stretched w.
_STRETCH_RE = re.compile(r"(.)\1{2,}")
_STRETCH_HINT_RE = re.compile(r"(.)\1\1")


def _collapse(m: re.Match[str]) -> tuple[str, list[int]] | None:
    c = m.group(1)
    if c == "w" or not c.isalpha():
        return None  # digits ("1000"), punctuation ("!!!") and "www" stay
    return c, [0]


# --- entry point ------------------------------------------------------------------------------


def normalize(text: str, *, with_offsets: bool = True) -> NormalizedText:
    """Normalise ``text`` for matching and scoring; see the module docstring for the stages."""
    offsets: list[int] | None = list(range(len(text) + 1)) if with_offsets else None
    out, offsets = _map_chars(text, offsets)
    if _SPLIT_HINT_RE.search(out) is not None:
        out, offsets = _sub(_SPLIT_RE, _join_split, out, offsets)
    out = _decode_leet(out)
    stretched = False
    if _STRETCH_HINT_RE.search(out) is not None:
        before = len(out)
        out, offsets = _sub(_STRETCH_RE, _collapse, out, offsets)
        stretched = len(out) != before
    return NormalizedText(out, tuple(offsets) if offsets is not None else None, text, stretched)


def with_offsets(normalized: NormalizedText) -> NormalizedText:
    """``normalized`` (from ``normalize(..., with_offsets=False)``) with its offset map.

    An ASCII text whose length did not change maps one to one (on ASCII every stage either
    keeps the length character by character or shortens the text), so its map is the
    identity and costs nothing; any other text is normalised again with the map.
    """
    if normalized.offsets is not None:
        return normalized
    original = normalized.original
    if original.isascii() and len(normalized.text) == len(original):
        return replace(normalized, offsets=range(len(original) + 1))
    return normalize(original)
