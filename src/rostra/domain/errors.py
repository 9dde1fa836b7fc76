"""Every error Rostra reports to a user, with a stable ``code`` and an HTTP status.

Tree::

    RostraError
    ├── InvalidInput          400  (field + reason)
    ├── Unauthenticated       401  (no or bad credentials, expired SSO token)
    ├── NotAllowed            403  (not a moderator of this site, banned, story closed, ...)
    │   ├── AuthorBanned
    │   ├── StoryClosed
    │   └── EditWindowExpired
    ├── NotFound              404  (SiteNotFound, StoryNotFound, CommentNotFound, ...)
    ├── Conflict              409  (stale version: another moderator acted first)
    ├── PayloadTooLarge       413
    ├── RateLimited           429  (retry_after seconds)
    └── ScorerNotLoaded       500  (programming error: score() before load())

``rostra.web.errors`` turns them into RFC 9457 problem objects; the CLI into a message and a
non-zero exit.
"""

from __future__ import annotations

from typing import Any


class RostraError(Exception):
    code = "error"
    http_status = 400
    title = "Request failed"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or self.title
        self.extra = extra
        super().__init__(self.message)


class InvalidInput(RostraError):
    code = "invalid_input"
    http_status = 400
    title = "Invalid input"

    def __init__(self, message: str | None = None, *, field: str | None = None, **extra: Any):
        if field is not None:
            extra["field"] = field
        super().__init__(message, **extra)


class Unauthenticated(RostraError):
    code = "unauthenticated"
    http_status = 401
    title = "Authentication required"


class NotAllowed(RostraError):
    code = "not_allowed"
    http_status = 403
    title = "Not allowed"


class AuthorBanned(NotAllowed):
    code = "author_banned"
    title = "You are not allowed to comment on this site"


class StoryClosed(NotAllowed):
    code = "story_closed"
    title = "Comments on this story are closed"


class EditWindowExpired(NotAllowed):
    code = "edit_window_expired"
    title = "This comment can no longer be changed"


class NotFound(RostraError):
    code = "not_found"
    http_status = 404
    title = "Not found"


class SiteNotFound(NotFound):
    code = "site_not_found"
    title = "No such site"


class StoryNotFound(NotFound):
    code = "story_not_found"
    title = "No such story"


class CommentNotFound(NotFound):
    code = "comment_not_found"
    title = "No such comment"


class AuthorNotFound(NotFound):
    code = "author_not_found"
    title = "No such author"


class Conflict(RostraError):
    code = "conflict"
    http_status = 409
    title = "Someone else changed this first"


class PayloadTooLarge(RostraError):
    code = "payload_too_large"
    http_status = 413
    title = "Request body too large"


class RateLimited(RostraError):
    code = "rate_limited"
    http_status = 429
    title = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int, **extra: Any):
        extra["retry_after"] = retry_after
        self.retry_after = retry_after
        super().__init__(message or f"Too many requests; try again in {retry_after} s", **extra)


class ScorerNotLoaded(RostraError):
    code = "scorer_not_loaded"
    http_status = 500
    title = "The moderation model is not loaded"
