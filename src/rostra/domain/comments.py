"""Comment states and the transitions a moderator or author may make between them."""

from __future__ import annotations

from enum import StrEnum

from rostra.domain.moderation import Decision, ModerationAction


class CommentStatus(StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    REJECTED = "rejected"
    SPAM = "spam"
    DELETED = "deleted"


class AuthorKind(StrEnum):
    SSO = "sso"
    GUEST = "guest"
    LOCAL = "local"


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    COMMENTER = "commenter"


class SortOrder(StrEnum):
    OLDEST = "oldest"
    NEWEST = "newest"
    REACTED = "reacted"


#: Status a new comment gets from the policy decision.
STATUS_FOR_DECISION: dict[Decision, CommentStatus] = {
    Decision.APPROVE: CommentStatus.PUBLISHED,
    Decision.REVIEW: CommentStatus.PENDING,
    Decision.REJECT: CommentStatus.REJECTED,
}

#: Status a moderator action leads to (feature/unfeature keep the status).
STATUS_FOR_ACTION: dict[ModerationAction, CommentStatus | None] = {
    ModerationAction.APPROVE: CommentStatus.PUBLISHED,
    ModerationAction.REJECT: CommentStatus.REJECTED,
    ModerationAction.SPAM: CommentStatus.SPAM,
    ModerationAction.FEATURE: None,
    ModerationAction.UNFEATURE: None,
}


def can_moderate(status: CommentStatus) -> bool:
    """A deleted comment is gone for good; everything else can be re-decided."""
    return status is not CommentStatus.DELETED


def is_visible_to_readers(status: CommentStatus) -> bool:
    return status is CommentStatus.PUBLISHED
