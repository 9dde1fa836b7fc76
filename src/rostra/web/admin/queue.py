"""The review queues, the comment card, and decisions posted as plain forms.

The page script (static/workspace.js) makes the same decisions through the JSON moderation
API and updates the queue in place; these routes are what runs without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import Connection

from rostra.actions.moderation import moderate, moderate_many
from rostra.domain.errors import InvalidInput, RostraError, StoryNotFound
from rostra.domain.labels import BANNED_TERM, LABELS, SPAM, SUSPECT_TERM
from rostra.domain.moderation import ModerationAction
from rostra.domain.sites import Site
from rostra.moderation.policy import Policy
from rostra.storage.authors import AuthorStore
from rostra.storage.comments import CommentStore
from rostra.storage.dashboard import card_row, recent_stories
from rostra.storage.reviews import Queue, QueueFilter, QueueSort, ReviewStore
from rostra.storage.stories import StoryStore
from rostra.web.admin.charts import score_bar
from rostra.web.admin.highlight import highlight
from rostra.web.admin.pages import (
    FILTER_LABELS,
    MAX_ID,
    PREFIX,
    DeskDep,
    PathId,
    label_name,
    redirect,
    render,
    safe_next,
)

router = APIRouter(prefix=PREFIX)

QUEUES = (Queue.PENDING, Queue.REPORTED, Queue.UNMODERATED, Queue.REJECTED, Queue.APPROVED)
QUEUE_NAMES = {Queue.PENDING: "Pending", Queue.REPORTED: "Reported",
               Queue.UNMODERATED: "Unmoderated", Queue.REJECTED: "Rejected",
               Queue.APPROVED: "Approved"}
PAGE_SIZE = 20
BAN_CHOICES = (("1", "1 day"), ("7", "7 days"), ("30", "30 days"), ("", "Permanently"))


@dataclass
class Filters:
    """The queue's filters as the page's form sends them (empty fields mean "any")."""

    queue: Queue = Queue.PENDING
    sort: QueueSort = QueueSort.SEVERITY
    story: int | None = None
    label: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    author: int | None = None
    q: str | None = None
    problems: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: Any) -> Filters:
        flt = cls()
        flt.queue = _choice(params.get("queue"), Queue, Queue.PENDING, flt.problems)
        if flt.queue is Queue.ALL:
            flt.queue = Queue.PENDING
        flt.sort = _choice(params.get("sort"), QueueSort, QueueSort.SEVERITY, flt.problems)
        flt.story = _number(params.get("story"), int, "story", flt.problems)
        flt.author = _number(params.get("author"), int, "author", flt.problems)
        flt.min_score = _number(params.get("min_score"), float, "min_score", flt.problems)
        flt.max_score = _number(params.get("max_score"), float, "max_score", flt.problems)
        for name in ("min_score", "max_score"):
            value = getattr(flt, name)
            if value is not None and not 0 <= value <= 1:
                flt.problems.append(f"{name} must be between 0 and 1")
                setattr(flt, name, None)
        label = (params.get("label") or "").strip()
        flt.label = label if label in FILTER_LABELS else None
        flt.q = (params.get("q") or "").strip()[:200] or None
        return flt

    def query(self, **changes: Any) -> str:
        values = {"queue": self.queue.value, "sort": self.sort.value, "story": self.story,
                  "label": self.label, "min_score": self.min_score,
                  "max_score": self.max_score, "author": self.author, "q": self.q, **changes}
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})

    def store_filter(self) -> QueueFilter:
        return QueueFilter(queue=self.queue, story_id=self.story, author_id=self.author,
                           label=self.label, min_score=self.min_score,
                           max_score=self.max_score, text=self.q)


def _choice(value: str | None, enum: Any, default: Any, problems: list[str]) -> Any:
    if not value:
        return default
    try:
        return enum(value)
    except ValueError:
        problems.append(f"unknown {enum.__name__.lower()} {value[:30]!r}")
        return default


def _number(value: str | None, kind: type, name: str, problems: list[str]) -> Any:
    if value is None or not value.strip():
        return None
    try:
        number = kind(value.strip())
    except ValueError:
        problems.append(f"{name} must be a number")
        return None
    if kind is int and not 0 < number < MAX_ID:
        problems.append(f"{name} is out of range")
        return None
    return number


# -- the card -----------------------------------------------------------------------------


@dataclass
class Card:
    """Everything the comment card shows, ready for the template."""

    id: int
    version: int
    status: str
    reviewed: bool
    featured: bool
    decision: str | None
    severity: float
    created_at: Any
    edited_at: Any
    text: Markup
    spans: list[dict[str, Any]]
    bars: list[tuple[str, float, Markup]]
    why: list[str]
    story: dict[str, Any]
    parent: dict[str, Any] | None
    author: dict[str, Any] | None
    reports: list[dict[str, Any]]
    labels: list[str]


def decision_reasons(decision: str | None, status: str, reasons: list[dict[str, Any]],
                     policy: Policy) -> list[str]:
    """Why the policy decided as it did, in a moderator's words."""
    why = []
    for reason in reasons:
        label, source = str(reason.get("label")), reason.get("source")
        weight = float(reason.get("weight") or 0.0)
        if source == "wordlist" and label in (BANNED_TERM, SUSPECT_TERM):
            kind = "banned" if label == BANNED_TERM else "suspect"
            why.append(f"contains the {kind} term “{reason.get('text', '')}”")
        elif source == "policy" and label in policy.thresholds:
            threshold = policy.thresholds[label]
            crossed = ("reject", threshold.reject) if weight >= threshold.reject else (
                "review", threshold.review)
            why.append(f"{label_name(label)} {weight:.2f} ≥ {crossed[0]} threshold "
                       f"{crossed[1]:.2f}")
        elif source == "policy" and label == SPAM:
            why.append(f"spam score {weight:.2f} (held at {policy.spam_review:.2f})")
    why = list(dict.fromkeys(why))
    if status == "pending" and decision == "approve":
        why.append("held by premoderation (the engine saw nothing wrong)")
    if not why and decision == "approve":
        why.append("no label crossed a threshold")
    return why


def _bars(scores: dict[str, Any], spam: dict[str, Any], policy: Policy
          ) -> list[tuple[str, float, Markup]]:
    bars = []
    for label in LABELS:
        value = scores.get(label)
        if not isinstance(value, int | float):
            continue
        threshold = policy.thresholds[label]
        bars.append((label, float(value),
                     score_bar(label_name(label), float(value), threshold.review,
                               threshold.reject)))
    spam_score = spam.get(SPAM)
    if isinstance(spam_score, int | float) and spam_score > 0:
        bars.append((SPAM, float(spam_score), score_bar("Spam", float(spam_score),
                                                        policy.spam_review, policy.spam_reject)))
    return bars


def build_cards(conn: Connection, site: Site, rows: list[Any]) -> list[Card]:
    """Cards for queue rows (``ReviewStore.queue``), with signals, reports and parents."""
    ids = [row.id for row in rows]
    signals = ReviewStore.signals(conn, ids)
    reports = ReviewStore.reports(conn, ids)
    parents = CommentStore.get_many(conn, [r.parent_id for r in rows if r.parent_id])
    bans = AuthorStore.ban_histories(conn, [r.author_id for r in rows if r.author_id])
    policy = Policy.from_dict(site.policy)
    now = datetime.now(UTC)
    cards = []
    for row in rows:
        current: dict[str, Any] = signals[row.id][0] if signals[row.id] else {}
        reasons = [r for r in current.get("reasons") or [] if isinstance(r, dict)]
        parent = parents.get(row.parent_id) if row.parent_id else None
        history = bans.get(row.author_id) if row.author_id else None
        cards.append(Card(
            id=row.id, version=row.version, status=row.status, reviewed=row.reviewed,
            featured=row.featured, decision=row.decision, severity=row.severity,
            created_at=row.created_at, edited_at=row.edited_at,
            text=highlight(row.body, reasons, label_name),
            spans=[r for r in reasons if r.get("source") != "policy" and r.get("end")],
            bars=_bars(current.get("scores") or {}, current.get("spam") or {}, policy),
            why=decision_reasons(row.decision, row.status, reasons, policy),
            story={"id": row.story_id, "title": row.story_title, "url": row.story_url},
            parent=None if parent is None else {
                "id": parent.id, "html": Markup(parent.html), "status": parent.status.value},
            author=None if row.author_id is None else {
                "id": row.author_id, "name": row.author_name, "kind": row.author_kind,
                "comments": row.author_comment_count, "approved": row.author_approved_count,
                "rejected": row.author_rejected_count, "reports": row.author_report_count,
                "banned_until": row.author_banned_until, "first_seen": row.author_created_at,
                "ratio": _ratio(row.author_approved_count, row.author_rejected_count),
                "bans": 0 if history is None else history.count,
                "ban": None if history is None else history.latest,
                "ban_active": history is not None and history.latest.is_active(now),
            },
            reports=reports[row.id],
            labels=row.flagged_labels.split(),
        ))
    return cards


def _ratio(approved: int, rejected: int) -> str:
    decided = approved + rejected
    return "–" if decided == 0 else f"{approved / decided:.0%} approved"


# -- pages --------------------------------------------------------------------------------


@router.get("/{site}")
def site_home(desk: DeskDep) -> Response:
    return redirect(f"{desk.base}/queue")


@router.get("/{site}/queue")
def queue_page(request: Request, desk: DeskDep) -> Response:
    flt = Filters.parse(request.query_params)
    cursor = (request.query_params.get("cursor") or "")[:500] or None
    engine = request.app.state.engine
    with engine.connect() as conn:
        try:
            rows, next_cursor = ReviewStore.queue(conn, desk.site.id, flt.store_filter(),
                                                  sort=flt.sort, cursor=cursor, limit=PAGE_SIZE)
        except InvalidInput:
            flt.problems.append("that page link is no longer valid; showing the first page")
            rows, next_cursor = ReviewStore.queue(conn, desk.site.id, flt.store_filter(),
                                                  sort=flt.sort, limit=PAGE_SIZE)
            cursor = None
        cards = build_cards(conn, desk.site, rows)
        counts = ReviewStore.queue_counts(conn, desk.site.id)
        stories = recent_stories(conn, desk.site.id)
        if flt.story is not None and flt.story not in {i for i, _ in stories}:
            try:
                stories.insert(0, (flt.story, StoryStore.get(conn, flt.story,
                                                             site_id=desk.site.id).title))
            except StoryNotFound:
                flt.problems.append("no such story on this site")
    here = f"{desk.base}/queue?{flt.query(cursor=cursor)}"
    return render(request, "queue.html", {
        "desk": desk, "section": "queue", "flt": flt, "cards": cards, "counts": counts,
        "queues": [(q.value, QUEUE_NAMES[q]) for q in QUEUES], "stories": stories,
        "filter_labels": FILTER_LABELS, "cursor": cursor,
        "next_url": None if next_cursor is None
        else f"{desk.base}/queue?{flt.query(cursor=next_cursor)}",
        "first_url": None if cursor is None else f"{desk.base}/queue?{flt.query()}",
        "here": here, "reasons": desk.site.settings.rejection_reasons,
        "ban_choices": BAN_CHOICES,
    })


@router.get("/{site}/comments/{comment_id}")
def comment_page(request: Request, desk: DeskDep, comment_id: PathId) -> Response:
    engine = request.app.state.engine
    with engine.connect() as conn:
        comment = CommentStore.get(conn, comment_id, site_id=desk.site.id)
        row = card_row(conn, desk.site.id, comment.id)
        cards = [] if row is None else build_cards(conn, desk.site, [row])
        log = ReviewStore.log_entries(conn, desk.site.id, comment_id=comment.id, limit=200)
    return render(request, "comment.html", {
        "desk": desk, "section": "queue", "cards": cards, "comment": comment, "log": log,
        "here": f"{desk.base}/comments/{comment.id}",
        "reasons": desk.site.settings.rejection_reasons, "ban_choices": BAN_CHOICES,
    })


# -- decisions as forms -------------------------------------------------------------------


def _action(value: str) -> ModerationAction:
    try:
        return ModerationAction(value)
    except ValueError:
        raise InvalidInput(f"unknown action {value[:30]!r}", field="action") from None


def _picked(action: ModerationAction, reason: str) -> str:
    """The reason menu is for rejections; an approval only keeps the free-text note."""
    return reason if action in (ModerationAction.REJECT, ModerationAction.SPAM) else ""


def reason_text(reason: str, note: str) -> str | None:
    parts = [p.strip() for p in (reason, note) if p and p.strip()]
    return ": ".join(parts)[:2000] or None


@router.post("/{site}/comments/{comment_id}/decision")
def decide(
    request: Request,
    desk: DeskDep,
    comment_id: PathId,
    action: Annotated[str, Form(max_length=20)],
    version: Annotated[int, Form(gt=0, lt=MAX_ID)],
    reason: Annotated[str, Form(max_length=500)] = "",
    note: Annotated[str, Form(max_length=1500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    chosen = _action(action)
    moderate(request.app.state.engine, site=desk.site, staff=desk.staff, comment_id=comment_id,
             action=chosen, version=version, reason=reason_text(_picked(chosen, reason), note))
    return redirect(safe_next(next, f"{desk.base}/queue"))


def _items(values: list[str]) -> list[tuple[int, int]]:
    items = []
    for value in values:
        comment_id, _, version = value.partition(":")
        try:
            item = (int(comment_id), int(version))
        except ValueError:
            item = (0, 0)
        if not all(0 < n < MAX_ID for n in item):
            raise InvalidInput("select comments from the queue", field="items")
        items.append(item)
    if not items:
        raise InvalidInput("select at least one comment first", field="items")
    return items


@router.post("/{site}/decisions")
def decide_many(
    request: Request,
    desk: DeskDep,
    action: Annotated[str, Form(max_length=20)],
    items: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    reason: Annotated[str, Form(max_length=500)] = "",
    note: Annotated[str, Form(max_length=1500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    chosen = _action(action)
    outcomes = moderate_many(request.app.state.engine, site=desk.site, staff=desk.staff,
                             items=_items(items[:200]), action=chosen,
                             reason=reason_text(_picked(chosen, reason), note))
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        return render(request, "bulk_result.html", {
            "desk": desk, "section": "queue", "outcomes": outcomes, "failed": failed,
            "action": action, "back": safe_next(next, f"{desk.base}/queue"),
            "messages": {o.comment_id: _message(o.error) for o in failed},
        }, status_code=409 if all(o.error and o.error.http_status == 409 for o in failed)
            else 400)
    return redirect(safe_next(next, f"{desk.base}/queue"))


def _message(error: RostraError | None) -> str:
    if error is None:
        return ""
    if error.http_status == 409:
        current = error.extra.get("current") or {}
        return (f"another moderator already decided this (now {current.get('status', '?')}, "
                f"version {current.get('version', '?')})")
    return error.message

