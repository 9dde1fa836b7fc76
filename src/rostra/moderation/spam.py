"""Spam signals from a comment and what the caller knows about its author; pure functions.

``spam_signals`` measures; ``spam_score`` combines the measurements into one number in [0, 1]
(the policy compares it with ``spam_review`` / ``spam_reject``); ``link_reasons`` points at
each link so a moderator sees the domains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rostra.domain.labels import SPAM
from rostra.domain.moderation import AuthorContext, Reason

__all__ = ["link_domains", "link_reasons", "spam_score", "spam_signals"]

# Scheme or "www." links, and bare host names under common (and commonly abused) TLDs.
_TLDS = (
    r"com|net|org|info|biz|io|co|uk|de|ru|cn|xyz|top|online|site|club|shop|store|app|ly|me"
    r"|tk|ml|ga|cf|gq|link|click|live|news|tv|us|ca|au|in"
)
_LINK_RE = re.compile(
    r"(?:\bhttps?://|\bwww\.)[^\s<>\"'()\[\]]+"
    r"|\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    rf"(?:{_TLDS})\b(?:/[^\s<>\"'()\[\]]*)?",
    re.IGNORECASE,
)
# Cheap test first: most comments have no link, and the full pattern is slow to fail.
_LINK_HINT_RE = re.compile(rf"://|www\.|\.(?:{_TLDS})\b", re.IGNORECASE)
_HOST_RE = re.compile(r"^(?:https?://)?(?:[^@/\s]*@)?([^/:?#\s]+)", re.IGNORECASE)
_WORD_RE = re.compile(r"\w+")
# Upper-case Latin (with accents), Greek and Cyrillic: the scripts shouting shows up in.
_UPPER_RE = re.compile(r"[A-ZÀ-ÖØ-ÞΑ-ΩА-Я]")
_RUN_RE = re.compile(r"(.)\1{3,}", re.DOTALL)

SHINGLE = 5  # characters per shingle for near-duplicate detection
MAX_RECENT = 100  # recent texts compared, newest first
MIN_LETTERS_FOR_CAPS = 12
MIN_WORDS_FOR_REPEATS = 6


def _links(text: str) -> list[re.Match[str]]:
    if _LINK_HINT_RE.search(text) is None:
        return []
    return [m for m in _LINK_RE.finditer(text) if "." in m.group()]


def _host(link: str) -> str:
    m = _HOST_RE.match(link.rstrip(".,;:!?"))
    host = m.group(1).lower() if m else link.lower()
    return host.removeprefix("www.")


def link_domains(text: str) -> list[str]:
    """Host names linked from ``text``, in order, without repeats."""
    return list(dict.fromkeys(_host(m.group()) for m in _links(text)))


def link_reasons(text: str) -> list[Reason]:
    """One ``spam`` reason per link, spanning the link; its text is the link as written."""
    reasons = []
    for m in _links(text):
        link = m.group().rstrip(".,;:!?")
        reasons.append(Reason(SPAM, m.start(), m.start() + len(link), link, 1.0, source="spam"))
    return reasons


def _shingles(text: str) -> set[str]:
    squeezed = " ".join(text.lower().split())
    if len(squeezed) <= SHINGLE:
        return {squeezed} if squeezed else set()
    return {squeezed[i : i + SHINGLE] for i in range(len(squeezed) - SHINGLE + 1)}


def near_duplicate(text: str, recent: Sequence[str]) -> float:
    """Highest Jaccard similarity of character shingles between ``text`` and a recent text.

    Exact Jaccard: an author's recent comments are few, so MinHash would buy nothing.
    """
    if not recent:
        return 0.0
    mine = _shingles(text)
    if not mine:
        return 0.0
    best = 0.0
    for i, other in enumerate(recent):
        if i >= MAX_RECENT:
            break
        theirs = _shingles(other)
        if not theirs:
            continue
        union = len(mine | theirs)
        best = max(best, len(mine & theirs) / union)
        if best == 1.0:
            break
    return best


def spam_signals(text: str, ctx: AuthorContext | None = None) -> dict[str, float]:
    """Measurements of ``text`` that spam tends to show; all floats, ratios in [0, 1].

    ``link_count``; ``caps_ratio`` (upper-case share of word characters, 0 under 12);
    ``repeated_chars`` (share of characters in runs of 4 or more); ``repeated_words`` (share of
    words that repeat an earlier one, 0 under 6 words); ``near_duplicate`` (see above);
    ``rate`` (the author's comments in the last hour); ``new_author`` (1 with no approved
    comment yet).
    """
    ctx = ctx or AuthorContext()
    words = _WORD_RE.findall(text)
    letters = sum(map(len, words))  # word characters: letters, with the odd digit
    caps = len(_UPPER_RE.findall(text)) / letters if letters >= MIN_LETTERS_FOR_CAPS else 0.0
    runs = sum(len(m.group()) for m in _RUN_RE.finditer(text) if not m.group(1).isspace())
    repeated_words = (
        1.0 - len(set(map(str.lower, words))) / len(words)
        if len(words) >= MIN_WORDS_FOR_REPEATS
        else 0.0
    )
    return {
        "link_count": float(len(_links(text))),
        "caps_ratio": caps,
        "repeated_chars": runs / len(text) if text else 0.0,
        "repeated_words": repeated_words,
        "near_duplicate": near_duplicate(text, ctx.recent_texts),
        "rate": float(max(ctx.comments_last_hour, 0)),
        "new_author": 1.0 if ctx.approved_count <= 0 else 0.0,
    }


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def spam_score(signals: dict[str, float]) -> float:
    """Combine signals into one spam probability-like score in [0, 1].

    Each signal gives an evidence strength p_i; they combine as a noisy OR,
    ``score = 1 - prod(1 - p_i)``, so independent hints add up but none reaches 1 alone:

    * links:     p = 1 - 0.7**n for a new author, 1 - 0.85**n otherwise
                 (new author: one link 0.30, two 0.51, three 0.66);
    * shouting:  p = 0.6 * clamp((caps_ratio - 0.5) / 0.5)       (all capitals: 0.6);
    * repeated characters: p = 0.6 * clamp(2 * repeated_chars);
    * repeated words:      p = 0.7 * clamp((repeated_words - 0.5) / 0.5);
    * near duplicate:      p = 0.85 * clamp((near_duplicate - 0.5) / 0.4)
                 (a copy of a recent comment: 0.85, review; with a link: reject);
    * rate:      p = 0.8 * clamp((rate - 10) / 20)                (30 an hour: 0.8).
    """
    links = signals.get("link_count", 0.0)
    base = 0.7 if signals.get("new_author", 1.0) >= 0.5 else 0.85
    evidence = (
        1.0 - base**links,
        0.6 * _clamp((signals.get("caps_ratio", 0.0) - 0.5) / 0.5),
        0.6 * _clamp(2.0 * signals.get("repeated_chars", 0.0)),
        0.7 * _clamp((signals.get("repeated_words", 0.0) - 0.5) / 0.5),
        0.85 * _clamp((signals.get("near_duplicate", 0.0) - 0.5) / 0.4),
        0.8 * _clamp((signals.get("rate", 0.0) - 10.0) / 20.0),
    )
    keep = 1.0
    for p in evidence:
        keep *= 1.0 - p
    return _clamp(1.0 - keep)
