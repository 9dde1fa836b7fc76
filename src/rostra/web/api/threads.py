"""Public reads: a story's thread page by page or whole, more replies, counts; get-or-create
a story. Thread JSON is built from plain dicts and serialised once (no per-comment models)."""

from __future__ import annotations

import threading
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response

from rostra.actions.comments import canonical_url, utcnow
from rostra.actions.stories import open_story
from rostra.domain.comments import CommentStatus, SortOrder
from rostra.domain.errors import CommentNotFound
from rostra.storage.comments import CommentStore
from rostra.storage.events import EventStore
from rostra.storage.stories import Story, StoryStore
from rostra.storage.threads import ThreadStore
from rostra.web.auth import ReaderDep
from rostra.web.deps import ConnDep, DbDep, PathId, SettingsDep, SiteDep
from rostra.web.schemas import RepliesOut, StoryIn, StoryOut, ThreadOut, WholeThreadOut

router = APIRouter(prefix="/api/v1/sites/{site}", tags=["threads"])

MAX_DEPTH = 6  # nesting shown in JSON; deeper replies are flattened with reply_to
_WHOLE_THREAD_BUILDS = threading.BoundedSemaphore(1)


def _plain(value: Any) -> Any:
    """What orjson does not write itself: float subclasses (numpy) as numbers, else text."""
    if isinstance(value, float):
        return float(value)
    return str(value)


# orjson writes a 5,000-comment thread (3 MB) about 15 times faster than json.dumps. Datetimes
# and dataclasses go through ``_plain`` as they went through ``default=str`` before.
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, default=_plain, option=_ORJSON_OPTIONS)


def json_response(payload: Any, status_code: int = 200) -> Response:
    return Response(_dumps(payload), status_code=status_code, media_type="application/json")


def story_dict(story: Story, site_close_after_days: int | None) -> dict[str, Any]:
    return {
        "id": story.id,
        "url": story.url,
        "title": story.title,
        "closed": story.closed,
        "open": story.is_open(utcnow(), site_close_after_days),
        "premoderation": story.premoderation,
        "comment_count": story.comment_count,
        "created_at": story.created_at.isoformat(),
    }


def page_payload(conn: Any, site: Any, story: Story | None, *, sort: SortOrder,
                 cursor: str | None, limit: int, reader_id: int | None) -> dict[str, Any]:
    """One page of ``story``'s thread as the API shows it (``ThreadOut``)."""
    if story is None:
        return {"story": None, "count": 0, "sort": sort.value, "comments": [], "featured": [],
                "next_cursor": None}
    # Read before the comments: a live stream resumed from here misses nothing on the page.
    last_event_id = EventStore.last_id(conn, story.id)
    page = ThreadStore.page(conn, story.id, sort=sort, cursor=cursor, limit=limit,
                            reader_id=reader_id, max_depth=MAX_DEPTH)
    return {
        "last_event_id": last_event_id,
        "story": story_dict(story, site.settings.close_after_days),
        "count": story.comment_count,
        "sort": sort.value,
        "comments": page.comments,
        "featured": page.featured,
        "next_cursor": page.next_cursor,
    }


def first_page(conn: Any, site: Any, url: str, *, sort: SortOrder, limit: int,
               reader_id: int | None) -> dict[str, Any]:
    """The first page of the thread of the story at ``url`` (nothing is created by reading)."""
    story = StoryStore.find(conn, site.id, canonical_url(url))
    return page_payload(conn, site, story, sort=sort, cursor=None, limit=limit,
                        reader_id=reader_id)


def _page(conn: Any, site: Any, story: Story | None, *, sort: SortOrder, cursor: str | None,
          limit: int, reader_id: int | None) -> Response:
    return json_response(page_payload(conn, site, story, sort=sort, cursor=cursor, limit=limit,
                                      reader_id=reader_id))


SortQuery = Annotated[SortOrder, Query(description="oldest, newest or reacted")]
CursorQuery = Annotated[str | None, Query(max_length=500, description="next_cursor of the "
                                                                       "previous page")]
LimitQuery = Annotated[int | None, Query(ge=1, le=100)]


@router.get("/thread", response_model=ThreadOut, summary="A page of a story's thread, by URL")
def thread_by_url(
    site: SiteDep, conn: ConnDep, reader: ReaderDep, settings: SettingsDep,
    url: Annotated[str, Query(max_length=2048)],
    sort: SortQuery = SortOrder.OLDEST, cursor: CursorQuery = None, limit: LimitQuery = None,
) -> Response:
    """Published comments plus the reader's own pending ones; a story nobody commented on
    yet is ``story: null`` (nothing is created by reading)."""
    story = StoryStore.find(conn, site.id, canonical_url(url))
    return _page(conn, site, story, sort=sort, cursor=cursor, limit=limit or settings.page_size,
                 reader_id=reader.author_id if reader else None)


@router.get("/stories/{story_id}/comments", response_model=ThreadOut,
            summary="A page of a story's thread")
def thread(
    site: SiteDep, conn: ConnDep, reader: ReaderDep, settings: SettingsDep, story_id: PathId,
    sort: SortQuery = SortOrder.OLDEST, cursor: CursorQuery = None, limit: LimitQuery = None,
) -> Response:
    story = StoryStore.get(conn, story_id, site_id=site.id)
    return _page(conn, site, story, sort=sort, cursor=cursor, limit=limit or settings.page_size,
                 reader_id=reader.author_id if reader else None)


@router.get("/stories/{story_id}/comments/all", response_model=WholeThreadOut,
            summary="The whole published thread in one response (export, benchmarks)")
def whole_thread(site: SiteDep, db: DbDep, story_id: PathId) -> Response:
    # A 5,000-comment thread is 3 MB of JSON but ~10 MB of Python objects: it is read in
    # parts, each written out as JSON before the next is read, so only one part's objects are
    # ever alive. The build is CPU-bound under the GIL, so building one thread at a time loses
    # nothing and keeps a burst of such reads from growing the process; the database
    # connection is taken inside the lock, so waiting reads hold none (each SQLite connection
    # fills a page cache of its own).
    with _WHOLE_THREAD_BUILDS, db.connect() as conn:
        story = StoryStore.get(conn, story_id, site_id=site.id)
        body = [b'{"story":', _dumps(story_dict(story, site.settings.close_after_days)),
                b',"count":', _dumps(story.comment_count), b',"comments":[']
        first = len(body)
        for part in ThreadStore.whole_parts(conn, story.id, max_depth=MAX_DEPTH):
            if part:
                if len(body) > first:
                    body.append(b",")
                body.append(_dumps(part)[1:-1])  # the list's items without its brackets
        body.append(b"]}")
        return Response(b"".join(body), media_type="application/json")


@router.get("/comments/{comment_id}/replies", response_model=RepliesOut,
            summary="More replies of a top-level comment, oldest first")
def replies(
    site: SiteDep, conn: ConnDep, reader: ReaderDep, comment_id: PathId,
    cursor: CursorQuery = None, limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> Response:
    root = CommentStore.get(conn, comment_id, site_id=site.id)
    if root.status is not CommentStatus.PUBLISHED:
        raise CommentNotFound(f"No comment {comment_id} on this site")
    items, next_cursor = ThreadStore.replies_of(
        conn, root.root_id or root.id, cursor=cursor, limit=limit,
        reader_id=reader.author_id if reader else None,
    )
    return json_response({"comments": items, "next_cursor": next_cursor})


@router.get("/stories/{story_id}", response_model=StoryOut, summary="One story")
def story(site: SiteDep, conn: ConnDep, story_id: PathId) -> Response:
    return json_response(story_dict(StoryStore.get(conn, story_id, site_id=site.id),
                                    site.settings.close_after_days))


@router.post("/stories", response_model=StoryOut, summary="Get or create a story by URL")
def get_or_create_story(site: SiteDep, db: DbDep, body: StoryIn) -> Response:
    """What the widget calls with the page's canonical URL and title."""
    story = open_story(db, site=site, url=body.url, title=body.title)
    return json_response(story_dict(story, site.settings.close_after_days))


@router.get("/counts", summary="Published comment counts of many stories (article lists)")
def counts(
    site: SiteDep, conn: ConnDep,
    url: Annotated[list[str], Query(max_length=100, description="Repeat for each story")],
) -> dict[str, int]:
    keys = {u: canonical_url(u) for u in url}
    found = StoryStore.counts(conn, site.id, list(set(keys.values())))
    return {original: found[key] for original, key in keys.items()}
