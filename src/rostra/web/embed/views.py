"""The embeddable widget: embed.js (CSS and English strings inlined), embed.css, count.js,
the widget's per-site configuration, and the /demo article page that embeds it.

The static files are hand-written; "building" is reading them once and substituting three
placeholders in embed.js, so there is no build step. Each asset is served gzipped to clients
that accept it, with an ETag, and may be cached for a few minutes by browsers and proxies.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from rostra.actions.comments import REPORT_REASONS
from rostra.domain.comments import SortOrder
from rostra.domain.sites import Site
from rostra.storage.database import transaction
from rostra.storage.sites import SiteStore
from rostra.web.api.threads import first_page, json_response
from rostra.web.auth import reader_for_site
from rostra.web.deps import DbDep, LimitsDep, SettingsDep

STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "en"
ASSET_MAX_AGE = 300  # seconds; the snippet URL never changes, so keep it short

router = APIRouter(tags=["widget"])
_templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str

    @classmethod
    def of(cls, text: str, media_type: str) -> Asset:
        body = text.encode("utf-8")
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        return cls(body, gzip.compress(body, 9, mtime=0), media_type, etag)

    def response(self, request: Request) -> Response:
        headers = {"ETag": self.etag, "Cache-Control": f"public, max-age={ASSET_MAX_AGE}",
                   "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=self.media_type, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


# --- string tables ------------------------------------------------------------------------


@cache
def languages() -> dict[str, dict[str, Any]]:
    """Every string table, by language code; each is complete (English fills the gaps)."""
    tables = {p.stem: json.loads(p.read_text(encoding="utf-8"))
              for p in sorted((STATIC / "i18n").glob("*.json"))}
    english = tables[DEFAULT_LANGUAGE]
    return {code: {**english, **table} for code, table in tables.items()}


def strings_for(language: str | None) -> tuple[str, dict[str, Any]]:
    """The best table for ``language`` ("de-AT" falls back to "de", then to English)."""
    tables = languages()
    for candidate in (language or "", (language or "").split("-")[0].lower()):
        if candidate in tables:
            return candidate, tables[candidate]
    return DEFAULT_LANGUAGE, tables[DEFAULT_LANGUAGE]


# --- assets ---------------------------------------------------------------------------------


def _js_string(value: str) -> str:
    # JSON is valid JavaScript; "</" is escaped so the text can never close a <script>.
    return json.dumps(value).replace("</", "<\\/")


#: What the widget may have to say before the site's string table arrives, in every language.
FIRST_STRINGS = ("loading", "load_failed", "retry")


@cache
def embed_js() -> Asset:
    source = (STATIC / "embed.js").read_text(encoding="utf-8")
    css = (STATIC / "embed.css").read_text(encoding="utf-8")
    tables = languages()
    english = json.dumps(tables[DEFAULT_LANGUAGE], ensure_ascii=False, separators=(",", ":"))
    first = json.dumps({code: {key: table[key] for key in FIRST_STRINGS}
                        for code, table in tables.items()},
                       ensure_ascii=False, separators=(",", ":"))
    source = source.replace('"__ROSTRA_CSS__"', _js_string(css))
    source = source.replace('"__ROSTRA_STRINGS__"', english.replace("</", "<\\/"))
    source = source.replace('"__ROSTRA_FIRST__"', first.replace("</", "<\\/"))
    return Asset.of(source, "text/javascript; charset=utf-8")


@cache
def embed_css() -> Asset:
    return Asset.of((STATIC / "embed.css").read_text(encoding="utf-8"), "text/css; charset=utf-8")


@cache
def count_js() -> Asset:
    source = (STATIC / "count.js").read_text(encoding="utf-8")
    counts = {code: table["count"] for code, table in languages().items()}
    source = source.replace('"__ROSTRA_COUNTS__"', json.dumps(counts, ensure_ascii=False))
    return Asset.of(source, "text/javascript; charset=utf-8")


@cache
def demo_css() -> Asset:
    return Asset.of((STATIC / "demo.css").read_text(encoding="utf-8"), "text/css; charset=utf-8")


# The asset routes are ``async``: they only hand out bytes built once, and a thread-pool hop
# per request would cost more than that (embed.js is on the path to every first render).
@router.get("/embed.js", include_in_schema=False)
async def get_embed_js(request: Request) -> Response:
    return embed_js().response(request)


@router.get("/embed.css", include_in_schema=False)
async def get_embed_css(request: Request) -> Response:
    """The widget's stylesheet, for browsers without constructable stylesheets."""
    return embed_css().response(request)


@router.get("/count.js", include_in_schema=False)
async def get_count_js(request: Request) -> Response:
    return count_js().response(request)


@router.get("/embed/demo.css", include_in_schema=False)
async def get_demo_css(request: Request) -> Response:
    return demo_css().response(request)


# --- per-site configuration -----------------------------------------------------------------


def _site_and_first_page(request: Request, engine: Engine, slug: str, url: str | None,
                         sort: SortOrder, limit: int) -> tuple[Site, dict[str, Any] | None]:
    """The site and, with ``url``, the first page of that story's thread as the reader making
    the request sees it: everything the first render reads, in one thread-pool hop (as
    dependencies, the site, the reader and a connection would cost five)."""
    if url is None:
        with engine.connect() as conn:
            return SiteStore.get_by_slug(conn, slug), None
    signed_in = "authorization" in request.headers
    # An SSO token creates or refreshes its author: that reader needs a transaction.
    with (transaction(engine) if signed_in else engine.connect()) as conn:
        site = SiteStore.get_by_slug(conn, slug)
        reader = reader_for_site(request, conn, site) if signed_in else None
        return site, first_page(conn, site, url, sort=sort, limit=limit,
                                reader_id=reader.author_id if reader else None)


@router.get("/api/v1/sites/{site}/widget", summary="What the widget needs to know about a site",
            tags=["widget"])
async def widget_config(
    request: Request, settings: SettingsDep, limits: LimitsDep, db: DbDep,
    site: Annotated[str, PathParam(max_length=64, description="The site's slug.")],
    lang: Annotated[str | None, Query(max_length=20, pattern=r"^[A-Za-z-]*$")] = None,
    url: Annotated[str | None, Query(max_length=2048, description="With the first page of "
                                     "this story's thread (the widget's one request)")] = None,
    sort: Annotated[SortOrder, Query(description="oldest, newest or reacted")] = SortOrder.OLDEST,
) -> Response:
    """Name, language and string table, whether guests may comment, the edit window and the
    longest comment. ``lang`` overrides the site's language (a page's ``data-lang``).

    With ``url``, the answer also holds ``thread``: the first page of that story's thread in
    ``sort`` order, exactly as ``GET /thread`` gives it (the reader's own held comments
    included), so the widget's first render needs one round trip."""
    found, thread = await run_in_threadpool(_site_and_first_page, request, db, site, url, sort,
                                            settings.page_size)
    language, strings = strings_for(lang or found.settings.language)
    payload: dict[str, Any] = {
        "site": found.slug,
        "name": found.name,
        "language": language,
        "strings": strings,
        "guests_allowed": found.settings.guests_allowed,
        "edit_window_seconds": found.settings.edit_window_seconds or limits.edit_window_seconds,
        "max_comment_chars": limits.max_comment_chars,
        "report_reasons": list(REPORT_REASONS),
        "page_size": settings.page_size,
    }
    if thread is None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return Response(body.encode("utf-8"), media_type="application/json",
                        headers={"Cache-Control": "public, max-age=60"})
    payload["thread"] = thread
    response = json_response(payload)
    response.headers["Cache-Control"] = "no-store"  # live comments, and the reader's own
    return response


# --- the demo article -----------------------------------------------------------------------

DEMO_SITE = "demo"
DEMO_HEADLINE = "Council passes €2.1bn budget: bus routes cut, new levy on empty homes"
DEMO_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@router.get("/demo", include_in_schema=False)
def demo(request: Request, settings: SettingsDep) -> Response:
    """A news article embedding the widget exactly as a publisher would (``rostra demo``)."""
    public_url = settings.public_url.rstrip("/")
    lang = request.query_params.get("lang")
    html = _templates.get_template("demo.html").render(
        canonical=f"{public_url}/demo", headline=DEMO_HEADLINE, site=DEMO_SITE,
        lang=lang if lang and re.fullmatch(r"[A-Za-z-]{2,20}", lang) else None,
    )
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": DEMO_CSP, "Cache-Control": "no-cache"})
