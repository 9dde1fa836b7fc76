"""The comment's own words with the spans that triggered a label marked and named.

Built from the plain body and the engine's reasons (offsets into the ORIGINAL text). Every
piece of the body is escaped; only the ``<mark>`` wrappers are markup. Overlapping spans are
merged into one mark that names every label involved; a reason whose offsets do not fit the
body (an edit since scoring, a bad record) is left out rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    label: str
    weight: float
    source: str


def spans(body: str, reasons: Iterable[Mapping[str, Any]]) -> list[Span]:
    """The reasons that point at text of ``body``, in order of their start."""
    found = []
    for reason in reasons:
        try:
            start, end = int(reason["start"]), int(reason["end"])
            label = str(reason["label"])
            weight = float(reason.get("weight", 0.0))
        except (KeyError, TypeError, ValueError):
            continue
        if not 0 <= start < end <= len(body):
            continue
        text = reason.get("text")
        if isinstance(text, str) and text and body[start:end] != text:
            continue
        found.append(Span(start, end, label, weight, str(reason.get("source", "model"))))
    return sorted(found, key=lambda s: (s.start, -s.end))


def _groups(found: list[Span]) -> list[tuple[int, int, list[Span]]]:
    groups: list[tuple[int, int, list[Span]]] = []
    for span in found:
        if groups and span.start < groups[-1][1]:
            start, end, members = groups[-1]
            groups[-1] = (start, max(end, span.end), [*members, span])
        else:
            groups.append((span.start, span.end, [span]))
    return groups


def highlight(body: str, reasons: Iterable[Mapping[str, Any]],
              name: Callable[[str], str] = str) -> Markup:
    """``body`` as escaped HTML with each triggering span in a labelled ``<mark>``."""
    out: list[str] = []
    position = 0
    for start, end, members in _groups(spans(body, reasons)):
        out.append(str(escape(body[position:start])))
        labels = list(dict.fromkeys(m.label for m in members))
        strongest = max(members, key=lambda m: m.weight)
        kind = "hl-term" if strongest.source == "wordlist" else "hl-model"
        title = "; ".join(
            f"{name(m.label)} {m.weight:.2f}" if m.weight else name(m.label) for m in members
        )
        tags = "".join(f'<span class="hl-tag">{escape(name(label))}</span>' for label in labels)
        out.append(
            f'<mark class="hl {kind}" title="{escape(title)}">'
            f"{escape(body[start:end])}"
            f'<span class="visually-hidden"> (flagged: </span>{tags}'
            f'<span class="visually-hidden">)</span></mark>'
        )
        position = end
    out.append(str(escape(body[position:])))
    return Markup("".join(out))
