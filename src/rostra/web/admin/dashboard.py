"""The dashboard of a site, or of one story, over the last days: volume and outcomes, what the
engine holds and why (the share of comments it held for each label, per day), how fast
moderators decide, where the work comes from."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rostra.domain.labels import BANNED_TERM, LABELS, SPAM, SUSPECT_TERM
from rostra.storage.dashboard import (
    DayCounts,
    busiest_stories,
    daily_counts,
    decision_delays,
    held_by_label,
    median_delay_by_day,
    most_reported_authors,
)
from rostra.storage.stories import StoryStore
from rostra.web.admin.charts import (
    Line,
    Series,
    horizontal_bars,
    line,
    lines,
    stacked_columns,
)
from rostra.web.admin.pages import PREFIX, DeskDep, QueryId, label_name, render

router = APIRouter(prefix=PREFIX)
PERIODS = (7, 30, 90)


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def _unit(seconds: float) -> tuple[float, str, str]:
    """(seconds per unit, symbol, name) that keeps the chart's numbers readable."""
    if seconds < 120:
        return 1.0, "s", "seconds"
    if seconds < 7200:
        return 60.0, "min", "minutes"
    return 3600.0, "h", "hours"


@router.get("/{site}/dashboard")
def dashboard_page(request: Request, desk: DeskDep, days: int = 30,
                   story: QueryId = None) -> Response:
    days = days if days in PERIODS else 30
    now = datetime.now(UTC)
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    with request.app.state.engine.connect() as conn:
        chosen = None if story is None else StoryStore.get(conn, story, site_id=desk.site.id)
        story_id = None if chosen is None else chosen.id
        counts = {c.day: c for c in daily_counts(conn, desk.site.id, since, story_id=story_id)}
        held = held_by_label(conn, desk.site.id, since, story_id=story_id)
        delays = decision_delays(conn, desk.site.id, since, story_id=story_id)
        stories = [] if chosen else busiest_stories(conn, desk.site.id, since)
        reported = [] if chosen else most_reported_authors(conn, desk.site.id, since)
    calendar = _days(since.date(), now.date())
    series = [counts.get(d, DayCounts(day=d)) for d in calendar]
    labels = [d.strftime("%m-%d") for d in calendar]
    totals = {
        "posted": sum(c.posted for c in series),
        "published": sum(c.published for c in series),
        "held": sum(c.held for c in series),
        "rejected": sum(c.rejected for c in series),
    }
    medians = median_delay_by_day(delays)
    size, unit, unit_name = _unit(max(medians.values(), default=0.0))
    label_rows, label_series, label_days = _held_per_label(calendar, series, held)
    charts = {
        "volume": stacked_columns("Comments per day by status now", labels, [
            Series("Published", "series-published", [c.published for c in series]),
            Series("Held", "series-held", [c.held for c in series]),
            Series("Rejected or spam", "series-rejected", [c.rejected for c in series]),
        ]),
        "labels": horizontal_bars("Share of comments held by the engine per label",
                                  label_rows),
        "labels_daily": lines("Share of comments held per label (%), by day posted", labels,
                              label_series, "%", empty="Nothing held in this period."),
        "delay": line(f"Median time to a moderator's decision ({unit_name}), by day posted",
                      labels, [None if d not in medians else medians[d] / size for d in calendar],
                      f" {unit}"),
    }
    return render(request, "dashboard.html", {
        "desk": desk, "section": "dashboard", "days": days, "periods": PERIODS,
        "story": chosen, "series": series, "totals": totals, "charts": charts,
        "median": statistics.median([s for _, s in delays]) if delays else None,
        "decided": len(delays), "stories": stories, "reported": reported,
        "label_rows": label_rows, "label_days": label_days,
        "held_labels": [s.name for s in label_series],
    })


def _held_per_label(
    calendar: list[date], series: list[DayCounts], held: dict[date, dict[str, int]]
) -> tuple[list[tuple[str, float, str]], list[Line], list[tuple[date, int, list[str]]]]:
    """The share of comments posted that the engine held, per label: over the period (bars),
    per day (one line per label; no point on a day without comments), and as a table."""
    posted = sum(c.posted for c in series)
    shown = [label for label in (*LABELS, SPAM, BANNED_TERM, SUSPECT_TERM)
             if any(day.get(label) for day in held.values())]
    totals = {label: sum(day.get(label, 0) for day in held.values()) for label in shown}
    bars = [(label_name(label), totals[label] / posted,
             f"{totals[label]} of {posted} ({totals[label] / posted:.1%})")
            for label in shown] if posted else []
    days = list(zip(calendar, series, strict=True))
    daily = [
        Line(label_name(label), f"line-{k % 6 + 1}",
               [100 * held.get(d, {}).get(label, 0) / c.posted if c.posted else None
                for d, c in days])
        for k, label in enumerate(shown)
    ]
    table = []
    for d, c in days:
        if c.posted and d in held:
            counts = [held[d].get(label, 0) for label in shown]
            table.append((d, c.posted, [f"{n} ({n / c.posted:.0%})" for n in counts]))
    return bars, daily, table
