"""An author's page: every comment with its status and decisions, bans past and present; and
the ban, suspend and unban forms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from rostra.actions.moderation import ban_author, unban_author
from rostra.domain.errors import InvalidInput
from rostra.storage.authors import PERMANENT, AuthorStore
from rostra.storage.reviews import ReviewStore
from rostra.storage.stories import StoryStore
from rostra.web.admin.pages import (
    PREFIX,
    DeskDep,
    PathId,
    QueryId,
    redirect,
    render,
    safe_next,
)
from rostra.web.admin.queue import BAN_CHOICES

router = APIRouter(prefix=PREFIX)
PAGE_SIZE = 50


@router.get("/{site}/authors/{author_id}")
def author_page(request: Request, desk: DeskDep, author_id: PathId,
                before: QueryId = None) -> Response:
    engine = request.app.state.engine
    with engine.connect() as conn:
        author = AuthorStore.get(conn, author_id, site_id=desk.site.id)
        comments = AuthorStore.comments(conn, author.id, before_id=before, limit=PAGE_SIZE)
        titles = {}
        for story_id in {c.story_id for c in comments}:
            titles[story_id] = StoryStore.get(conn, story_id).title
        bans = AuthorStore.bans(conn, author.id)
        log = ReviewStore.log_entries(conn, desk.site.id, author_id=author.id, limit=100)
    decided = author.approved_count + author.rejected_count
    return render(request, "author.html", {
        "desk": desk, "section": "queue", "author": author, "comments": comments,
        "titles": titles, "bans": bans, "log": log, "permanent": PERMANENT,
        "banned": author.banned_until is not None,
        "ratio": None if decided == 0 else author.approved_count / decided,
        "next_url": f"{desk.base}/authors/{author.id}?before={comments[-1].id}"
        if len(comments) == PAGE_SIZE else None,
        "ban_choices": BAN_CHOICES, "here": f"{desk.base}/authors/{author.id}",
        "now": datetime.now(UTC),
    })


def _days(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidInput("days must be a number, or empty for a permanent ban",
                           field="days") from None


@router.post("/{site}/authors/{author_id}/ban")
def ban(
    request: Request,
    desk: DeskDep,
    author_id: PathId,
    days: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    ban_author(request.app.state.engine, site=desk.site, staff=desk.staff, author_id=author_id,
               days=_days(days), reason=reason.strip() or None)
    return redirect(safe_next(next, f"{desk.base}/authors/{author_id}"))


@router.post("/{site}/authors/{author_id}/unban")
def unban(
    request: Request,
    desk: DeskDep,
    author_id: PathId,
    reason: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    unban_author(request.app.state.engine, site=desk.site, staff=desk.staff,
                 author_id=author_id, reason=reason.strip() or None)
    return redirect(safe_next(next, f"{desk.base}/authors/{author_id}"))
