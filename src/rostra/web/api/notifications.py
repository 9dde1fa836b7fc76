"""Readers' e-mail choices: reply notifications on or off, and the one-click unsubscribe link.

``GET /api/v1/unsubscribe/{token}`` shows a page with one button and changes nothing (mail
scanners and link previews fetch links); the button, and mail clients' one-click button
(RFC 8058 ``List-Unsubscribe-Post``), ``POST`` to the same address. A link that is not valid
is a page for a browser (a request that accepts ``text/html``) and, like every other refusal
of the API, a problem object for any other client.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from rostra.actions.notifications import set_reply_notifications, unsubscribe
from rostra.domain.errors import AuthorNotFound, InvalidInput, Unauthenticated
from rostra.domain.messages import read_unsubscribe_token
from rostra.storage.notifications import NotificationStore
from rostra.web.auth import ReaderDep
from rostra.web.deps import ConnDep, DbDep, SettingsDep, SiteDep

router = APIRouter(tags=["notifications"])

TokenPath = Path(max_length=500, description="The token of the link in the e-mail.")


class NotificationsIn(BaseModel):
    replies: bool


class NotificationsOut(BaseModel):
    replies: bool


@router.get("/api/v1/sites/{site}/notifications", response_model=NotificationsOut)
def get_notifications(site: SiteDep, reader: ReaderDep, conn: ConnDep) -> NotificationsOut:
    """Whether the signed-in reader gets an e-mail when someone replies to them."""
    if reader is None or reader.site_id != site.id:
        raise Unauthenticated("Sign in to see your notification settings")
    return NotificationsOut(replies=NotificationStore.wants_replies(conn, reader.author_id))


@router.put("/api/v1/sites/{site}/notifications", response_model=NotificationsOut)
def put_notifications(
    site: SiteDep, reader: ReaderDep, db: DbDep, body: NotificationsIn
) -> NotificationsOut:
    """Turn reply e-mails on or off (on needs an e-mail address: SSO or the guest form)."""
    if reader is None or reader.site_id != site.id:
        raise Unauthenticated("Sign in to change your notification settings")
    return NotificationsOut(replies=set_reply_notifications(db, reader=reader,
                                                            enabled=body.replies))


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\">"
        f"<title>{html.escape(title)}</title></head>"
        f"<body style=\"font-family: sans-serif; max-width: 36em; margin: 3em auto\">"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status_code,
    )


def _invalid(request: Request) -> HTMLResponse:
    """The refusal of a link that is not valid: a page for a browser, else a problem object."""
    if "text/html" not in request.headers.get("accept", ""):
        raise InvalidInput("This unsubscribe link is not valid", field="token")
    return _page("Link not valid",
                 "<p>This unsubscribe link is not valid. Copy the whole link from the e-mail.</p>",
                 status_code=400)


@router.get("/api/v1/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(
    request: Request, settings: SettingsDep, token: str = TokenPath
) -> HTMLResponse:
    """A confirmation page with one button (a GET never unsubscribes)."""
    try:
        read_unsubscribe_token(settings.secret_key, token)
    except InvalidInput:
        return _invalid(request)
    action = html.escape(f"/api/v1/unsubscribe/{token}")
    return _page(
        "Stop e-mails about replies?",
        f"<form method=\"post\" action=\"{action}\">"
        "<p>You will no longer get an e-mail when someone replies to your comments.</p>"
        "<button type=\"submit\">Unsubscribe</button></form>",
    )


@router.post("/api/v1/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_now(
    request: Request, settings: SettingsDep, db: DbDep, token: str = TokenPath
) -> HTMLResponse:
    """Unsubscribe: the page's button and mail clients' one-click button."""
    try:
        author_id = read_unsubscribe_token(settings.secret_key, token)
        unsubscribe(db, author_id=author_id)
    except (InvalidInput, AuthorNotFound):
        return _invalid(request)
    return _page("Unsubscribed",
                 "<p>You will no longer get e-mails about replies to your comments. "
                 "You can turn them on again under any comment form.</p>")
