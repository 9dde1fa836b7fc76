"""Protection around every request: body size limit, rate limits, per-site CORS, headers.

``install_protection(app, settings)`` adds four pure ASGI middlewares, outermost first:

* security headers (CSP, nosniff, referrer policy, framing rules, HSTS over https);
* CORS: an ``Origin`` is allowed only if some site lists it in ``allowed_origins``
  (cached for ``ORIGIN_CACHE_SECONDS``); no credentials, since readers send a Bearer token;
* a per-IP limit on ``/api/`` requests (``rate_limit_requests_per_minute``);
* the request-body limit (``max_body_bytes``): 413, also for chunked bodies.

Endpoints call ``check_rate_limit`` for their own limits (posts per author, log-ins per IP),
and ``honeypot_tripped`` on guest posts.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rostra.config import Settings
from rostra.domain.errors import PayloadTooLarge, RateLimited, RostraError
from rostra.storage.ratelimits import RateLimiter, make_rate_limiter
from rostra.storage.sites import SiteStore

ORIGIN_CACHE_SECONDS = 30.0
#: The name of the hidden form field of the widget's guest form; people leave it empty.
HONEYPOT_FIELD = "website"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_HEADERS = frozenset({"authorization", "content-type", "accept", "accept-language",
                          "content-language", "last-event-id"})
CORS_EXPOSED = "Retry-After, Location"
CORS_MAX_AGE = "600"

# Moderator pages are same-origin: scripts, styles and images only from Rostra itself.
CSP_HTML = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# JSON, scripts and everything else are never rendered as documents.
CSP_OTHER = "default-src 'none'; frame-ancestors 'none'"
#: Pages under this prefix may be framed by the sites' allowed origins (the widget's frame).
EMBED_PREFIX = "/embed"
_CROSS_ORIGIN_TYPES = ("text/javascript", "application/javascript", "text/css", "image/",
                       "font/")


def _now() -> datetime:
    return datetime.now(UTC)


def problem_content(error: RostraError) -> dict[str, Any]:
    """The RFC 9457 problem object for ``error`` (the shape ``rostra.web.errors`` uses)."""
    return {
        "type": "about:blank",
        "title": error.title,
        "status": error.http_status,
        "detail": error.message,
        "code": error.code,
        **error.extra,
    }


def _problem_message(error: RostraError, path: str) -> tuple[Message, Message]:
    body = json.dumps({**problem_content(error), "instance": path}).encode("utf-8")
    headers = [(b"content-type", b"application/problem+json"),
               (b"content-length", str(len(body)).encode())]
    if isinstance(error, RateLimited):
        headers.append((b"retry-after", str(error.retry_after).encode()))
    return (
        {"type": "http.response.start", "status": error.http_status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


async def _send_problem(scope: Scope, send: Send, error: RostraError) -> None:
    start, body = _problem_message(error, scope.get("path", ""))
    await send(start)
    await send(body)


# --- shared state on the app --------------------------------------------------------------

_state_lock = threading.Lock()


def rate_limiter(app: Any) -> RateLimiter:
    """The app's limiter (Redis if ``redis_url`` is set, else the database), made on first use."""
    state = app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        with _state_lock:
            limiter = getattr(state, "rate_limiter", None)
            if limiter is None:
                settings: Settings = state.settings
                limiter = make_rate_limiter(state.engine, settings.redis_url)
                state.rate_limiter = limiter
    return limiter


class OriginCache:
    """Allowed CORS origins of all sites, re-read at most every ``ttl`` seconds."""

    def __init__(self, ttl: float = ORIGIN_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._origins: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")

    def invalidate(self) -> None:
        """Forget the cached list (call after changing a site's origins)."""
        self._loaded_at = float("-inf")

    def get(self, engine: Engine) -> frozenset[str]:
        if time.monotonic() - self._loaded_at > self.ttl:
            with engine.connect() as conn:
                self._origins = frozenset(SiteStore.origins_allowed(conn))
            self._loaded_at = time.monotonic()
        return self._origins

    async def aget(self, engine: Engine) -> frozenset[str]:
        if time.monotonic() - self._loaded_at > self.ttl:
            return await run_in_threadpool(self.get, engine)
        return self._origins


def origin_cache(app: Any) -> OriginCache:
    cache: OriginCache | None = getattr(app.state, "origin_cache", None)
    if cache is None:
        cache = app.state.origin_cache = OriginCache()
    return cache


# --- endpoint helpers ---------------------------------------------------------------------


def check_rate_limit(request: Request, key: str, limit_per_minute: int) -> None:
    """Count one hit of ``key``; RateLimited (429, Retry-After) past ``limit_per_minute``.

    Does nothing when ``rate_limits_enabled`` is off. Blocking: call it from ``def``
    endpoints (FastAPI runs those in a thread pool), not from ``async def`` ones.
    """
    settings: Settings = request.app.state.settings
    if not settings.rate_limits_enabled:
        return
    retry_after = rate_limiter(request.app).hit(key, limit_per_minute, 60, _now())
    if retry_after is not None:
        raise RateLimited(retry_after=retry_after)


def honeypot_tripped(body: Mapping[str, Any] | object) -> bool:
    """True when the hidden ``website`` field of a guest post was filled in (a bot did it)."""
    if isinstance(body, Mapping):
        value = body.get(HONEYPOT_FIELD)
    else:
        value = getattr(body, HONEYPOT_FIELD, None)
    if isinstance(value, str):
        return value.strip() != ""
    return value is not None and value is not False


# --- middlewares --------------------------------------------------------------------------


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: by Content-Length up front, else while reading.

    A chunked body is counted as the app reads it; once it passes the limit, reading raises
    and whatever the app answers (FastAPI turns the failure into a 400) is replaced by 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(f"the request body must be at most {self.max_bytes} bytes")
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _send_problem(scope, send, too_large)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _send_problem(scope, send, too_large)
                return  # the app's own answer to the failed read is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                await _send_problem(scope, send, too_large)


class RequestRateLimitMiddleware:
    """At most ``limit`` ``/api/`` requests a minute per client IP, shared by all processes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith("/api/")
            and scope["method"] != "OPTIONS"
            and scope["app"].state.settings.rate_limits_enabled
        ):
            client = scope.get("client")
            key = f"requests:ip:{client[0] if client else 'unknown'}"
            limiter = rate_limiter(scope["app"])
            retry_after = await run_in_threadpool(limiter.hit, key, self.limit, 60, _now())
            if retry_after is not None:
                await _send_problem(scope, send, RateLimited(retry_after=retry_after))
                return
        await self.app(scope, receive, send)


class CorsMiddleware:
    """CORS for the widget: an ``Origin`` listed by some site gets it echoed back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        app = scope["app"]
        # Answers differ by Origin, so caches must key on it even when none was sent.
        allowed = origin is not None and origin in await origin_cache(app).aget(app.state.engine)
        if (
            origin is not None
            and scope["method"] == "OPTIONS"
            and "access-control-request-method" in headers
        ):
            await self._preflight(send, origin if allowed else None, headers)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.add_vary_header("Origin")
                if allowed and origin is not None:
                    response_headers["Access-Control-Allow-Origin"] = origin
                    response_headers["Access-Control-Expose-Headers"] = CORS_EXPOSED
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(send: Send, origin: str | None, headers: Headers) -> None:
        if origin is None:
            response = Response("origin not allowed", status_code=403,
                                headers={"Vary": "Origin"}, media_type="text/plain")
        else:
            requested = {
                h.strip().lower()
                for h in headers.get("access-control-request-headers", "").split(",")
                if h.strip()
            }
            response = Response(status_code=204, headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": ", ".join(sorted(requested & CORS_HEADERS)),
                "Access-Control-Max-Age": CORS_MAX_AGE,
                "Vary": "Origin",
            })
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a fixed response reads nothing
    return {"type": "http.disconnect"}


class SecurityHeadersMiddleware:
    """Headers every response gets unless the route set them itself."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        embeddable = scope["path"].startswith(EMBED_PREFIX)
        frame_origins: frozenset[str] = frozenset()
        if embeddable:
            app = scope["app"]
            frame_origins = await origin_cache(app).aget(app.state.engine)
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                content_type = h.get("content-type", "")
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                if content_type.startswith("text/html"):
                    if embeddable:
                        ancestors = " ".join(["'self'", *sorted(frame_origins)])
                        h.setdefault("Content-Security-Policy", CSP_HTML.replace(
                            "frame-ancestors 'none'", f"frame-ancestors {ancestors}"))
                    else:
                        h.setdefault("Content-Security-Policy", CSP_HTML)
                        h.setdefault("X-Frame-Options", "DENY")
                else:
                    h.setdefault("Content-Security-Policy", CSP_OTHER)
                if content_type.startswith(_CROSS_ORIGIN_TYPES):
                    # embed.js, its CSS and images load into the publishers' pages.
                    h.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
                if https and self.hsts:
                    h.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _rate_limited_handler(request: Request, exc: Exception) -> Response:
    """RateLimited as the app's usual problem response, plus the Retry-After header."""
    assert isinstance(exc, RateLimited)
    handler = request.app.exception_handlers.get(RostraError)
    response: Response
    if handler is not None:
        result = handler(request, exc)
        response = await result if inspect.isawaitable(result) else result
    else:
        response = JSONResponse(problem_content(exc), status_code=exc.http_status,
                                media_type="application/problem+json")
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def install_protection(app: FastAPI, settings: Settings) -> None:
    """Add the protective middlewares and the Retry-After handler to ``app``.

    Needs ``app.state.engine`` and ``app.state.settings`` at request time (``create_app``
    sets them). Call before the app starts.
    """
    app.state.origin_cache = OriginCache()
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestRateLimitMiddleware, limit=settings.rate_limit_requests_per_minute)
    app.add_middleware(CorsMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts=not settings.dev_mode)
    app.add_exception_handler(RateLimited, _rate_limited_handler)
