"""What every workspace page shares: templates, the signed-in moderator and their site, safe
``next`` links, and errors shown as pages (log-in redirects, 403s, the 409 conflict page).

Pages live under ``/moderate``; errors raised there become HTML unless the request asks for
JSON (the page scripts do), in which case the API's problem objects answer as usual.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from rostra.domain.errors import Conflict, RostraError, Unauthenticated
from rostra.domain.identity import Staff
from rostra.domain.labels import BANNED_TERM, LABELS, SPAM, SUSPECT_TERM
from rostra.domain.sites import Site
from rostra.storage.reviews import LogEntry
from rostra.storage.sites import SiteStore
from rostra.web.auth import StaffDep, csrf_token_for, require_moderator

PREFIX = "/moderate"
#: Row ids in paths, queries and forms: bounded so no database sees an out-of-range integer.
MAX_ID = 2**62
PathId = Annotated[int, Path(gt=0, lt=MAX_ID)]
QueryId = Annotated[int | None, Query(gt=0, lt=MAX_ID)]
HERE = FilePath(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

LABEL_NAMES = {
    "toxicity": "Toxicity", "severe_toxicity": "Severe toxicity", "obscene": "Obscene",
    "threat": "Threat", "insult": "Insult", "identity_attack": "Identity attack",
    SPAM: "Spam", BANNED_TERM: "Banned term", SUSPECT_TERM: "Suspect term",
}
FILTER_LABELS = (*LABELS, SPAM, BANNED_TERM, SUSPECT_TERM)


def label_name(label: str) -> str:
    return LABEL_NAMES.get(label, label.replace("_", " ").capitalize())


def when(value: datetime | None) -> str:
    """A short UTC timestamp, e.g. ``2026-11-25 14:03``."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def ago(value: datetime | None) -> str:
    if value is None:
        return ""
    seconds = max(0, int((datetime.now(UTC) - value).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def change(entry: LogEntry) -> str:
    """``before → after`` of the keys that changed, compactly."""
    before, after = entry.before or {}, entry.after or {}
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    parts = []
    for key in keys[:8]:
        if key in before and key in after:
            parts.append(f"{key}: {_short(before[key])} → {_short(after[key])}")
        elif key in after:
            parts.append(f"{key}: {_short(after[key])}")
        else:
            parts.append(f"{key} was {_short(before[key])}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"


templates.env.filters.update(label=label_name, when=when, ago=ago, duration=duration)
templates.env.globals["change"] = change


def safe_next(value: str | None, default: str) -> str:
    """Only local workspace paths: never another host (``//evil``) or scheme."""
    if (value and value.startswith(PREFIX + "/") and not value.startswith("//")
            and "\\" not in value and "\n" not in value and "\r" not in value):
        return value
    return default


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200
           ) -> Response:
    context.setdefault("csrf_token", csrf_token_for(request))
    context.setdefault("labels", LABELS)
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@dataclass(frozen=True, slots=True)
class Desk:
    """The signed-in moderator at one of their sites, and the other sites they may open."""

    staff: Staff
    site: Site
    sites: list[Site]

    @property
    def base(self) -> str:
        return f"{PREFIX}/{self.site.slug}"


def sites_of(engine: Engine, staff: Staff) -> list[Site]:
    with engine.connect() as conn:
        return [s for s in SiteStore.list_all(conn) if staff.can_moderate(s.id)]


def _desk(request: Request, staff: StaffDep, site: str) -> Desk:
    # The staff check runs first (parameter order), so anonymous visitors are sent to log
    # in whatever the slug, and moderators of other sites learn nothing but "not allowed".
    sites = sites_of(_engine(request), staff)
    for candidate in sites:
        if candidate.slug == site:
            return Desk(staff=staff, site=candidate, sites=sites)
    with _engine(request).connect() as conn:
        found = SiteStore.get_by_slug(conn, site[:64])
    require_moderator(staff, found.id)  # raises NotAllowed
    raise AssertionError("unreachable: can_moderate disagrees with require_moderator")


DeskDep = Annotated[Desk, Depends(_desk)]


# -- errors as pages ----------------------------------------------------------------------


def _wants_page(request: Request) -> bool:
    if not request.url.path.startswith(PREFIX):
        return False
    accept = request.headers.get("accept", "")
    return "application/json" not in accept


def _login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    return redirect(f"{PREFIX}/login?next={quote(target, safe='')}")


def _error_page(request: Request, status: int, title: str, message: str,
                current: dict[str, Any] | None = None) -> Response:
    context = {"title": title, "message": message, "status": status, "current": current,
               "back": safe_next(request.headers.get("referer", "").partition(
                   str(request.base_url).rstrip("/"))[2] or None, PREFIX + "/")}
    return render(request, "error.html", context, status_code=status)


def install(app: FastAPI) -> None:
    """Mount the workspace on ``app``: its routes, static files and HTML error pages.

    The API's handlers stay in charge of everything outside ``/moderate`` and of JSON
    requests; this wraps them.
    """
    from rostra.web.admin import router

    app.include_router(router)
    app.mount(PREFIX + "/static", StaticFiles(directory=HERE / "static"), name="workspace-static")
    handlers = dict(app.exception_handlers)

    def fallback(kind: type[Exception]) -> Any:
        return handlers[kind]

    async def rostra_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RostraError)
        if not _wants_page(request):
            return await _call(fallback(RostraError), request, exc)
        if isinstance(exc, Unauthenticated):
            return _login_redirect(request)
        if isinstance(exc, Conflict):
            return _error_page(request, 409, "Another moderator already decided this",
                               exc.message, current=exc.extra.get("current"))
        return _error_page(request, exc.http_status, exc.title, exc.message)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not _wants_page(request):
            return await _call(fallback(RequestValidationError), request, exc)
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
                           for e in exc.errors())
        return _error_page(request, 400, "Invalid input", f"Please check: {fields}.")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not _wants_page(request):
            return await _call(fallback(StarletteHTTPException), request, exc)
        title = {404: "Page not found", 405: "Method not allowed"}.get(exc.status_code,
                                                                        "Request failed")
        return _error_page(request, exc.status_code, title, str(exc.detail or title))

    app.add_exception_handler(RostraError, rostra_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    if hasattr(result, "__await__"):
        result = await result
    response: Response = result
    return response
