"""Logging in and out of the workspace, and the list of one's sites.

The log-in form carries a token that matches a short-lived cookie (double submit), so no
other site can log a moderator into an account of its choosing.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from rostra.actions.accounts import authenticate, sso_staff_user
from rostra.domain.accounts import User
from rostra.domain.errors import NotFound, RateLimited, Unauthenticated
from rostra.domain.sites import Site
from rostra.storage.accounts import SiteKeyStore, UserStore
from rostra.storage.database import transaction
from rostra.storage.reviews import ReviewStore
from rostra.storage.sites import SiteStore
from rostra.web.admin.pages import PREFIX, redirect, render, safe_next, sites_of
from rostra.web.auth import (
    LOGIN_ATTEMPTS_PER_MINUTE,
    OptionalStaffDep,
    StaffDep,
    end_session,
    start_session,
    verify_sso_token,
)
from rostra.web.protection import check_rate_limit

#: Workspace paths the publisher's staff portal may link to: ``?site=<slug>&token=<JWT>``.
SSO_PATH = PREFIX + "/login/sso"

router = APIRouter(prefix=PREFIX)

LOGIN_COOKIE = "rostra_login"


def _login_page(request: Request, next_url: str, error: str | None = None,
                status_code: int = 200, username: str = "", sso_site: Site | None = None,
                sso_token: str = "") -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    response = render(request, "login.html", {"next": next_url, "error": error,
                                              "login_token": token, "username": username,
                                              "sso_site": sso_site, "sso_token": sso_token},
                      status_code=status_code)
    if sso_token:
        response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path=PREFIX + "/login",
                        httponly=True, samesite="strict",
                        secure=not request.app.state.settings.dev_mode)
    return response


@router.get("/login")
def login_form(request: Request, staff: OptionalStaffDep, next: str | None = None) -> Response:
    target = safe_next(next, PREFIX + "/")
    if staff is not None:
        return redirect(target)
    return _login_page(request, target)


def _login_form_is_fresh(request: Request, login_token: str) -> bool:
    """The form's anti-forgery token matches the cookie set when the log-in page was shown."""
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), login_token.encode())


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1024)],
    login_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    target = safe_next(next, PREFIX + "/")
    if not _login_form_is_fresh(request, login_token):
        return _login_page(request, target, "Your log-in form expired; please try again.",
                           status_code=403, username=username)
    client = request.client.host if request.client else "unknown"
    try:
        check_rate_limit(request, f"login:ip:{client}", LOGIN_ATTEMPTS_PER_MINUTE)
        check_rate_limit(request, f"login:user:{username.lower()}", LOGIN_ATTEMPTS_PER_MINUTE)
        user = authenticate(request.app.state.engine, username, password)
    except RateLimited as exc:
        return _login_page(request, target, f"Too many attempts; wait {exc.retry_after} s.",
                           status_code=429, username=username)
    except Unauthenticated:
        return _login_page(request, target, "Wrong username or password.", status_code=401,
                           username=username)
    return _signed_in(request, target, user)


def _signed_in(request: Request, target: str, user: User) -> Response:
    """Start the session of ``user`` and send them on to ``target``; the log-in form's
    anti-forgery cookie has done its job."""
    response = redirect(target)
    start_session(request, response, user)
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX + "/login")
    return response


def _site_or_none(request: Request, slug: str) -> Site | None:
    with request.app.state.engine.connect() as conn:
        try:
            return SiteStore.get_by_slug(conn, slug)
        except NotFound:
            return None


@router.get("/sso")
def sso_link(request: Request) -> Response:
    """The short address a staff portal may link to; same query as the log-in page's."""
    query = request.url.query
    return redirect(SSO_PATH + ("?" + query if query else ""))


@router.get("/login/sso")
def sso_form(request: Request, staff: OptionalStaffDep, site: str = "", token: str = "",
             next: str | None = None) -> Response:
    """"Sign in with <site> account": a button that posts the publisher's signed token.

    Logging in takes a click on Rostra's own page (whose form carries the log-in cookie's
    token), so a page elsewhere cannot log a moderator into an account of its choosing.
    """
    target = safe_next(next, PREFIX + "/")
    if staff is not None:
        return redirect(target)
    sso_site = _site_or_none(request, site[:64]) if site else None
    if sso_site is None or not token or len(token) > 8192:
        return _login_page(request, target, "That sign-in link is incomplete; sign in here "
                           "or ask for a new link.", status_code=400)
    return _login_page(request, target, sso_site=sso_site, sso_token=token)


@router.post("/login/sso")
def sso_login(
    request: Request,
    site: Annotated[str, Form(max_length=64)],
    token: Annotated[str, Form(max_length=8192)],
    login_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Verify the site's SSO token and start the session of the staff member it maps to."""
    target = safe_next(next, PREFIX + "/")
    if not _login_form_is_fresh(request, login_token):
        return _login_page(request, target, "Your log-in form expired; please try again.",
                           status_code=403)
    client = request.client.host if request.client else "unknown"
    sso_site = _site_or_none(request, site)
    try:
        check_rate_limit(request, f"login:ip:{client}", LOGIN_ATTEMPTS_PER_MINUTE)
        if sso_site is None:
            raise Unauthenticated("unknown site")
        with request.app.state.engine.connect() as conn:
            identity = verify_sso_token(token, SiteKeyStore.active(conn, sso_site.id),
                                        datetime.now(UTC))
            user = sso_staff_user(conn, sso_site.id, identity.sub)
    except RateLimited as exc:
        return _login_page(request, target, f"Too many attempts; wait {exc.retry_after} s.",
                           status_code=429)
    except Unauthenticated as exc:
        return _login_page(request, target, f"Sign-in refused: {exc}.", status_code=401)
    return _signed_in(request, target, user)


@router.post("/logout")
def logout(request: Request, staff: StaffDep) -> Response:
    """Ends every session of this moderator, so a copied cookie dies too."""
    with transaction(request.app.state.engine) as conn:
        UserStore.end_sessions(conn, staff.user_id)
    response = redirect(PREFIX + "/login")
    end_session(request, response)
    return response


@router.get("/")
def home(request: Request, staff: StaffDep) -> Response:
    """Straight to the queue of one's only site; a list when there are several."""
    sites = sites_of(request.app.state.engine, staff)
    if len(sites) == 1:
        return redirect(f"{PREFIX}/{sites[0].slug}/queue")
    with request.app.state.engine.connect() as conn:
        counts = {s.id: ReviewStore.queue_counts(conn, s.id) for s in sites}
    return render(request, "sites.html", {"staff": staff, "sites": sites, "counts": counts})


@router.get("")
def home_without_slash() -> Response:
    return redirect(PREFIX + "/")
