"""Readers' writes: post, edit, delete, react, report; and reading one comment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import Engine

from rostra.actions.comments import (
    Limits,
    ModerationEngineLike,
    Posted,
    author_view_status,
    delete_own_comment,
    edit_comment,
    post_comment,
    posting_tier,
    react,
    report_comment,
)
from rostra.config import Settings
from rostra.domain.comments import AuthorKind, CommentStatus
from rostra.domain.errors import CommentNotFound, InvalidInput, Unauthenticated
from rostra.domain.identity import Reader
from rostra.domain.sites import Site
from rostra.storage.comments import Comment, CommentStore
from rostra.storage.database import transaction
from rostra.storage.sites import SiteStore
from rostra.storage.writers import posting_turn
from rostra.web.api.threads import json_response
from rostra.web.auth import ReaderDep, issue_reader_token, reader_for_site
from rostra.web.deps import (
    ConnDep,
    DbDep,
    LimitsDep,
    ModerationEngineDep,
    PathId,
    SettingsDep,
    SiteDep,
)
from rostra.web.protection import check_rate_limit, honeypot_tripped
from rostra.web.schemas import (
    CommentEditIn,
    CommentIn,
    CommentOut,
    PostedOut,
    ReactionOut,
    ReportIn,
    ReportOut,
)

router = APIRouter(prefix="/api/v1/sites/{site}/comments", tags=["comments"])

MESSAGES = {
    "published": "Your comment is published.",
    "pending": "Your comment is awaiting moderation.",
}


def _need(reader: Reader | None) -> Reader:
    if reader is None:
        raise Unauthenticated("Sign in to do this")
    return reader


def comment_dict(comment: Comment) -> dict[str, Any]:
    status = author_view_status(comment.status)
    return {
        "id": comment.id,
        "story_id": comment.story_id,
        "parent_id": comment.parent_id,
        "status": status,
        "html": "" if status == "deleted" else comment.html,
        "version": comment.version,
        "created_at": comment.created_at.isoformat(),
        "edited_at": None if comment.edited_at is None else comment.edited_at.isoformat(),
    }


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _site_and_reader(request: Request, db: Engine, slug: str) -> tuple[Site, Reader | None]:
    """What SiteDep and ReaderDep give, read in the endpoint's own thread: as dependencies each
    would cost a thread-pool hop of its own."""
    if not request.headers.get("authorization"):
        with db.connect() as conn:
            return SiteStore.get_by_slug(conn, slug), None
    # An SSO token creates or refreshes its author: that reader needs a transaction.
    with transaction(db) as conn:
        site = SiteStore.get_by_slug(conn, slug)
        return site, reader_for_site(request, conn, site)


@router.post("", status_code=201, response_model=PostedOut,
             summary="Post a comment or a reply")
def post(
    request: Request, db: DbDep, engine: ModerationEngineDep, limits: LimitsDep,
    settings: SettingsDep, body: CommentIn,
    site_slug: Annotated[str, Path(alias="site", max_length=64,
                                   description="The site's slug.")],
) -> Response:
    """Scored by the moderation engine before the response; the answer says ``published`` or
    ``pending`` (held for review), never why. Guests (where allowed) send ``name`` and get a
    ``reader_token`` back."""
    site, reader = _site_and_reader(request, db, site_slug)
    # On SQLite, posts scored by the n-gram tier (fast, or cascade first) run one at a time
    # (see storage.writers). Posts that all go through the transformer are left to overlap:
    # its inference runs on every core at once, which one post at a time would lose.
    if posting_tier(site, limits) == "accurate":
        return _post(request, db, engine, limits, settings, body, site, reader)
    with posting_turn(db).held():
        return _post(request, db, engine, limits, settings, body, site, reader)


def _post(
    request: Request, db: Engine, engine: ModerationEngineLike, limits: Limits,
    settings: Settings, body: CommentIn, site: Site, reader: Reader | None,
) -> Response:
    ip = _client_ip(request)
    limit = settings.rate_limit_posts_per_minute
    if ip:
        check_rate_limit(request, f"post:ip:{site.id}:{ip}", limit)
    if reader is not None:
        check_rate_limit(request, f"post:author:{reader.author_id}", limit)
    elif honeypot_tripped(body):
        raise InvalidInput("This comment was not accepted", field="website")
    posted: Posted = post_comment(
        db, engine, site=site,
        author_id=reader.author_id if reader else None,
        guest=None if reader else (body.name or "", body.email),
        body=body.body, url=body.url, title=body.title, story_id=body.story_id,
        parent_id=body.parent_id, ip=ip, limits=limits,
    )
    out = comment_dict(posted.comment)
    out["message"] = MESSAGES[out["status"]]
    out["reader_token"] = None
    if reader is None:
        guest = Reader(author_id=posted.comment.author_id or 0, site_id=site.id,
                       name=body.name or "", kind=AuthorKind.GUEST)
        out["reader_token"] = issue_reader_token(settings.secret_key, guest)
    return json_response(out, status_code=201)


@router.get("/{comment_id}", response_model=CommentOut, summary="One comment")
def get(site: SiteDep, conn: ConnDep, reader: ReaderDep, comment_id: PathId) -> Response:
    """A published comment, or the reader's own pending one; the author also gets ``body``."""
    comment = CommentStore.get(conn, comment_id, site_id=site.id)
    mine = reader is not None and comment.author_id == reader.author_id
    visible = comment.status is CommentStatus.PUBLISHED or (
        mine and comment.status in (CommentStatus.PENDING, CommentStatus.REJECTED)
    )
    if not visible:
        raise CommentNotFound(f"No comment {comment_id} on this site")
    out = comment_dict(comment)
    if mine:
        out["body"] = comment.body  # the author's own Markdown, for the widget's edit form
    return json_response(out)


@router.patch("/{comment_id}", response_model=CommentOut, summary="Edit one's own comment")
def edit(
    site: SiteDep, db: DbDep, engine: ModerationEngineDep, limits: LimitsDep,
    reader: ReaderDep, comment_id: PathId, body: CommentEditIn,
) -> Response:
    comment = edit_comment(db, engine, site=site, reader=_need(reader), comment_id=comment_id,
                           body=body.body, limits=limits)
    return json_response(comment_dict(comment))


@router.delete("/{comment_id}", status_code=204, summary="Delete one's own comment")
def delete(site: SiteDep, db: DbDep, reader: ReaderDep, comment_id: PathId) -> Response:
    delete_own_comment(db, site=site, reader=_need(reader), comment_id=comment_id)
    return Response(status_code=204)


@router.post("/{comment_id}/reactions", response_model=ReactionOut,
             summary="Toggle the reader's reaction")
def toggle_reaction(site: SiteDep, db: DbDep, reader: ReaderDep, comment_id: PathId) -> Response:
    reacted, count = react(db, site=site, reader=_need(reader), comment_id=comment_id)
    return json_response({"reacted": reacted, "reactions": count})


@router.post("/{comment_id}/reports", status_code=201, response_model=ReportOut,
             summary="Report a comment to the moderators")
def report(
    site: SiteDep, db: DbDep, reader: ReaderDep, comment_id: PathId, body: ReportIn
) -> Response:
    added = report_comment(db, site=site, reader=_need(reader), comment_id=comment_id,
                           reason=body.reason, note=body.note)
    return json_response({"reported": True, "already_reported": not added},
                         status_code=201 if added else 200)
