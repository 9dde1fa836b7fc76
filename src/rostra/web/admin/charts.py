"""Small charts drawn on the server as inline SVG: no script, no external request.

Colours come from classes in workspace.css; every chart has a <title> and the pages show the
same numbers in a table for screen readers and copy-paste. All text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 180
PAD_LEFT = 40
PAD_BOTTOM = 22


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def score_bar(label: str, score: float, review: float | None, reject: float | None) -> Markup:
    """A 0..1 bar with ticks at the review and reject thresholds."""
    score = min(max(score, 0.0), 1.0)
    level = ("bar-reject" if reject is not None and score >= reject
             else "bar-review" if review is not None and score >= review else "bar-ok")
    text = f"{label}: {score:.2f}"
    if review is not None and reject is not None:
        text += f" (held at {review:.2f}, rejected at {reject:.2f})"
    ticks = "".join(
        f'<line class="bar-tick" x1="{_fmt(v * 100)}" x2="{_fmt(v * 100)}" y1="0" y2="8"/>'
        for v in (review, reject) if v is not None
    )
    return Markup(
        f'<svg class="scorebar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(text)}"><title>{escape(text)}</title>'
        f'<rect class="bar-bg" width="100" height="8"/>'
        f'<rect class="{level}" width="{_fmt(score * 100)}" height="8"/>{ticks}</svg>'
    )


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    css: str
    values: Sequence[float]


@dataclass(frozen=True, slots=True)
class Line:
    """A series of a line chart: None where it has no point."""

    name: str
    css: str
    values: Sequence[float | None]


def _axis(top: float, unit: str) -> str:
    plot_h = HEIGHT - PAD_BOTTOM
    lines = []
    for fraction in (0.0, 0.5, 1.0):
        y = plot_h - fraction * (plot_h - 8)
        lines.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="axis" x="{PAD_LEFT - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{escape(_fmt(top * fraction))}{escape(unit)}</text>')
    return "".join(lines)


def _x_labels(labels: Sequence[str], step: float) -> str:
    every = max(1, len(labels) // 8)
    return "".join(
        f'<text class="axis" x="{PAD_LEFT + step * i + step / 2:.1f}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">{escape(label)}</text>'
        for i, label in enumerate(labels) if i % every == 0
    )


def stacked_columns(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """One column per label (a day), the series stacked; a legend underneath."""
    if not labels:
        return Markup('<p class="empty">No comments in this period.</p>')
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = max(max(totals), 1.0)
    plot_h = HEIGHT - PAD_BOTTOM - 8
    step = (WIDTH - PAD_LEFT) / len(labels)
    bar_w = max(2.0, step * 0.7)
    parts = [_axis(top, "")]
    for i, _ in enumerate(labels):
        y = float(HEIGHT - PAD_BOTTOM)
        for s in series:
            h = s.values[i] / top * plot_h
            if h <= 0:
                continue
            y -= h
            parts.append(
                f'<rect class="{s.css}" x="{PAD_LEFT + step * i + (step - bar_w) / 2:.1f}" '
                f'y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                f"<title>{escape(labels[i])}: {escape(s.name)} {_fmt(s.values[i])}</title></rect>"
            )
    parts.append(_x_labels(labels, step))
    return _figure(title, "".join(parts), series)


def line(title: str, labels: Sequence[str], values: Sequence[float | None], unit: str,
         css: str = "line-main") -> Markup:
    """A line over labels; gaps where a value is None."""
    return lines(title, labels, [Line("", css, values)], unit,
                 empty="Nothing decided by a moderator in this period.")


def lines(title: str, labels: Sequence[str], series: Sequence[Line], unit: str,
          empty: str = "Nothing in this period.") -> Markup:
    """One line per series over the same labels (values may be None: no point there); a
    legend underneath when the series have names."""
    known = [v for s in series for v in s.values if v is not None]
    if not known:
        return Markup(f'<p class="empty">{escape(empty)}</p>')
    top = max(max(known), 1e-9)
    plot_h = HEIGHT - PAD_BOTTOM - 8
    step = (WIDTH - PAD_LEFT) / len(labels)
    body = [_axis(top, unit)]
    for s in series:
        points = []
        dots = []
        name = f"{s.name} " if s.name else ""
        for i, value in enumerate(s.values):
            if value is None:
                continue
            x = PAD_LEFT + step * i + step / 2
            y = HEIGHT - PAD_BOTTOM - value / top * plot_h
            points.append(f"{x:.1f},{y:.1f}")
            dots.append(f'<circle class="{s.css}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                        f"<title>{escape(labels[i])}: {escape(name)}{escape(_fmt(value))}"
                        f"{escape(unit)}</title></circle>")
        body.append(f'<polyline class="{s.css} stroke" fill="none" '
                    f'points="{" ".join(points)}"/>' + "".join(dots))
    body.append(_x_labels(labels, step))
    return _figure(title, "".join(body), [s for s in series if s.name])


def horizontal_bars(title: str, rows: Sequence[tuple[str, float, str]]) -> Markup:
    """(label, fraction 0..1, text shown at the end) per row."""
    if not rows:
        return Markup('<p class="empty">Nothing held in this period.</p>')
    row_h = 22
    height = row_h * len(rows) + 4
    label_w = 150
    parts = []
    for i, (label, fraction, text) in enumerate(rows):
        y = i * row_h + 4
        w = max(0.0, min(1.0, fraction)) * (WIDTH - label_w - 80)
        parts.append(
            f'<text class="axis" x="{label_w - 6}" y="{y + 13}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="series-held" x="{label_w}" y="{y}" width="{w:.1f}" height="16">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
            f'<text class="axis" x="{label_w + w + 6:.1f}" y="{y + 13}">{escape(text)}</text>'
        )
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )


def _figure(title: str, body: str, series: Sequence[Series | Line]) -> Markup:
    legend = "".join(
        f'<span class="legend-item"><svg width="12" height="12" aria-hidden="true">'
        f'<rect class="{s.css}" width="12" height="12"/></svg> {escape(s.name)}</span>'
        for s in series
    )
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{body}</svg>'
        + (f'<p class="legend">{legend}</p>' if legend else "")
    )
