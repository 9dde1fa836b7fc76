"""ThreadStore: reading a story's discussion — one page at a time, or all of it at once.

Reads return plain dicts shaped for the API (``rostra.web`` serialises them as they are), because
a 5,000-comment thread must not pay for a dataclass and a pydantic model per comment. HTML was
rendered and sanitised at write time; reading never renders Markdown.

A page is: up to ``limit`` published top-level comments after the cursor (an index range scan on
``ix_comments_thread`` or ``ix_comments_reacted``), the reader's own pending top-level comments
in the same key range, and the replies of those roots (by ``root_id``), nested. The number of
queries is the same on page 1 of 50 comments and page 500 of 50,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    func,
    or_,
    select,
    type_coerce,
)

from rostra.domain.comments import CommentStatus, SortOrder
from rostra.storage._keyset import after, decode_cursor, encode_cursor, order
from rostra.storage.tables import authors, comments, reactions

_PUBLISHED = CommentStatus.PUBLISHED.value
_PENDING = CommentStatus.PENDING.value
_DELETED = CommentStatus.DELETED.value
#: An author sees their own held AND engine-rejected comments as "pending" (never why).
_OWN_HIDDEN = [_PENDING, CommentStatus.REJECTED.value]
#: A rejected or spam top-level comment whose replies were published stays in the thread as an
#: empty "removed" placeholder (like a deleted one), so that the replies keep their place.
_REMOVED = [CommentStatus.REJECTED.value, CommentStatus.SPAM.value]
_PLACEHOLDER = "removed"

_SORTS: dict[SortOrder, list[tuple[Any, str]]] = {
    SortOrder.OLDEST: [(comments.c.created_at, "asc"), (comments.c.id, "asc")],
    SortOrder.NEWEST: [(comments.c.created_at, "desc"), (comments.c.id, "desc")],
    SortOrder.REACTED: [(comments.c.reaction_count, "desc"), (comments.c.id, "desc")],
}

_COLUMNS = (
    comments.c.id,
    comments.c.parent_id,
    comments.c.root_id,
    comments.c.depth,
    comments.c.author_id,
    authors.c.name.label("author_name"),
    comments.c.html,
    comments.c.status,
    comments.c.featured,
    comments.c.reaction_count,
    comments.c.reply_count,
    comments.c.created_at,
    comments.c.edited_at,
)


def _select() -> Any:
    return select(*_COLUMNS).select_from(
        comments.outerjoin(authors, authors.c.id == comments.c.author_id)
    )


#: Top-level comments per part of a whole-thread read (two queries per part).
WHOLE_CHUNK = 250
_WHOLE_ROOT = or_(
    comments.c.status == _PUBLISHED,
    and_(comments.c.status.in_([_DELETED, *_REMOVED]), comments.c.reply_count > 0),
)


def _as_dict(row: Any, reader_id: int | None) -> dict[str, Any]:
    # Positional unpacking: attribute access on 5,000 rows is measurably slower.
    (id_, parent_id, _root, depth, author_id, author_name, html, status, featured, reactions,
     reply_count, created_at, edited_at) = row[:13]
    mine = reader_id is not None and author_id == reader_id
    if status in _REMOVED and not (mine and status in _OWN_HIDDEN):
        status = _PLACEHOLDER
    deleted = status in (_DELETED, _PLACEHOLDER)
    if not isinstance(created_at, str):  # ``whole`` selects them as ISO text already
        created_at = created_at.isoformat()
        edited_at = None if edited_at is None else edited_at.isoformat()
    return {
        "id": id_,
        "parent_id": parent_id,
        "depth": depth,
        "author": None if deleted else {"id": author_id, "name": author_name},
        "html": "" if deleted else html,
        "status": _PENDING if status in _OWN_HIDDEN else status,
        "featured": featured,
        "reactions": reactions,
        "reply_count": reply_count,
        "created_at": created_at,
        "edited_at": edited_at,
        "mine": mine,
        "replies": [],
    }


def _iso_text(column: Any, dialect: str) -> Any:
    """``column`` as ISO 8601 UTC text made by the database (no per-row datetime objects)."""
    if dialect == "postgresql":
        utc = func.timezone("UTC", column)
        return func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
    # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC, see tables.UTCDateTime).
    raw = type_coerce(column, String)
    return func.replace(raw, " ", "T") + "+00:00"


def _thread_order(columns: list[tuple[Any, str]]) -> list[Any]:
    """ORDER BY with the equality-filtered index columns in front.

    PostgreSQL does not treat ``parent_id IS NULL`` as fixing that column, so ``ORDER BY
    created_at, id`` alone makes it sort the whole story; spelled out as the index's full key
    (story_id, parent_id, status, ...) it walks ``ix_comments_thread`` (or
    ``ix_comments_reacted``) and stops after one page. SQLite plans both the same way.
    """
    direction = columns[0][1]
    c = comments.c
    return order([(c.story_id, direction), (c.parent_id, direction), (c.status, direction),
                  *columns])


# A page's statements are built once per shape, with bound parameters: building a SELECT in
# SQLAlchemy costs more than SQLite takes to run it, and every widget's first render reads one.
_STORY = bindparam("b_story", type_=Integer)
_READER = bindparam("b_reader", type_=Integer)


@cache
def _roots_query(sort: SortOrder) -> Any:
    """Published top-level comments of ``b_story`` in ``sort`` order, ``b_limit`` of them."""
    c = comments.c
    return (
        _select()
        .where(c.story_id == _STORY, c.parent_id.is_(None), c.status == _PUBLISHED)
        .order_by(*_thread_order(_SORTS[sort]))
        .limit(bindparam("b_limit", type_=Integer))
    )


@cache
def _other_roots_query(sort: SortOrder, own: bool) -> Any:
    """Top-level placeholders (deleted or removed, with replies) and, when ``own``, the held
    comments of reader ``b_reader``."""
    c = comments.c
    extra = [and_(c.status.in_([_DELETED, *_REMOVED]), c.reply_count > 0)]
    if own:
        extra.append(and_(c.status.in_(_OWN_HIDDEN), c.author_id == _READER))
    return (
        _select()
        .where(c.story_id == _STORY, c.parent_id.is_(None), or_(*extra))
        .order_by(*_thread_order(_SORTS[sort]))
    )


@cache
def _replies_query(own: bool) -> Any:
    """Up to ``b_max`` replies of each root in ``b_roots``, oldest first."""
    c = comments.c
    visible: ColumnElement[bool] = c.status.in_([_PUBLISHED, _DELETED])
    if own:
        visible = or_(visible, and_(c.status.in_(_OWN_HIDDEN), c.author_id == _READER))
    numbered = (
        _select()
        .add_columns(
            func.row_number()
            .over(partition_by=c.root_id, order_by=(c.created_at, c.id))
            .label("rn")
        )
        .where(c.root_id.in_(bindparam("b_roots", expanding=True)), visible)
        .subquery()
    )
    return (
        select(numbered)
        .where(numbered.c.rn <= bindparam("b_max", type_=Integer))
        .order_by(numbered.c.created_at, numbered.c.id)
    )


@cache
def _featured_query() -> Any:
    c = comments.c
    return (
        _select()
        .where(c.story_id == _STORY, c.featured.is_(True), c.status == _PUBLISHED)
        .order_by(c.created_at, c.id)
        .limit(20)
    )


def _whole_select(dialect: str) -> Any:
    columns = list(_COLUMNS[:-2]) + [
        _iso_text(comments.c.created_at, dialect).label("created_at"),
        _iso_text(comments.c.edited_at, dialect).label("edited_at"),
        comments.c.root_id,
    ]
    return select(*columns).select_from(
        comments.outerjoin(authors, authors.c.id == comments.c.author_id)
    )


@cache
def _whole_root_ids_query() -> Any:
    c = comments.c
    return (
        select(c.id)
        .where(c.story_id == bindparam("b_story"), c.parent_id.is_(None), _WHOLE_ROOT)
        .order_by(c.created_at, c.id)
    )


@cache
def _whole_part_queries(dialect: str) -> tuple[Any, Any]:
    """The roots of a part and their replies, by primary key and by ``ix_comments_root``: a
    story_id term here would have SQLite scan the story's whole ``ix_comments_thread`` range
    for every part."""
    c = comments.c
    base = _whole_select(dialect)
    ids: Any = bindparam("b_roots", expanding=True)
    top = base.where(c.id.in_(ids), c.parent_id.is_(None), _WHOLE_ROOT)
    below = base.where(c.root_id.in_(ids), c.parent_id.is_not(None),
                       c.status.in_([_PUBLISHED, _DELETED]))
    return top.order_by(c.created_at, c.id), below.order_by(c.created_at, c.id)


def nest(roots: list[dict[str, Any]], replies: Iterable[dict[str, Any]], max_depth: int) -> None:
    """Hang ``replies`` (oldest first, each with its ``root_id``) under their parents, in place.

    A reply below ``max_depth`` levels is shown beside its parent with ``reply_to`` naming the
    comment it answers (Coral's "flatten replies"); a reply whose parent is not shown (rejected,
    or pending for someone else) goes under its root. Deleted comments stay only as empty
    placeholders that keep their shown replies in place.
    """
    nodes: dict[int, dict[str, Any]] = {c["id"]: c for c in roots}
    level: dict[int, int] = {c["id"]: 0 for c in roots}
    host_of: dict[int, dict[str, Any]] = {}
    for reply in replies:
        root_id = reply.pop("root_id", None)
        parent = nodes.get(reply["parent_id"]) or nodes.get(root_id or -1)
        if parent is None:
            continue
        host = parent
        if level[parent["id"]] >= max_depth:
            host = host_of[parent["id"]]
            author = parent["author"]
            reply["reply_to"] = {"id": parent["id"], "name": author["name"] if author else None}
        host["replies"].append(reply)
        nodes[reply["id"]] = reply
        level[reply["id"]] = level[host["id"]] + 1
        host_of[reply["id"]] = host
    _prune_deleted(roots)


def _prune_deleted(nodes: list[dict[str, Any]]) -> None:
    for node in nodes:
        _prune_deleted(node["replies"])
    nodes[:] = [n for n in nodes if n["status"] not in (_DELETED, _PLACEHOLDER) or n["replies"]]


@dataclass
class ThreadPage:
    comments: list[dict[str, Any]]
    next_cursor: str | None
    featured: list[dict[str, Any]] = field(default_factory=list)


class ThreadStore:
    @staticmethod
    def page(
        conn: Connection,
        story_id: int,
        *,
        sort: SortOrder = SortOrder.OLDEST,
        cursor: str | None = None,
        limit: int = 20,
        reader_id: int | None = None,
        max_replies: int = 100,
        max_depth: int = 6,
    ) -> ThreadPage:
        columns = _SORTS[sort]
        kind = f"t:{sort.value}"
        resume = decode_cursor(cursor, kind, len(columns)) if cursor else None
        params = {"b_story": story_id, "b_limit": limit + 1, "b_reader": reader_id}
        top = _roots_query(sort)
        if resume is not None:
            top = top.where(after(columns, resume))
        rows = list(conn.execute(top, params))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(kind, [getattr(rows[-1], col.key) for col, _ in columns])

        # Besides the published page: top-level comments their authors deleted that still
        # have published replies (shown as placeholders), and the reader's own held ones.
        # Both are few and found on the same index; only those in this page's key range.
        others = _other_roots_query(sort, reader_id is not None)
        if resume is not None:
            others = others.where(after(columns, resume))
        other_rows = list(conn.execute(others, params))
        if next_cursor is not None:
            # Only those that sort before the next page starts; the rest come later.
            last = [getattr(rows[-1], col.key) for col, _ in columns]
            other_rows = [r for r in other_rows if not _is_after(r, columns, last)]
        rows = _merge(rows, other_rows, columns)

        roots = [_as_dict(r, reader_id) for r in rows]
        if roots:
            replies = ThreadStore._replies(
                conn, [r["id"] for r in roots], reader_id=reader_id, max_replies=max_replies
            )
            counts = {r["id"]: 0 for r in roots}
            for reply in replies:
                counts[reply["root_id"]] += 1
            nest(roots, replies, max_depth)
            for root in roots:
                # reply_count is direct replies; more_replies says the page cut a subthread.
                root["more_replies"] = counts[root["id"]] >= max_replies
        featured = []
        if cursor is None:
            featured = [_as_dict(r, reader_id)
                        for r in conn.execute(_featured_query(), {"b_story": story_id})]
        if reader_id is not None:
            ThreadStore._mark_reacted(conn, reader_id, roots + featured)
        return ThreadPage(roots, next_cursor, featured)

    @staticmethod
    def _replies(
        conn: Connection, root_ids: list[int], *, reader_id: int | None, max_replies: int
    ) -> list[dict[str, Any]]:
        params = {"b_roots": root_ids, "b_max": max_replies, "b_reader": reader_id}
        out = []
        for row in conn.execute(_replies_query(reader_id is not None), params):
            item = _as_dict(row, reader_id)
            item["root_id"] = row.root_id
            out.append(item)
        return out

    @staticmethod
    def replies_of(
        conn: Connection,
        root_id: int,
        *,
        cursor: str | None = None,
        limit: int = 100,
        reader_id: int | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Further replies of one top-level comment, flat and oldest first (``load more``)."""
        c = comments.c
        columns = _SORTS[SortOrder.OLDEST]
        visible = c.status == _PUBLISHED
        if reader_id is not None:
            visible = or_(visible, and_(c.status.in_(_OWN_HIDDEN), c.author_id == reader_id))
        query = (
            _select()
            .add_columns(c.root_id)
            .where(c.root_id == root_id, visible)
            .order_by(*order(columns))
            .limit(limit + 1)
        )
        if cursor:
            query = query.where(after(columns, decode_cursor(cursor, "r", 2)))
        rows = list(conn.execute(query))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor("r", [rows[-1].created_at, rows[-1].id])
        items = [_as_dict(r, reader_id) for r in rows]
        if reader_id is not None:
            ThreadStore._mark_reacted(conn, reader_id, items)
        return items, next_cursor

    @staticmethod
    def _mark_reacted(conn: Connection, reader_id: int, items: list[dict[str, Any]]) -> None:
        every: dict[int, list[dict[str, Any]]] = {}

        def walk(nodes: list[dict[str, Any]]) -> None:
            for node in nodes:
                every.setdefault(node["id"], []).append(node)
                walk(node["replies"])

        walk(items)
        if not every:
            return
        mine = set(
            conn.execute(
                select(reactions.c.comment_id).where(
                    reactions.c.author_id == reader_id, reactions.c.comment_id.in_(list(every))
                )
            ).scalars()
        )
        for comment_id, nodes in every.items():
            for node in nodes:
                node["reacted"] = comment_id in mine

    @staticmethod
    def by_ids(conn: Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
        """Published comments by id, each shaped like a thread item without replies (the
        live-update stream sends these)."""
        if not ids:
            return {}
        c = comments.c
        rows = conn.execute(_select().where(c.id.in_(ids), c.status == _PUBLISHED))
        return {row.id: _as_dict(row, None) for row in rows}

    @staticmethod
    def whole(conn: Connection, story_id: int, *, max_depth: int = 6) -> list[dict[str, Any]]:
        """Every published comment of the story, nested, oldest first."""
        return [root for part in ThreadStore.whole_parts(conn, story_id, max_depth=max_depth)
                for root in part]

    @staticmethod
    def whole_parts(
        conn: Connection, story_id: int, *, max_depth: int = 6
    ) -> Iterator[list[dict[str, Any]]]:
        """The whole thread ``WHOLE_CHUNK`` top-level comments at a time (each with all its
        shown replies), oldest first; a part may be empty when all its roots are gone."""
        ids = ThreadStore.whole_root_ids(conn, story_id)
        for start in range(0, len(ids), WHOLE_CHUNK):
            yield ThreadStore.whole_part(conn, ids[start:start + WHOLE_CHUNK],
                                         max_depth=max_depth)

    @staticmethod
    def whole_root_ids(conn: Connection, story_id: int) -> list[int]:
        """The ids of the top-level comments the whole thread shows, oldest first: published
        ones, and removed or deleted ones that keep replies in place."""
        return list(conn.execute(_whole_root_ids_query(), {"b_story": story_id}).scalars().all())

    @staticmethod
    def whole_part(conn: Connection, root_ids: list[int], *,
                   max_depth: int = 6) -> list[dict[str, Any]]:
        """The top-level comments ``root_ids`` (from ``whole_root_ids``, a few hundred at a
        time) with all their shown replies, nested, oldest first: two queries. A whole thread
        read part by part never holds more than one part's objects."""
        if not root_ids:
            return []
        top, below = _whole_part_queries(conn.dialect.name)
        params = {"b_roots": root_ids}
        roots = [_as_dict(row, None) for row in conn.execute(top, params).all()]
        replies = []
        for row in conn.execute(below, params).all():
            item = _as_dict(row, None)
            item["root_id"] = row[13]
            replies.append(item)
        nest(roots, replies, max_depth)
        return roots


def _key(row: Any, columns: list[tuple[Any, str]]) -> list[Any]:
    return [getattr(row, col.key) for col, _ in columns]


def _is_after(row: Any, columns: list[tuple[Any, str]], last: list[Any]) -> bool:
    key = _key(row, columns)
    return key > last if columns[0][1] == "asc" else key < last


def _merge(rows: list[Any], extra: list[Any], columns: list[tuple[Any, str]]) -> list[Any]:
    if not extra:
        return rows
    merged = rows + extra
    merged.sort(key=lambda r: _key(r, columns), reverse=columns[0][1] == "desc")
    return merged
