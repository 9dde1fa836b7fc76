"""Moderators' API: queues, one comment with its evidence, decisions, authors, bans, log.

Every route needs staff who moderate the site in the path; anyone else gets 403 (or 401
without credentials) and learns nothing about the site's comments.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from rostra.actions.moderation import (
    ban_author,
    moderate,
    moderate_many,
    require_moderator,
    unban_author,
)
from rostra.actions.stories import configure_story
from rostra.domain.errors import RostraError
from rostra.domain.identity import Staff
from rostra.storage.authors import PERMANENT, AuthorStore, Ban, BanHistory
from rostra.storage.comments import Comment, CommentStore
from rostra.storage.reviews import LogEntry, Queue, QueueFilter, QueueSort, ReviewStore
from rostra.storage.stories import StoryStore
from rostra.web.api.threads import json_response, story_dict
from rostra.web.auth import StaffDep
from rostra.web.deps import ConnDep, DbDep, PathId, QueryId, SiteDep
from rostra.web.schemas import (
    BanIn,
    BulkDecisionIn,
    BulkOut,
    DecisionIn,
    ModeratedOut,
    StorySettingsIn,
)

router = APIRouter(prefix="/api/v1/sites/{site}/moderation", tags=["moderation"])


def _moderator(site: SiteDep, staff: StaffDep) -> Staff:
    require_moderator(staff, site)
    return staff


ModeratorDep = Annotated[Staff, Depends(_moderator)]


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _banned_until(value: Any) -> Any:
    return "permanent" if value == PERMANENT else _iso(value)


def _moderated(comment: Comment) -> dict[str, Any]:
    return {"id": comment.id, **comment.state()}


def _ban(b: Ban) -> dict[str, Any]:
    return {"id": b.id, "reason": b.reason, "created_at": _iso(b.created_at),
            "until": _iso(b.until), "permanent": b.until is None,
            "lifted_at": _iso(b.lifted_at), "user_id": b.user_id}


def _bans(history: BanHistory | None) -> dict[str, Any]:
    """How often the author was banned and the newest ban (current, or the last one)."""
    if history is None:
        return {"count": 0, "latest": None}
    return {"count": history.count, "latest": _ban(history.latest)}


def _queue_item(row: Any, signal: dict[str, Any] | None, reports: list[dict[str, Any]],
                bans: BanHistory | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "story": {"id": row.story_id, "title": row.story_title, "url": row.story_url},
        "parent_id": row.parent_id,
        "author": {
            "id": row.author_id,
            "name": row.author_name,
            "kind": row.author_kind,
            "comment_count": row.author_comment_count,
            "approved_count": row.author_approved_count,
            "rejected_count": row.author_rejected_count,
            "report_count": row.author_report_count,
            "banned_until": _banned_until(row.author_banned_until),
            "first_seen": _iso(row.author_created_at),
            "bans": _bans(bans),
        },
        "body": row.body,
        "html": row.html,
        "status": row.status,
        "decision": row.decision,
        "severity": row.severity,
        "labels": row.flagged_labels.split(),
        "featured": row.featured,
        "reviewed": row.reviewed,
        "version": row.version,
        "report_count": row.report_count,
        "created_at": _iso(row.created_at),
        "edited_at": _iso(row.edited_at),
        "scores": signal["scores"] if signal else {},
        "reasons": signal["reasons"] if signal else [],
        "reports": [{**r, "created_at": _iso(r["created_at"])} for r in reports],
    }


@router.get("/queue", summary="A review queue, filtered and sorted, one page at a time")
def queue(
    site: SiteDep, staff: ModeratorDep, conn: ConnDep,
    queue: Queue = Queue.PENDING,
    sort: QueueSort = QueueSort.SEVERITY,
    story_id: QueryId = None,
    author_id: QueryId = None,
    label: Annotated[str | None, Query(max_length=50)] = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text search")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> Response:
    flt = QueueFilter(queue=queue, story_id=story_id, author_id=author_id, label=label,
                      min_score=min_score, max_score=max_score, text=q)
    rows, next_cursor = ReviewStore.queue(conn, site.id, flt, sort=sort, cursor=cursor,
                                          limit=limit)
    ids = [row.id for row in rows]
    signals = ReviewStore.signals(conn, ids)
    reports = ReviewStore.reports(conn, ids)
    bans = AuthorStore.ban_histories(conn, [r.author_id for r in rows if r.author_id])
    items = [_queue_item(row, signals[row.id][0] if signals[row.id] else None, reports[row.id],
                         bans.get(row.author_id))
             for row in rows]
    return json_response({"queue": queue.value, "sort": sort.value, "items": items,
                          "next_cursor": next_cursor})


@router.get("/counts", summary="How many comments wait in each queue")
def counts(site: SiteDep, staff: ModeratorDep, conn: ConnDep) -> dict[str, int]:
    return ReviewStore.queue_counts(conn, site.id)


@router.get("/comments/{comment_id}", summary="One comment with all its evidence")
def comment_detail(site: SiteDep, staff: ModeratorDep, conn: ConnDep,
                   comment_id: PathId) -> Response:
    comment = CommentStore.get(conn, comment_id, site_id=site.id)
    story = StoryStore.get(conn, comment.story_id)
    author = AuthorStore.get(conn, comment.author_id) if comment.author_id else None
    parent = CommentStore.get(conn, comment.parent_id) if comment.parent_id else None
    signals = ReviewStore.signals(conn, [comment.id])[comment.id]
    return json_response({
        "id": comment.id,
        "story": story_dict(story, site.settings.close_after_days),
        "parent": None if parent is None else {
            "id": parent.id, "html": parent.html, "status": parent.status.value,
            "author_id": parent.author_id,
        },
        "author": None if author is None else _author(author),
        "body": comment.body,
        "html": comment.html,
        "status": comment.status.value,
        "decision": None if comment.decision is None else comment.decision.value,
        "severity": comment.severity,
        "labels": list(comment.flagged_labels),
        "featured": comment.featured,
        "reviewed": comment.reviewed,
        "version": comment.version,
        "report_count": comment.report_count,
        "created_at": _iso(comment.created_at),
        "edited_at": _iso(comment.edited_at),
        "signals": [{**s, "created_at": _iso(s["created_at"])} for s in signals],
        "reports": [{**r, "created_at": _iso(r["created_at"])}
                    for r in ReviewStore.reports(conn, [comment.id])[comment.id]],
        "edits": [{**e, "edited_at": _iso(e["edited_at"])}
                  for e in CommentStore.edits(conn, comment.id)],
        "log": [_entry(e) for e in ReviewStore.log_entries(conn, site.id, comment_id=comment.id)],
    })


@router.post("/comments/{comment_id}/decision", response_model=ModeratedOut,
             responses={409: {"description": "Someone decided first; `current` has the state"}},
             summary="Decide on one comment")
def decide(site: SiteDep, staff: ModeratorDep, db: DbDep, comment_id: PathId,
           body: DecisionIn) -> Response:
    comment = moderate(db, site=site, staff=staff, comment_id=comment_id, action=body.action,
                       version=body.version, reason=body.reason)
    return json_response(_moderated(comment))


@router.post("/decisions", response_model=BulkOut, summary="Decide on many comments")
def decide_many(site: SiteDep, staff: ModeratorDep, db: DbDep, body: BulkDecisionIn) -> Response:
    """Each comment is decided on its own: a stale one gets a problem in its result (409)
    and the others still go through."""
    outcomes = moderate_many(db, site=site, staff=staff,
                             items=[(c.id, c.version) for c in body.comments],
                             action=body.action, reason=body.reason)
    results = []
    for outcome in outcomes:
        if outcome.comment is not None:
            results.append({"id": outcome.comment_id, "ok": True,
                            "comment": _moderated(outcome.comment)})
        else:
            error: RostraError = outcome.error  # type: ignore[assignment]
            results.append({"id": outcome.comment_id, "ok": False, "problem": {
                "status": error.http_status, "code": error.code, "title": error.title,
                "detail": error.message, **error.extra}})
    return json_response({"results": results})


def _author(author: Any) -> dict[str, Any]:
    return {
        "id": author.id,
        "name": author.name,
        "kind": author.kind,
        "email": author.email,
        "comment_count": author.comment_count,
        "approved_count": author.approved_count,
        "rejected_count": author.rejected_count,
        "report_count": author.report_count,
        "banned_until": _banned_until(author.banned_until),
        "first_seen": _iso(author.created_at),
        "last_seen": _iso(author.last_seen_at),
    }


@router.get("/authors/{author_id}", summary="An author's history: comments, decisions, bans")
def author_history(
    site: SiteDep, staff: ModeratorDep, conn: ConnDep, author_id: PathId,
    before_id: QueryId = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    author = AuthorStore.get(conn, author_id, site_id=site.id)
    comments = AuthorStore.comments(conn, author.id, before_id=before_id, limit=limit)
    bans = AuthorStore.bans(conn, author.id)
    return json_response({
        "author": _author(author),
        "comments": [
            {"id": c.id, "story_id": c.story_id, "parent_id": c.parent_id, "body": c.body,
             "html": c.html, "status": c.status, "decision": c.decision,
             "severity": c.severity, "labels": c.flagged_labels.split(),
             "reviewed": c.reviewed, "featured": c.featured, "version": c.version,
             "report_count": c.report_count, "created_at": _iso(c.created_at),
             "edited_at": _iso(c.edited_at)}
            for c in comments
        ],
        "next_before_id": comments[-1].id if len(comments) == limit else None,
        "bans": [_ban(b) for b in bans],
        "log": [_entry(e) for e in ReviewStore.log_entries(conn, site.id, author_id=author.id)],
    })


@router.post("/authors/{author_id}/ban", status_code=201,
             summary="Ban (days null) or suspend an author")
def ban(site: SiteDep, staff: ModeratorDep, db: DbDep, author_id: PathId, body: BanIn) -> Response:
    result = ban_author(db, site=site, staff=staff, author_id=author_id, days=body.days,
                        reason=body.reason)
    return json_response({"author_id": author_id, "until": _iso(result.until),
                          "permanent": result.until is None, "reason": result.reason},
                         status_code=201)


@router.delete("/authors/{author_id}/ban", summary="Lift an author's bans")
def unban(site: SiteDep, staff: ModeratorDep, db: DbDep, author_id: PathId) -> dict[str, int]:
    return {"lifted": unban_author(db, site=site, staff=staff, author_id=author_id)}


@router.patch("/stories/{story_id}", summary="Close, reopen or premoderate a story")
def story_settings(site: SiteDep, staff: ModeratorDep, db: DbDep, story_id: PathId,
                   body: StorySettingsIn) -> Response:
    story = configure_story(db, site=site, staff=staff, story_id=story_id, title=body.title,
                            closed=body.closed, premoderation=body.premoderation,
                            close_after_days=body.close_after_days)
    return json_response(story_dict(story, site.settings.close_after_days))


def _entry(entry: LogEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "comment_id": entry.comment_id, "author_id": entry.author_id,
        "user_id": entry.user_id, "username": entry.username, "actor": entry.actor,
        "action": entry.action, "reason": entry.reason, "before": entry.before,
        "after": entry.after, "created_at": _iso(entry.created_at),
    }


@router.get("/log", summary="The moderation log, newest first")
def log(
    site: SiteDep, staff: ModeratorDep, conn: ConnDep,
    comment_id: QueryId = None, author_id: QueryId = None, user_id: QueryId = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    before_id: QueryId = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    entries = ReviewStore.log_entries(conn, site.id, comment_id=comment_id, author_id=author_id,
                                      user_id=user_id, action=action, before_id=before_id,
                                      limit=limit)
    return json_response({"entries": [_entry(e) for e in entries],
                          "next_before_id": entries[-1].id if len(entries) == limit else None})

