"""Request and response models of the REST API (``...In`` / ``...Out``).

Big lists (threads) are not validated through these models on the way out — the handlers
return plain dicts serialised once — but the models still document them in OpenAPI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from rostra.domain.comments import SortOrder
from rostra.domain.moderation import ModerationAction
from rostra.storage.reviews import Queue, QueueSort

#: An id or version sent by a client: positive and within BIGINT, else a 400.
ClientId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- readers ---------------------------------------------------------------------------


class CommentIn(_In):
    body: str = Field(description="Markdown subset: emphasis, code, quotes, lists, links.")
    story_id: ClientId | None = Field(None, description="The story, if known; else url "
                                      "(+ title).")
    url: str | None = Field(None, max_length=2048, description="Canonical URL of the article.")
    title: str | None = Field(None, max_length=500, description="Article title (new stories).")
    parent_id: ClientId | None = Field(None, description="The comment this replies to.")
    name: str | None = Field(None, max_length=100, description="Guests: the name to show.")
    email: str | None = Field(None, max_length=320, description="Guests: optional e-mail.")
    website: str | None = Field(None, description="Leave empty (a trap for bots).")


class CommentEditIn(_In):
    body: str


class ReportIn(_In):
    reason: Literal["abuse", "spam", "off_topic", "other"]
    note: str | None = Field(None, max_length=1000)


class StoryIn(_In):
    url: str = Field(max_length=2048)
    title: str = Field(max_length=500)


class AuthorOut(BaseModel):
    id: int | None
    name: str | None


class ReplyTo(BaseModel):
    id: int
    name: str | None


class ThreadCommentOut(BaseModel):
    """One comment in a thread; ``replies`` nest to a fixed depth (deeper ones flattened)."""

    id: int
    parent_id: int | None
    depth: int
    author: AuthorOut | None
    html: str = Field(description="Sanitised HTML, rendered when the comment was written.")
    status: Literal["published", "pending", "deleted"]
    featured: bool
    reactions: int
    reply_count: int
    created_at: datetime
    edited_at: datetime | None
    mine: bool
    reacted: bool | None = None
    reply_to: ReplyTo | None = None
    more_replies: bool | None = None
    replies: list[ThreadCommentOut]


class StoryOut(BaseModel):
    id: int
    url: str
    title: str
    closed: bool
    open: bool
    premoderation: bool
    comment_count: int
    created_at: datetime


class ThreadOut(BaseModel):
    story: StoryOut | None
    count: int = Field(description="Published comments in the story, all depths.")
    sort: SortOrder
    comments: list[ThreadCommentOut]
    featured: list[ThreadCommentOut]
    next_cursor: str | None
    last_event_id: int | None = Field(
        None, description="The story's newest live-update event when this page was read: "
                          "open the event stream with ?after= this id."
    )


class WholeThreadOut(BaseModel):
    story: StoryOut
    count: int
    comments: list[ThreadCommentOut]


class RepliesOut(BaseModel):
    comments: list[ThreadCommentOut]
    next_cursor: str | None


class PostedOut(BaseModel):
    id: int
    story_id: int
    parent_id: int | None
    status: Literal["published", "pending"]
    message: str
    html: str
    version: int
    created_at: datetime
    reader_token: str | None = Field(
        None, description="Guests: send as 'Authorization: Bearer …' to see and edit it."
    )


class CommentOut(BaseModel):
    id: int
    story_id: int
    parent_id: int | None
    status: Literal["published", "pending", "deleted"]
    html: str
    version: int
    created_at: datetime
    edited_at: datetime | None
    body: str | None = Field(None, description="The Markdown source; only for its author.")


class ReactionOut(BaseModel):
    reacted: bool
    reactions: int


class ReportOut(BaseModel):
    reported: bool
    already_reported: bool


# --- moderators --------------------------------------------------------------------------


class DecisionIn(_In):
    action: ModerationAction
    version: ClientId = Field(description="The version the moderator saw; stale means 409.")
    reason: str | None = Field(None, max_length=2000)


class DecisionItem(_In):
    id: ClientId
    version: ClientId


class BulkDecisionIn(_In):
    action: ModerationAction
    reason: str | None = Field(None, max_length=2000)
    comments: list[DecisionItem] = Field(min_length=1, max_length=200)


class BanIn(_In):
    days: float | None = Field(None, allow_inf_nan=False, gt=0, le=3650,
                               description="Suspension length; null bans for good.")
    reason: str | None = Field(None, max_length=2000)


class StorySettingsIn(_In):
    title: str | None = Field(None, max_length=500)
    closed: bool | None = None
    premoderation: bool | None = None
    close_after_days: int | None = Field(None, ge=1, le=36500)


class ModeratedOut(BaseModel):
    id: int
    status: str
    featured: bool
    reviewed: bool
    version: int


class BulkItemOut(BaseModel):
    id: int
    ok: bool
    comment: ModeratedOut | None = None
    problem: dict[str, object] | None = None


class BulkOut(BaseModel):
    results: list[BulkItemOut]


class QueueParams(BaseModel):
    queue: Queue = Queue.PENDING
    sort: QueueSort = QueueSort.SEVERITY
