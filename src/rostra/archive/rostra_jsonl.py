"""Rostra's own export: JSON Lines, one object per line with a ``type``; see docs/export.md.

The first line is the header (``{"type": "rostra-export", "version": 1, ...}``), then every
``story``, then every ``author``, then every ``comment`` in id order (so parents come before
their replies). ``read_rostra`` turns such a file back into import records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import IO, Any

from rostra.archive.records import (
    ArchiveError,
    ArchiveRecord,
    ImportedAuthor,
    ImportedComment,
    ImportedEdit,
    ImportedStory,
    Skipped,
    oversized,
    parse_timestamp,
)
from rostra.domain.comments import CommentStatus
from rostra.domain.rendering import sanitize_html

FORMAT = "rostra-export"
VERSION = 1
SOURCE = "rostra"
#: Longest line the reader accepts (a comment at the body limit, HTML and edits included).
MAX_LINE_BYTES = 8 * 1024 * 1024


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__}")


def encode_record(kind: str, data: Mapping[str, Any]) -> bytes:
    """One line of an export: ``{"type": kind, ...data}`` as UTF-8 JSON with a newline."""
    line = json.dumps(
        {"type": kind, **data}, ensure_ascii=False, default=_json_default, separators=(",", ":")
    )
    return line.encode("utf-8") + b"\n"


def header(scope: str, site: Mapping[str, Any], exported_at: datetime) -> bytes:
    """The first line of an export; ``scope`` is "site" or "author"."""
    return encode_record(
        FORMAT,
        {"version": VERSION, "scope": scope, "exported_at": exported_at, "site": dict(site)},
    )


class _Bad(ValueError):
    """A field of one record has the wrong type; the record is skipped."""


def _str(data: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _Bad(key)
    return value


def _int(data: Mapping[str, Any], key: str, *, optional: bool = False, default: int = 0) -> int:
    value = data.get(key, default if optional else None)
    if value is None and optional:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(key)
    return value


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise _Bad(key)
    return value


def _time(data: Mapping[str, Any], key: str, *, optional: bool = True) -> datetime | None:
    raw = data.get(key)
    if raw is None and optional:
        return None
    parsed = parse_timestamp(raw) if isinstance(raw, str) else None
    if parsed is None:
        raise _Bad(key)
    return parsed


def read_rostra(stream: IO[bytes]) -> Iterator[ArchiveRecord]:
    """Records of a Rostra export; a bad line becomes ``Skipped``, a bad file ``ArchiveError``."""
    slug = ""
    authors: dict[int, ImportedAuthor] = {}
    for number, raw in enumerate(_lines(stream), start=1):
        where = f"line {number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ArchiveError(f"Line {number} of the export is not valid UTF-8") from exc
        if number == 1:
            slug = _read_header(line)
            continue
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            yield Skipped("not valid JSON", where)
            continue
        if not isinstance(data, dict):
            yield Skipped("not a JSON object", where)
            continue
        kind = data.get("type")
        try:
            if kind == "story":
                yield _story(data)
            elif kind == "author":
                author_id = _int(data, "id")
                authors[author_id] = _author(data, slug)
                yield authors[author_id]
            elif kind == "comment":
                yield _comment(data, slug, authors, where)
            else:
                yield Skipped(f"unknown record type {str(kind)[:30]!r}", where)
        except _Bad as bad:
            yield Skipped(f"{kind} record with a missing or invalid {bad}", where)


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES:
            raise ArchiveError(f"A line of the export is longer than {MAX_LINE_BYTES} bytes")
        yield line


def _read_header(line: str) -> str:
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("type") != FORMAT:
        raise ArchiveError("Not a Rostra export: the first line is not a rostra-export header")
    if data.get("version") != VERSION:
        raise ArchiveError(f"Unsupported Rostra export version {data.get('version')!r}")
    site = data.get("site")
    slug = site.get("slug") if isinstance(site, dict) else None
    if not isinstance(slug, str) or not slug:
        raise ArchiveError("The export header names no site slug")
    return slug


def _story(data: Mapping[str, Any]) -> ImportedStory:
    close_after = data.get("close_after_days")
    if close_after is not None and (
        isinstance(close_after, bool) or not isinstance(close_after, int)
    ):
        raise _Bad("close_after_days")
    url = _str(data, "url") or ""
    if not url or len(url) > 2048:
        raise _Bad("url")
    return ImportedStory(
        external_id=str(_int(data, "id")),
        url=url,
        title=(_str(data, "title") or "")[:500],
        created_at=_time(data, "created_at", optional=False),
        closed=_bool(data, "closed"),
        premoderation=_bool(data, "premoderation"),
        close_after_days=close_after,
    )


def _author(data: Mapping[str, Any], slug: str) -> ImportedAuthor:
    author_id = _int(data, "id")
    kind = _str(data, "kind") or ""
    if kind not in ("sso", "guest", "local", "import"):
        raise _Bad("kind")
    return ImportedAuthor(
        external_id=_str(data, "external_id", optional=True) or f"{slug}:{author_id}",
        kind=kind,
        name=(_str(data, "name") or "")[:200],
        email=_str(data, "email", optional=True),
        created_at=_time(data, "created_at", optional=False),
        last_seen_at=_time(data, "last_seen_at"),
        banned_until=_time(data, "banned_until"),
        notify_replies=_bool(data, "notify_replies"),
        forgotten_at=_time(data, "forgotten_at"),
    )


def _comment(
    data: Mapping[str, Any], slug: str, authors: Mapping[int, ImportedAuthor], where: str
) -> ImportedComment | Skipped:
    comment_id = _int(data, "id")
    try:
        status = CommentStatus(str(data.get("status")))
    except ValueError:
        raise _Bad("status") from None
    body = _str(data, "body") or ""
    too_big = oversized(body)
    if too_big is not None:
        return Skipped(too_big.reason, where)
    author_id = data.get("author_id")
    author = None
    if author_id is not None:
        author = authors.get(author_id) if isinstance(author_id, int) else None
        if author is None:
            return Skipped("comment by an author not in the export", where)
    severity = data.get("severity", 0.0)
    if isinstance(severity, bool) or not isinstance(severity, int | float):
        raise _Bad("severity")
    parent_id = data.get("parent_id")
    parent_external_id = parent_source = None
    if parent_id is not None:
        parent_source = _str(data, "parent_source", optional=True) or SOURCE
        parent_external_id = (
            _str(data, "parent_external_id", optional=True) or f"{slug}:{parent_id}"
        )
    edits_raw = data.get("edits") or []
    if not isinstance(edits_raw, list) or not all(isinstance(e, dict) for e in edits_raw):
        raise _Bad("edits")
    edits = tuple(
        ImportedEdit(
            body=_str(e, "body") or "",
            html=sanitize_html(_str(e, "html") or ""),
            edited_at=_time(e, "edited_at", optional=False),  # type: ignore[arg-type]
        )
        for e in edits_raw
    )
    return ImportedComment(
        external_id=_str(data, "external_id", optional=True) or f"{slug}:{comment_id}",
        story_external_id=str(_int(data, "story_id")),
        parent_external_id=parent_external_id,
        parent_source=parent_source,
        author=author,
        body=body,
        html=sanitize_html(_str(data, "html") or ""),
        status=status,
        created_at=_time(data, "created_at", optional=False),  # type: ignore[arg-type]
        source=(_str(data, "source", optional=True) or SOURCE)[:16],
        edited_at=_time(data, "edited_at"),
        ip=_str(data, "ip", optional=True),
        featured=_bool(data, "featured"),
        decision=_str(data, "decision", optional=True),
        severity=float(severity),
        flagged_labels=_str(data, "flagged_labels", optional=True) or "",
        reviewed=_bool(data, "reviewed"),
        version=_int(data, "version", optional=True, default=1),
        reaction_count=_int(data, "reaction_count", optional=True),
        report_count=_int(data, "report_count", optional=True),
        edits=edits,
    )
