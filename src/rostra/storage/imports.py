"""Bulk, idempotent writes of imported archives: stories, authors and threaded comments.

``ArchiveImporter`` takes records one at a time and writes them in batches, each batch in a
transaction of its own, so an interrupted import leaves whole batches behind and a second run
adds only what is missing: stories are matched by URL, authors by ``(kind, external_id)`` and
comments by ``(site_id, source, external_id)``. Replies are linked to parents by the archive's
ids through the database, so memory stays flat whatever the file's size; a reply that comes
before its parent is stored first and linked when the import finishes. Comment ids follow
the order of the file. Counters (story
counts, reply counts, author tallies) are recomputed once per touched story and author.

A site's own export read back into it names the records that had no external id (native
comments, guests, forgotten authors) ``<slug>:<id>``; with ``native_prefix`` set to
``"<slug>:"`` such a key also finds the site's record of that id when it has no external id
and was created at the same instant, so restoring an export into its own site adds nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    select,
    text,
    update,
)

from rostra.archive.records import (
    ArchiveRecord,
    ImportedAuthor,
    ImportedComment,
    ImportedStory,
    Skipped,
)
from rostra.domain.comments import CommentStatus
from rostra.storage.tables import authors, comment_edits, comments, sites, stories

BATCH_SIZE = 5000
#: Comments and authors stay cached (ids and tree placement only) in two generations of up to
#: this many entries each: the older generation is dropped when the newer one fills up, so
#: recent parents are found without a query and memory stays bounded on any file size.
CACHE_LIMIT = 100_000
SQLITE_CACHE_KIB = 64 * 1024  # page cache of the importing connection
_CHUNK = 500  # ids per IN (...) list in the final passes
_PUBLISHED = CommentStatus.PUBLISHED.value
_REJECTED = (CommentStatus.REJECTED.value, CommentStatus.SPAM.value)

CommentKey = tuple[str, str]  # (source, external_id)
#: The source of comments written on Rostra itself (no external id unless imported).
NATIVE_SOURCE = "rostra"


@dataclass(frozen=True, slots=True)
class _Placed:
    """Where a stored comment sits, for linking its replies."""

    id: int
    story_id: int
    root_id: int | None
    depth: int
    parent_id: int | None
    author_id: int | None = None


class _Recent:
    """A bounded map: the newest ``limit`` keys, and up to ``limit`` older ones before them.

    When the newer generation fills up it becomes the older one (no copy) and the previous
    older one is dropped, so at most ``2 * limit`` entries are ever held.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.newer: dict[Any, Any] = {}
        self.older: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self.newer) + len(self.older)

    def __getitem__(self, key: Any) -> Any:
        value = self.newer.get(key, _ABSENT)
        return self.older[key] if value is _ABSENT else value

    def get(self, key: Any, default: Any = None) -> Any:
        value = self.newer.get(key, _ABSENT)
        return self.older.get(key, default) if value is _ABSENT else value

    def __contains__(self, key: object) -> bool:
        return key in self.newer or key in self.older

    def __setitem__(self, key: Any, value: Any) -> None:
        if len(self.newer) >= self.limit:
            self.older, self.newer = self.newer, {}
        self.newer[key] = value

    def forget(self) -> None:
        self.newer, self.older = {}, {}


_ABSENT = object()


@dataclass(slots=True)
class ImportStats:
    """What an import did; ``skipped`` and ``notes`` count reasons, ``examples`` locate them."""

    stories_created: int = 0
    stories_existing: int = 0
    authors_created: int = 0
    comments_created: int = 0
    comments_existing: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self._example(reason, where)

    def note(self, reason: str, where: str) -> None:
        self.notes[reason] += 1
        self._example(reason, where)

    def _example(self, reason: str, where: str) -> None:
        examples = self.examples.setdefault(reason, [])
        if len(examples) < 3 and where:
            examples.append(where)


#: Called inside each batch's transaction with the comments it created.
BatchHook = Callable[[Connection, list["Created"]], None]


@dataclass(frozen=True, slots=True)
class Created:
    """A comment this import stored: our id, its author's id and the record it came from."""

    id: int
    author_id: int | None
    record: ImportedComment


class ArchiveImporter:
    """Writes the records of one archive into one site; call ``add`` per record, then ``finish``."""

    def __init__(
        self,
        engine: Engine,
        site_id: int,
        *,
        now: datetime,
        batch_size: int = BATCH_SIZE,
        on_batch: BatchHook | None = None,
        native_prefix: str | None = None,
    ) -> None:
        self.engine = engine
        self.native_prefix = native_prefix
        self.site_id = site_id
        self.now = now
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.stats = ImportStats()
        self._stories: list[ImportedStory] = []
        self._new_authors: list[ImportedAuthor] = []
        self._comments: list[ImportedComment] = []
        self._story_ids: dict[str, int] = {}  # archive thread id -> our story id
        self._authors = _Recent(CACHE_LIMIT)  # (kind, external_id) -> author id
        self._placed = _Recent(CACHE_LIMIT)  # (source, external_id) -> _Placed
        self._orphans: list[ImportedComment] = []  # their story was not read yet
        self._deferred: list[tuple[int, CommentKey]] = []  # stored before their parent
        self._touched_stories: set[int] = set()
        self._touched_authors: set[int] = set()
        self._batches = 0

    # -- intake ----------------------------------------------------------------------------
    def add(self, record: ArchiveRecord) -> None:
        if isinstance(record, Skipped):
            self.stats.skip(record.reason, record.where)
        elif isinstance(record, ImportedStory):
            self._stories.append(record)
            if len(self._stories) >= self.batch_size:
                with self.engine.begin() as conn:
                    self._write_stories(conn)
        elif isinstance(record, ImportedAuthor):
            self._new_authors.append(record)
            if len(self._new_authors) >= self.batch_size:
                with self.engine.begin() as conn:
                    self._write_authors(conn)
        else:
            self._comments.append(record)
            if len(self._comments) >= self.batch_size:
                self.flush()

    def flush(self) -> None:
        """Write what is buffered, in one transaction."""
        if not self._stories and not self._comments and not self._new_authors:
            return
        with self.engine.begin() as conn:
            _tune(conn)
            self._write_stories(conn)
            self._write_authors(conn)
            batch, self._comments = self._comments, []
            self._write_comments(conn, batch, final=False)
        self._batches += 1
        if self._batches & (self._batches - 1) == 0:  # after batch 1, 2, 4, 8, ...
            self._refresh_statistics()

    def _refresh_statistics(self) -> None:
        """PostgreSQL plans the ``external_id IN (...)`` lookups from table statistics; on
        tables that grew from empty during the import they say "tiny" and the plan becomes a
        sequential scan per batch. ANALYZE samples a fixed number of rows, so it stays cheap."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE comments, authors, stories")

    def finish(self) -> ImportStats:
        """Write the rest, link late parents, recompute counters; returns the statistics."""
        self.flush()
        orphans, self._orphans = self._orphans, []
        for start in range(0, len(orphans), self.batch_size):
            with self.engine.begin() as conn:
                self._write_comments(conn, orphans[start : start + self.batch_size], final=True)
        self._refresh_statistics()
        self._link_deferred()
        recount(self.engine, self._touched_stories, self._touched_authors, site_id=self.site_id)
        return self.stats

    # -- stories ---------------------------------------------------------------------------
    def _write_stories(self, conn: Connection) -> None:
        batch, self._stories = self._stories, []
        by_url: dict[str, ImportedStory] = {}
        for story in batch:
            by_url.setdefault(story.url, story)
        found = dict(
            conn.execute(
                select(stories.c.url, stories.c.id).where(
                    stories.c.site_id == self.site_id, stories.c.url.in_(list(by_url))
                )
            ).all()
        )
        self.stats.stories_existing += len(found)
        new = [story for url, story in by_url.items() if url not in found]
        if new:
            rows = [
                {
                    "site_id": self.site_id,
                    "url": s.url,
                    "title": s.title,
                    "closed": s.closed,
                    "premoderation": s.premoderation,
                    "close_after_days": s.close_after_days,
                    "comment_count": 0,
                    "top_level_count": 0,
                    "created_at": s.created_at or self.now,
                }
                for s in new
            ]
            # A plain executemany, then the ids read back: RETURNING in parameter order would
            # make SQLite insert row by row.
            _insert_rows(conn, stories, rows)
            found.update(
                conn.execute(
                    select(stories.c.url, stories.c.id).where(
                        stories.c.site_id == self.site_id,
                        stories.c.url.in_([s.url for s in new]),
                    )
                ).all()
            )
            self.stats.stories_created += len(new)
        for story in batch:
            self._story_ids[story.external_id] = found[story.url]

    # -- authors ---------------------------------------------------------------------------
    def _write_authors(self, conn: Connection) -> None:
        batch, self._new_authors = self._new_authors, []
        self._author_ids(conn, ((a, None) for a in batch))

    def _author_ids(
        self, conn: Connection, wanted: Iterable[tuple[ImportedAuthor, datetime | None]]
    ) -> None:
        """Find or create the authors; one first seen on a comment dates from that comment."""
        missing: dict[tuple[str, str], ImportedAuthor] = {}
        first_seen: dict[tuple[str, str], datetime | None] = {}
        for author, seen in wanted:
            key = (author.kind, author.external_id)
            if key not in self._authors and key not in missing:
                missing[key] = author
                first_seen[key] = seen
        if not missing:
            return
        self._find_authors(conn, list(missing))
        if self.native_prefix:
            self._find_native_authors(conn, missing)
        new = [a for key, a in missing.items() if key not in self._authors]
        if not new:
            return
        when = [first_seen[(a.kind, a.external_id)] for a in new]
        rows = [
            {
                "site_id": self.site_id,
                "kind": a.kind,
                "external_id": a.external_id,
                "name": a.name,
                "email": a.email,
                "created_at": a.created_at or seen or self.now,
                "last_seen_at": a.last_seen_at,
                "banned_until": a.banned_until,
                "comment_count": 0,
                "approved_count": 0,
                "rejected_count": 0,
                "report_count": 0,
                "notify_replies": a.notify_replies,
                "forgotten_at": a.forgotten_at,
            }
            for a, seen in zip(new, when, strict=True)
        ]
        _insert_rows(conn, authors, rows)  # then read back: see _write_stories
        self._find_authors(conn, [(a.kind, a.external_id) for a in new])
        self.stats.authors_created += len(new)

    def _find_authors(self, conn: Connection, keys: list[tuple[str, str]]) -> None:
        by_kind: dict[str, list[str]] = {}
        for kind, ext in keys:
            by_kind.setdefault(kind, []).append(ext)
        for kind, exts in by_kind.items():
            for ext, author_id in _select_in(
                conn, "SELECT external_id, id FROM authors WHERE site_id = {p} AND kind = {p}"
                " AND external_id", (self.site_id, kind), exts,
            ):  # fmt: skip
                self._authors[(kind, ext)] = author_id

    def _native_ids(self, keys: Iterable[tuple[str, str]]) -> dict[int, tuple[str, str]]:
        """``{id: key}`` for the keys whose second part is ``<native_prefix><id>``."""
        prefix = self.native_prefix
        found: dict[int, tuple[str, str]] = {}
        if not prefix:
            return found
        for key in keys:
            number = key[1][len(prefix) :] if key[1].startswith(prefix) else ""
            if number.isascii() and number.isdigit() and len(number) < 19:  # fits a BIGINT
                found[int(number)] = key
        return found

    def _find_native_authors(
        self, conn: Connection, missing: dict[tuple[str, str], ImportedAuthor]
    ) -> None:
        """Authors of this site named by ``<native_prefix><id>`` keys (see the module doc):
        same id and kind, no external id, created at the same instant."""
        wanted = self._native_ids(key for key in missing if key not in self._authors)
        a = authors.c
        for chunk in _chunks(sorted(wanted), _CHUNK):
            for author_id, kind, created_at in conn.execute(
                select(a.id, a.kind, a.created_at).where(
                    a.site_id == self.site_id, a.external_id.is_(None), a.id.in_(chunk)
                )
            ):
                key = wanted[author_id]
                if key[0] == kind and missing[key].created_at == created_at:
                    self._authors[key] = author_id

    # -- comments --------------------------------------------------------------------------
    def _lookup(self, conn: Connection, keys: Iterable[CommentKey]) -> None:
        """Put the stored comments among ``keys`` into the placement cache."""
        by_source: dict[str, list[str]] = {}
        for source, ext in keys:
            if (source, ext) not in self._placed:
                by_source.setdefault(source, []).append(ext)
        if not by_source:
            return
        for source, exts in by_source.items():
            rows = _select_in(
                conn, "SELECT external_id, id, story_id, root_id, depth, parent_id, author_id"
                " FROM comments WHERE site_id = {p} AND source = {p} AND external_id",
                (self.site_id, source), exts,
            )  # fmt: skip
            for ext, *place in rows:
                self._placed[(source, ext)] = _Placed(*place)

    def _find_native(
        self,
        conn: Connection,
        keys: Iterable[CommentKey],
        records: Mapping[CommentKey, ImportedComment],
    ) -> None:
        """Native comments of this site named by ``(rostra, <native_prefix><id>)`` keys that
        ``_lookup`` did not find (see the module doc). A key with its record here must also
        match the creation time; a parent's key alone is taken on the id."""
        wanted = self._native_ids(
            key for key in keys if key[0] == NATIVE_SOURCE and key not in self._placed
        )
        c = comments.c
        for chunk in _chunks(sorted(wanted), _CHUNK):
            rows = conn.execute(
                select(c.id, c.story_id, c.root_id, c.depth, c.parent_id, c.author_id,
                       c.created_at)
                .where(c.site_id == self.site_id, c.source == NATIVE_SOURCE,
                       c.external_id.is_(None), c.id.in_(chunk))
            )  # fmt: skip
            for *place, created_at in rows:
                key = wanted[place[0]]
                record = records.get(key)
                if record is None or record.created_at == created_at:
                    self._placed[key] = _Placed(*place)

    def _write_comments(
        self, conn: Connection, batch: Sequence[ImportedComment], *, final: bool
    ) -> None:
        ready: dict[CommentKey, ImportedComment] = {}
        for record in batch:
            if record.story_external_id not in self._story_ids:
                if final:
                    self.stats.skip("story not in the archive", _where(record))
                else:
                    self._orphans.append(record)
                continue
            key = (record.source, record.external_id)
            if key in ready:
                self.stats.skip("duplicate comment id in the archive", _where(record))
                continue
            ready[key] = record
        if not ready:
            return
        parents = {_parent_key(r) for r in ready.values()} - {None}
        self._lookup(conn, [*ready, *parents])  # type: ignore[list-item]
        if self.native_prefix:
            self._find_native(conn, [*ready, *parents], ready)  # type: ignore[list-item]
        pending: dict[CommentKey, ImportedComment] = {}
        for key, record in ready.items():
            place = self._placed.get(key)
            if place is None:
                pending[key] = record
                continue
            self.stats.comments_existing += 1
            self._touched_stories.add(place.story_id)
            if place.author_id is not None:
                self._touched_authors.add(place.author_id)
            if place.parent_id is None and record.parent_external_id is not None:
                self._deferred.append((place.id, _parent_key(record)))  # type: ignore[arg-type]
        self._author_ids(
            conn, ((r.author, r.created_at) for r in pending.values() if r.author is not None)
        )
        if pending:
            created = self._insert_comments(conn, pending)
            self._write_edits(conn, created)
            if self.on_batch is not None:
                self.on_batch(conn, created)

    def _insert_comments(
        self, conn: Connection, pending: dict[CommentKey, ImportedComment]
    ) -> list[Created]:
        """One executemany in file order, with ids taken up front so replies can point at
        parents earlier in the same batch; a parent later in the file is linked at the end."""
        ids = _allocate_comment_ids(conn, self.site_id, len(pending))
        rows: list[list[Any]] = []
        created: list[Created] = []
        for comment_id, (key, record) in zip(ids, pending.items(), strict=True):
            story_id = self._story_ids[record.story_external_id]
            parent_key = _parent_key(record)
            parent = None if parent_key is None else self._placed.get(parent_key)
            if parent_key is not None and parent is None:
                self._deferred.append((comment_id, parent_key))
            elif parent is not None and (parent.story_id != story_id or parent_key == key):
                self.stats.note("parent in another story; imported as top-level", _where(record))
                parent = None
            author_id = (
                None
                if record.author is None
                else self._authors[(record.author.kind, record.author.external_id)]
            )
            place = _Placed(
                comment_id,
                story_id,
                None if parent is None else (parent.root_id or parent.id),
                0 if parent is None else parent.depth + 1,
                None if parent is None else parent.id,
            )
            self._placed[key] = place
            rows.append(_comment_row(self.site_id, record, place, author_id))
            created.append(Created(comment_id, author_id, record))
            self._touched_stories.add(story_id)
            if author_id is not None:
                self._touched_authors.add(author_id)
        _insert_values(conn, comments, _COMMENT_COLUMNS, rows)
        self.stats.comments_created += len(created)
        return created

    def _write_edits(self, conn: Connection, created: list[Created]) -> None:
        rows = [
            {"comment_id": c.id, "body": e.body, "html": e.html, "edited_at": e.edited_at}
            for c in created
            for e in c.record.edits
        ]
        if rows:
            conn.execute(insert(comment_edits), rows)

    # -- late parents ----------------------------------------------------------------------
    def _link_deferred(self) -> None:
        """Link replies stored before their parents, then fix depth and root in their stories."""
        deferred, self._deferred = self._deferred, []
        stories_to_fix: set[int] = set()
        for start in range(0, len(deferred), _CHUNK):
            chunk = deferred[start : start + _CHUNK]
            with self.engine.begin() as conn:
                self._placed.forget()
                self._lookup(conn, [key for _, key in chunk])
                if self.native_prefix:
                    self._find_native(conn, [key for _, key in chunk], {})
                story_of = dict(
                    conn.execute(
                        select(comments.c.id, comments.c.story_id).where(
                            comments.c.id.in_([cid for cid, _ in chunk])
                        )
                    ).all()
                )
                links = []
                for comment_id, key in chunk:
                    parent = self._placed.get(key)
                    where = f"comment {key[0]}:{key[1]}'s reply (our id {comment_id})"
                    if parent is None:
                        self.stats.note("parent not in the archive; imported as top-level", where)
                    elif parent.story_id != story_of.get(comment_id) or parent.id == comment_id:
                        self.stats.note("parent in another story; imported as top-level", where)
                    else:
                        links.append({"cid": comment_id, "pid": parent.id})
                        stories_to_fix.add(parent.story_id)
                if links:
                    conn.execute(
                        update(comments)
                        .where(comments.c.id == bindparam("cid"))
                        .values(parent_id=bindparam("pid")),
                        links,
                    )
        self._placed.forget()
        for story_id in stories_to_fix:
            with self.engine.begin() as conn:
                broken = fix_tree(conn, story_id)
            for comment_id in broken:
                self.stats.note(
                    "reply cycle in the archive; imported as top-level", f"id {comment_id}"
                )


def _insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """``INSERT`` rows given as dicts with the same keys (see ``_insert_values``)."""
    if rows:
        names = list(rows[0])
        _insert_values(conn, table, names, [list(row.values()) for row in rows])


def _insert_values(
    conn: Connection, table: Table, names: Sequence[str], rows: list[list[Any]]
) -> None:
    """``INSERT`` many rows (lists of values in the order of ``names``, converted in place)
    with the columns' own bind conversions, through the driver: COPY on PostgreSQL, one
    executemany on SQLite. The SQLAlchemy statement path costs more per row than the insert."""
    if not rows:
        return
    dialect = conn.dialect
    for i, name in enumerate(names):
        convert = table.c[name].type._cached_bind_processor(dialect)
        if convert is None:
            continue
        for row in rows:
            value = row[i]
            if value is not None:
                row[i] = convert(value)
    columns = ", ".join(names)
    if dialect.name == "postgresql":
        # COPY takes the rows in one stream: several times faster than an executemany.
        raw = conn.connection.driver_connection
        copy_sql = f"COPY {table.name} ({columns}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(names))
    statement = f"INSERT INTO {table.name} ({columns}) VALUES ({marks})"
    conn.exec_driver_sql(statement, [tuple(row) for row in rows])


def _tune(conn: Connection) -> None:
    """Settings of the importing transaction.

    SQLite: a bigger page cache (the default 2 MB thrashes on the comment indexes of a big
    site). PostgreSQL: the commit does not wait for its WAL flush; a crash can lose only the
    last batches, never corrupt anything, and the next run of the import adds them again.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


def _select_in(
    conn: Connection, sql: str, params: tuple[Any, ...], values: list[Any]
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql`` + ``IN (values)``; ``{p}`` in ``sql`` marks a parameter. Written for the
    driver directly: building these statements with SQLAlchemy cost more than running them."""
    if conn.dialect.name == "postgresql":
        statement = sql.format(p="%s") + " = ANY(%s)"
        yield from conn.exec_driver_sql(statement, (*params, values))
        return
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        statement = sql.format(p="?") + f" IN ({', '.join('?' * len(chunk))})"
        yield from conn.exec_driver_sql(statement, (*params, *chunk))


def _allocate_comment_ids(conn: Connection, site_id: int, count: int) -> list[int]:
    """``count`` new, increasing comment ids that no other writer will take.

    PostgreSQL hands them out from the column's sequence. SQLite has one writer at a time: a
    no-op write takes the write lock first, so the ids after ``max(id)`` stay ours until the
    transaction ends (SQLite itself gives a new row ``max(rowid) + 1``).
    """
    if conn.dialect.name == "postgresql":
        values = conn.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('comments', 'id'))"
                " FROM generate_series(1, :count)"
            ),
            {"count": count},
        ).scalars()
        return sorted(values)
    conn.execute(update(sites).where(sites.c.id == site_id).values(id=sites.c.id))
    top = conn.execute(select(func.coalesce(func.max(comments.c.id), 0))).scalar_one()
    return list(range(top + 1, top + 1 + count))


def _parent_key(record: ImportedComment) -> CommentKey | None:
    if record.parent_external_id is None:
        return None
    return (record.parent_source or record.source, record.parent_external_id)


def _where(record: ImportedComment) -> str:
    return f"{record.source} comment {record.external_id}"


_COMMENT_COLUMNS = (
    "id", "site_id", "story_id", "parent_id", "root_id", "depth", "author_id", "body", "html",
    "status", "featured", "decision", "severity", "flagged_labels", "reviewed", "version",
    "reply_count", "reaction_count", "report_count", "ip", "source", "external_id",
    "created_at", "edited_at",
)  # fmt: skip


def _comment_row(
    site_id: int, record: ImportedComment, place: _Placed, author_id: int | None
) -> list[Any]:
    """The values of ``_COMMENT_COLUMNS`` for a new comment."""
    return [
        place.id, site_id, place.story_id, place.parent_id, place.root_id, place.depth,
        author_id, record.body, record.html, record.status.value, record.featured,
        record.decision, record.severity, record.flagged_labels, record.reviewed,
        record.version, 0, record.reaction_count, record.report_count, record.ip,
        record.source, record.external_id, record.created_at, record.edited_at,
    ]  # fmt: skip


def fix_tree(conn: Connection, story_id: int) -> list[int]:
    """Recompute ``root_id`` and ``depth`` of a story's comments from their parent links.

    Returns the ids of comments found in a reply cycle; they are cut loose as top-level.
    """
    c = comments.c
    rows = conn.execute(select(c.id, c.parent_id, c.root_id, c.depth).where(c.story_id == story_id))
    parent_of: dict[int, int | None] = {}
    stored: dict[int, tuple[int | None, int]] = {}
    for comment_id, parent_id, root_id, depth in rows:
        parent_of[comment_id] = parent_id
        stored[comment_id] = (root_id, depth)
    placed: dict[int, tuple[int | None, int]] = {}
    broken: list[int] = []
    for start in parent_of:
        chain: list[int] = []
        on_chain: set[int] = set()
        node: int | None = start
        while node is not None and node not in placed:
            if node in on_chain:  # a cycle: cut it at this node
                broken.append(node)
                parent_of[node] = None
                placed[node] = (None, 0)
                break
            chain.append(node)
            on_chain.add(node)
            node = parent_of.get(node)
            if node is not None and node not in parent_of:
                node = None  # parent outside the story: treat as top-level
        for comment_id in reversed(chain):
            if comment_id in placed:
                continue
            parent = parent_of.get(comment_id)
            if parent is None or parent not in placed:
                placed[comment_id] = (None, 0)
            else:
                root, depth = placed[parent]
                placed[comment_id] = (root or parent, depth + 1)
    changes = [
        {"cid": cid, "root": root, "depth": depth}
        for cid, (root, depth) in placed.items()
        if stored[cid] != (root, depth)
    ]
    if broken:
        conn.execute(
            update(comments).where(c.id.in_(broken)).values(parent_id=None, root_id=None, depth=0)
        )
    if changes:
        conn.execute(
            update(comments)
            .where(c.id == bindparam("cid"))
            .values(root_id=bindparam("root"), depth=bindparam("depth")),
            changes,
        )
    return broken


def recount(
    engine: Engine,
    story_ids: Iterable[int],
    author_ids: Iterable[int],
    *,
    site_id: int | None = None,
) -> None:
    """Recompute stored counters from the comments themselves.

    Stories: ``comment_count`` (published, any depth), ``top_level_count`` (published, top
    level). Comments: ``reply_count`` (published direct replies). Authors, as the comment
    store keeps them: ``comment_count`` (every comment), ``approved_count`` (published),
    ``rejected_count`` (rejected or spam).

    Each chunk of ids is counted with one grouped pass over its comments, and only counters
    that differ are written. With ``site_id`` and many ids (a big import), one grouped pass
    over the whole site's comments replaces the per-chunk index walks.
    """
    wanted_stories = sorted(set(story_ids))
    wanted_authors = sorted(set(author_ids))
    c = comments.c
    if site_id is not None and len(wanted_stories) > _WHOLE_SITE:
        with engine.begin() as conn:
            in_site = c.site_id == site_id
            _recount_stories(conn, wanted_stories, stories.c.site_id == site_id, in_site)
            _recount_replies(conn, in_site)
    else:
        for chunk in _chunks(wanted_stories, _CHUNK):
            with engine.begin() as conn:
                _recount_stories(conn, chunk, stories.c.id.in_(chunk), c.story_id.in_(chunk))
                _recount_replies(conn, c.story_id.in_(chunk))
    if site_id is not None and len(wanted_authors) > _WHOLE_SITE:
        with engine.begin() as conn:
            _recount_authors(
                conn, set(wanted_authors), authors.c.site_id == site_id, c.site_id == site_id
            )
    else:
        for chunk in _chunks(wanted_authors, _CHUNK):
            with engine.begin() as conn:
                _recount_authors(conn, None, authors.c.id.in_(chunk), c.author_id.in_(chunk))


#: Above this many stories or authors to recount, the site's comments are counted in one pass.
_WHOLE_SITE = 5000


def _published(*also: Any) -> Any:
    return func.coalesce(func.sum(case((and_(comments.c.status == _PUBLISHED, *also), 1),
                                       else_=0)), 0)  # fmt: skip


def _write_changes(conn: Connection, table: Table, changes: list[dict[str, Any]]) -> None:
    """``UPDATE table SET ... WHERE id = :id_`` for each dict of new values (same keys)."""
    if not changes:
        return
    names = [k for k in changes[0] if k != "id_"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("id_"))
        .values({name: bindparam(name) for name in names})
    )
    for start in range(0, len(changes), BATCH_SIZE):
        conn.execute(statement, changes[start : start + BATCH_SIZE])


def _recount_stories(
    conn: Connection, wanted: list[int], stored_where: Any, counted_where: Any
) -> None:
    c = comments.c
    counted = {
        story_id: (total, top)
        for story_id, total, top in conn.execute(
            select(c.story_id, _published(), _published(c.parent_id.is_(None)))
            .where(counted_where)
            .group_by(c.story_id)
        )
    }
    keep = set(wanted)
    stored = conn.execute(
        select(stories.c.id, stories.c.comment_count, stories.c.top_level_count).where(
            stored_where
        )
    )
    _write_changes(
        conn,
        stories,
        [
            {"id_": sid, "comment_count": n, "top_level_count": top}
            for sid, *was in stored
            if sid in keep
            for n, top in [counted.get(sid, (0, 0))]
            if tuple(was) != (n, top)
        ],
    )


def _recount_replies(conn: Connection, where: Any) -> None:
    """Set ``reply_count`` of the comments ``where`` finds where it differs from their
    published direct replies (few writes)."""
    c = comments.c
    counted: dict[int, int] = dict(
        conn.execute(
            select(c.parent_id, func.count())
            .where(where, c.parent_id.is_not(None), c.status == _PUBLISHED)
            .group_by(c.parent_id)
        ).all()
    )
    stored: dict[int, tuple[int, int]] = {
        cid: (n, story_id)
        for cid, n, story_id in conn.execute(
            select(c.id, c.reply_count, c.story_id).where(where, c.reply_count != 0)
        )
    }
    changes = []
    for cid, n in counted.items():
        was = stored.pop(cid, None)
        if was is None or was[0] != n:
            changes.append({"id_": cid, "reply_count": n})
    changes.extend({"id_": cid, "reply_count": 0} for cid in stored)
    _write_changes(conn, comments, changes)


def _recount_authors(
    conn: Connection, wanted: set[int] | None, stored_where: Any, counted_where: Any
) -> None:
    c = comments.c
    a = authors.c
    rejected = func.coalesce(func.sum(case((c.status.in_(_REJECTED), 1), else_=0)), 0)
    counted = {
        author_id: tuple(counts)
        for author_id, *counts in conn.execute(
            select(c.author_id, func.count(), _published(), rejected)
            .where(counted_where, c.author_id.is_not(None))
            .group_by(c.author_id)
        )
    }
    stored = conn.execute(
        select(a.id, a.comment_count, a.approved_count, a.rejected_count).where(stored_where)
    )
    _write_changes(
        conn,
        authors,
        [
            {"id_": aid, "comment_count": n, "approved_count": ok, "rejected_count": no}
            for aid, *was in stored
            if wanted is None or aid in wanted
            for n, ok, no in [counted.get(aid, (0, 0, 0))]
            if tuple(was) != (n, ok, no)
        ],
    )


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
