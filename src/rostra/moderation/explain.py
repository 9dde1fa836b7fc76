"""Explanation spans: map an explainer's spans back to the original text and merge them.

An ``Explainer`` (``rostra.moderation.scorer``) reports ``(label, start, end, weight)`` over
the NORMALISED text. Moderators must see the words as written, so ``explanation_reasons``
maps each span through ``NormalizedText.to_original``, trims surrounding white space, and
merges, per label, spans that overlap or are separated only by white space (the weight of a
merged span is the largest of its parts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rostra.domain.moderation import Reason
from rostra.moderation.normalize import NormalizedText

__all__ = ["Span", "explanation_reasons", "merge_spans"]

Span = tuple[str, int, int, float]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def merge_spans(spans: Iterable[Span], text: str) -> list[Span]:
    """Merge, per label, spans of ``text`` that overlap, touch or have only white space between.

    Spans are first clipped to the text and trimmed of white space; empty ones are dropped.
    The result is sorted by start, then label.
    """
    by_label: dict[str, list[tuple[int, int, float]]] = {}
    n = len(text)
    for label, start, end, weight in spans:
        start, end = _trim(text, max(0, min(start, n)), max(0, min(end, n)))
        if start < end:
            by_label.setdefault(label, []).append((start, end, float(weight)))
    merged: list[Span] = []
    for label, items in by_label.items():
        items.sort()
        cur_start, cur_end, cur_weight = items[0]
        for start, end, weight in items[1:]:
            if start <= cur_end or text[cur_end:start].isspace():
                cur_end = max(cur_end, end)
                cur_weight = max(cur_weight, weight)
            else:
                merged.append((label, cur_start, cur_end, cur_weight))
                cur_start, cur_end, cur_weight = start, end, weight
        merged.append((label, cur_start, cur_end, cur_weight))
    merged.sort(key=lambda s: (s[1], s[0]))
    return merged


def explanation_reasons(
    normalized: NormalizedText, spans: Sequence[Span], *, source: str = "model"
) -> list[Reason]:
    """Reasons over the ORIGINAL text for spans over ``normalized.text``."""
    if not spans:
        return []
    original = normalized.original
    mapped = []
    for label, start, end, weight in spans:
        a, b = normalized.to_original(start, end)
        mapped.append((label, a, b, weight))
    return [
        Reason(label, a, b, original[a:b], weight, source=source)
        for label, a, b, weight in merge_spans(mapped, original)
    ]
