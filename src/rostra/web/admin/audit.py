"""The audit log: every moderation action and settings change of a site, filterable, and the
same rows as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Engine

from rostra.storage.dashboard import log_actions, log_users
from rostra.storage.reviews import ReviewStore
from rostra.web.admin.pages import PREFIX, DeskDep, render

router = APIRouter(prefix=PREFIX)
PAGE_SIZE = 50
CSV_LIMIT = 100_000
CSV_COLUMNS = ("id", "created_at", "actor", "username", "action", "comment_id", "author_id",
               "reason", "before", "after")


def _int(value: str | None) -> int | None:
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is None or 0 < number < 2**62 else None


def _day(value: str | None) -> date | None:
    """A calendar day (YYYY-MM-DD, UTC) from a filter field; anything else is no filter."""
    try:
        return date.fromisoformat(value.strip()) if value and len(value) <= 10 else None
    except ValueError:
        return None


def _filters(request: Request) -> dict[str, Any]:
    params = request.query_params
    action = (params.get("action") or "").strip()[:32] or None
    return {"user_id": _int(params.get("user")), "action": action,
            "author_id": _int(params.get("author")), "comment_id": _int(params.get("comment")),
            "since": _day(params.get("from")), "until": _day(params.get("to"))}


def _store_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """The page's filters as ReviewStore.log_entries takes them: "to" includes its whole day."""
    out = dict(filters)
    if filters["since"] is not None:
        out["since"] = datetime.combine(filters["since"], time(), UTC)
    if filters["until"] is not None:
        out["until"] = datetime.combine(filters["until"] + timedelta(days=1), time(), UTC)
    return out


def _query(filters: dict[str, Any], **extra: Any) -> str:
    names = {"user_id": "user", "author_id": "author", "comment_id": "comment",
             "action": "action", "since": "from", "until": "to"}
    values = {names[k]: str(v) for k, v in filters.items() if v is not None}
    values.update({k: v for k, v in extra.items() if v is not None})
    return urlencode(values)


@router.get("/{site}/audit")
def audit_page(request: Request, desk: DeskDep) -> Response:
    filters = _filters(request)
    before = _int(request.query_params.get("before"))
    with request.app.state.engine.connect() as conn:
        entries = ReviewStore.log_entries(conn, desk.site.id, before_id=before, limit=PAGE_SIZE,
                                          **_store_filters(filters))
        actions = log_actions(conn, desk.site.id)
        users = log_users(conn, desk.site.id)
    return render(request, "audit.html", {
        "desk": desk, "section": "audit", "entries": entries, "filters": filters,
        "actions": actions, "users": users,
        "csv_url": f"{desk.base}/audit.csv?{_query(filters)}",
        "next_url": f"{desk.base}/audit?{_query(filters, before=entries[-1].id)}"
        if len(entries) == PAGE_SIZE else None,
        "first_url": f"{desk.base}/audit?{_query(filters)}" if before else None,
    })


def _cell(value: Any) -> str:
    """Text for a spreadsheet cell; a leading = + - @ would be read as a formula."""
    text = "" if value is None else value if isinstance(value, str) else json.dumps(
        value, ensure_ascii=False, sort_keys=True)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _rows(engine: Engine, site_id: int, filters: dict[str, Any]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    before: int | None = None
    sent = 0
    while sent < CSV_LIMIT:
        with engine.connect() as conn:
            entries = ReviewStore.log_entries(conn, site_id, before_id=before, limit=500,
                                              **_store_filters(filters))
        for e in entries:
            writer.writerow([e.id, e.created_at.isoformat(), e.actor, _cell(e.username),
                             _cell(e.action), e.comment_id or "", e.author_id or "",
                             _cell(e.reason), _cell(e.before), _cell(e.after)])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        sent += len(entries)
        if len(entries) < 500:
            break
        before = entries[-1].id


@router.get("/{site}/audit.csv")
def audit_csv(request: Request, desk: DeskDep) -> Response:
    filters = _filters(request)
    name = f"rostra-audit-{desk.site.slug}.csv"
    return StreamingResponse(
        _rows(request.app.state.engine, desk.site.id, filters), media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
