"""Explanation spans: merged per label and pointing at the ORIGINAL text."""

from __future__ import annotations

from rostra.moderation.explain import explanation_reasons, merge_spans
from rostra.moderation.normalize import normalize


def test_overlapping_and_space_separated_spans_merge_per_label() -> None:
    text = "you stupid  idiot, and a fool"
    spans = [
        ("insult", 4, 10, 0.4),  # stupid
        ("insult", 12, 17, 0.9),  # idiot (two spaces between)
        ("insult", 25, 29, 0.3),  # fool (separated by ", and a ")
        ("toxicity", 4, 10, 0.5),
        ("toxicity", 6, 14, 0.7),  # overlaps the previous one
    ]
    assert merge_spans(spans, text) == [
        ("insult", 4, 17, 0.9),
        ("toxicity", 4, 14, 0.7),
        ("insult", 25, 29, 0.3),
    ]


def test_spans_are_trimmed_clipped_and_empty_ones_dropped() -> None:
    text = "  idiot  "
    assert merge_spans(
        [("insult", 0, 9, 1.0), ("insult", 5, 5, 1.0), ("x", 50, 60, 1.0)], text
    ) == [("insult", 2, 7, 1.0)]


def test_reasons_point_at_the_text_as_written() -> None:
    original = "Ur an 1d10t and a f.u.c.k.i.n.g ЅТUРІD m0r0n"
    n = normalize(original)
    assert n.text == "ur an idiot and a fucking stupid moron"
    spans = [
        ("insult", n.text.index("idiot"), n.text.index("idiot") + 5, 0.9),
        ("obscene", n.text.index("fucking"), n.text.index("fucking") + 7, 0.8),
        ("insult", n.text.index("stupid"), n.text.index("moron") + 5, 0.6),
    ]
    reasons = explanation_reasons(n, spans)
    assert [(r.label, r.text, r.source) for r in reasons] == [
        ("insult", "1d10t", "model"),
        ("obscene", "f.u.c.k.i.n.g", "model"),
        ("insult", "ЅТUРІD m0r0n", "model"),
    ]
    for r in reasons:
        assert original[r.start : r.end] == r.text


def test_adjacent_words_merge_in_original_text() -> None:
    original = "what an IDIOOOOT  MORON"
    n = normalize(original)
    i, m = n.text.index("idiot"), n.text.index("moron")
    reasons = explanation_reasons(n, [("insult", i, i + 5, 0.5), ("insult", m, m + 5, 0.7)])
    assert [(r.text, r.weight) for r in reasons] == [("IDIOOOOT  MORON", 0.7)]


def test_no_spans_no_reasons() -> None:
    assert explanation_reasons(normalize("fine"), []) == []
