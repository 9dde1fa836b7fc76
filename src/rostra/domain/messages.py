"""What notifications say and how they are signed: e-mail texts, unsubscribe tokens, webhook
signatures and the retry schedule. Pure functions; sending lives in ``rostra.actions.delivery``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from rostra.domain.errors import InvalidInput

UNSUBSCRIBE_SALT = "rostra.unsubscribe"
SIGNATURE_HEADER = "Rostra-Signature"
#: Receivers should refuse signatures older than this (replayed requests).
SIGNATURE_TOLERANCE_SECONDS = 300
EXCERPT_CHARS = 500
DIGEST_EXCERPT_CHARS = 200  # per reported comment in the moderators' digest


@dataclass(frozen=True, slots=True)
class Message:
    """One e-mail: plain text and HTML alternatives of the same content."""

    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"to": self.to, "subject": self.subject, "text": self.text, "html": self.html,
                "headers": dict(self.headers)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(to=data["to"], subject=data["subject"], text=data["text"], html=data["html"],
                   headers=dict(data.get("headers") or {}))


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One reported comment in a moderators' digest."""

    comment_id: int
    reason: str
    excerpt: str
    story_title: str
    count: int = 1


# -- unsubscribe tokens ---------------------------------------------------------------------


def unsubscribe_token(secret_key: str, author_id: int) -> str:
    """A token naming the author whose reply notifications a click turns off. It does not
    expire: an old e-mail's link must still work."""
    return URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT).dumps({"author": author_id})


def read_unsubscribe_token(secret_key: str, token: str) -> int:
    """The author id in ``token``; InvalidInput if it was not signed with ``secret_key``."""
    try:
        data = URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        raise InvalidInput("This unsubscribe link is not valid", field="token") from None
    author = data.get("author") if isinstance(data, dict) else None
    if not isinstance(author, int) or isinstance(author, bool):
        raise InvalidInput("This unsubscribe link is not valid", field="token")
    return author


# -- e-mails --------------------------------------------------------------------------------


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _unsubscribe_headers(url: str) -> dict[str, str]:
    # RFC 2369 and RFC 8058: mail clients offer a one-click button that POSTs to the URL.
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n"
        "<body style=\"font-family: sans-serif; max-width: 40em\">\n"
        f"{body}\n</body></html>\n"
    )


def reply_message(
    *,
    to: str,
    recipient: str,
    replier: str,
    story_title: str,
    comment_url: str,
    reply_text: str,
    unsubscribe_url: str,
) -> Message:
    """Tell ``recipient`` that ``replier`` answered their comment."""
    quote = excerpt(reply_text)
    subject = f"{excerpt(replier, 60)} replied to your comment on “{excerpt(story_title, 80)}”"
    text = (
        f"Hello {recipient},\n\n"
        f"{replier} replied to your comment on “{story_title}”:\n\n"
        + "".join(f"> {line}\n" for line in quote.splitlines() or [""])
        + f"\nRead and answer: {comment_url}\n\n"
        f"--\nYou get this because you asked to hear about replies. "
        f"Stop these e-mails: {unsubscribe_url}\n"
    )
    e = html.escape
    body = (
        f"<p>Hello {e(recipient)},</p>\n"
        f"<p>{e(replier)} replied to your comment on “{e(story_title)}”:</p>\n"
        f"<blockquote>{e(quote)}</blockquote>\n"
        f"<p><a href=\"{e(comment_url)}\">Read and answer</a></p>\n"
        f"<hr><p style=\"font-size: small\">You get this because you asked to hear about "
        f"replies. <a href=\"{e(unsubscribe_url)}\">Stop these e-mails</a>.</p>"
    )
    return Message(to=to, subject=subject, text=text, html=_page(subject, body),
                   headers=_unsubscribe_headers(unsubscribe_url))


def report_digest_message(
    *, to: str, site_name: str, reports: list[ReportLine], queue_url: str
) -> Message:
    """The moderators' digest of comments readers reported since the last one."""
    total = sum(r.count for r in reports)
    noun = "report" if total == 1 else "reports"
    subject = f"{site_name}: {total} new {noun} to review"
    lines = [f"Readers reported {len(reports)} comment(s) on {site_name}:", ""]
    items = []
    e = html.escape
    for r in reports:
        times = f" ×{r.count}" if r.count > 1 else ""
        quote = excerpt(r.excerpt, DIGEST_EXCERPT_CHARS)
        lines.append(f"- [{r.reason}{times}] on “{r.story_title}”: {quote}")
        items.append(
            f"<li><strong>{e(r.reason)}{e(times)}</strong> on “{e(r.story_title)}”: "
            f"{e(quote)}</li>"
        )
    lines += ["", f"Review them: {queue_url}", ""]
    body = (
        f"<p>Readers reported {len(reports)} comment(s) on {e(site_name)}:</p>\n"
        f"<ul>\n{chr(10).join(items)}\n</ul>\n"
        f"<p><a href=\"{e(queue_url)}\">Review them</a></p>"
    )
    return Message(to=to, subject=subject, text="\n".join(lines), html=_page(subject, body))


# -- webhooks -------------------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: the timestamp is signed too, so
    a receiver that checks its age refuses replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_webhook_signature(
    secret: str, header: str, body: bytes, *, now: float,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the header's signature matches and is at most ``tolerance`` old."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Wait before attempt ``attempt + 1``: base, 2·base, 4·base, ... at most ``cap``."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))
