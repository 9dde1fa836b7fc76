"""The records every archive reader yields, whatever the format it reads."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, TypeVar

from rostra.domain.comments import CommentStatus
from rostra.domain.errors import InvalidInput
from rostra.domain.text import made_storable, unstorable

#: Longest comment body an import accepts; longer records are skipped with a reason.
MAX_BODY_CHARS = 200_000
#: Longest story URL the ``stories`` table stores.
MAX_URL_CHARS = 2048


_T = TypeVar("_T")


def _compact_pickle(cls: type[_T]) -> type[_T]:
    """Pickle as ``cls(*fields)``: about half the cost of the dataclass default, which counts
    when records cross from a reader process to the writing one (``archive.background``)."""
    values = attrgetter(*cls.__slots__)  # type: ignore[attr-defined]

    def reduce(self: Any) -> tuple[type[_T], tuple[Any, ...]]:
        return cls, values(self)

    setattr(cls, "__reduce__", reduce)  # noqa: B010 - a dunder set on a built class
    return cls


class ArchiveError(InvalidInput):
    """The archive cannot be read any further (broken XML, not an Isso database, bad UTF-8)."""

    code = "invalid_archive"
    title = "The archive cannot be read"


@_compact_pickle
@dataclass(frozen=True, slots=True)
class ImportedStory:
    """A page comments were written under; ``external_id`` is the archive's own thread id."""

    external_id: str
    url: str
    title: str
    created_at: datetime | None = None
    closed: bool = False
    premoderation: bool = False
    close_after_days: int | None = None


@_compact_pickle
@dataclass(frozen=True, slots=True)
class ImportedAuthor:
    """A commenter. ``(kind, external_id)`` identifies them across runs of the same import."""

    external_id: str
    name: str
    email: str | None = None
    kind: str = "import"
    created_at: datetime | None = None
    last_seen_at: datetime | None = None
    banned_until: datetime | None = None
    notify_replies: bool = False
    forgotten_at: datetime | None = None


@_compact_pickle
@dataclass(frozen=True, slots=True)
class ImportedEdit:
    """One earlier version of a comment (Rostra exports only)."""

    body: str
    html: str
    edited_at: datetime


@_compact_pickle
@dataclass(frozen=True, slots=True)
class ImportedComment:
    """A comment; stories and parents are referred to by the archive's ids, not ours."""

    external_id: str
    story_external_id: str
    parent_external_id: str | None
    author: ImportedAuthor | None
    body: str  # text source (Markdown for Isso and Rostra, text of the HTML otherwise)
    html: str  # sanitised HTML shown to readers
    status: CommentStatus
    created_at: datetime
    source: str  # the system the comment was first written in: disqus, wordpress, isso, rostra
    edited_at: datetime | None = None
    ip: str | None = None
    featured: bool = False
    decision: str | None = None
    severity: float = 0.0
    flagged_labels: str = ""
    reviewed: bool = False
    version: int = 1
    reaction_count: int = 0
    report_count: int = 0
    parent_source: str | None = None  # the parent's source when it differs (Rostra exports)
    edits: tuple[ImportedEdit, ...] = field(default=())


@_compact_pickle
@dataclass(frozen=True, slots=True)
class Skipped:
    """A record the reader could not use: ``reason`` is short and groupable, ``where`` finds it."""

    reason: str
    where: str


ArchiveRecord = ImportedStory | ImportedAuthor | ImportedComment | Skipped


def parse_timestamp(value: str | None) -> datetime | None:
    """An ISO 8601 or ``YYYY-MM-DD HH:MM:SS`` timestamp as an aware UTC datetime, else None.

    Timestamps without a zone are taken as UTC (Disqus and WordPress GMT fields are UTC).
    """
    if value is None:
        return None
    value = value.strip()
    if not value or value.startswith("0000-00-00"):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def oversized(body: str) -> Skipped | None:
    """A ``Skipped`` reason for a body over the import limit (caller fills ``where``)."""
    if len(body) > MAX_BODY_CHARS:
        return Skipped(f"body longer than {MAX_BODY_CHARS} characters", "")
    return None


def _unstorable_text(value: str | None) -> str | None:
    """Why a text could not be stored, or None: what the API refuses in a comment too."""
    return None if value is None else unstorable(value)


def _text_fields(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    names = [f.name for f in fields(cls) if "str" in str(f.type)]
    return attrgetter(*names)


_TEXTS: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    cls: _text_fields(cls) for cls in (ImportedStory, ImportedAuthor, ImportedEdit, ImportedComment)
}


def _unstorable_fields(record: ImportedStory | ImportedAuthor | ImportedComment) -> str | None:
    texts = [t for t in _TEXTS[type(record)](record) if t]
    if isinstance(record, ImportedComment):
        for part in (record.author, *record.edits):
            if part is not None:
                texts += [t for t in _TEXTS[type(part)](part) if t]
    # One look at all the texts of a record; the reason comes from the text that has it.
    if _unstorable_text("".join(texts)) is None:
        return None
    return next(r for t in texts if (r := _unstorable_text(t)) is not None)


def _cleaned_author(author: ImportedAuthor) -> ImportedAuthor:
    if _unstorable_text(author.name) is None and _unstorable_text(author.email) is None:
        return author
    email = None if author.email is None else (made_storable(author.email) or None)
    return replace(author, name=made_storable(author.name) or "Anonymous", email=email)


def storable(record: ArchiveRecord) -> ArchiveRecord:
    """``record`` as a database can store it. A name, an e-mail address or a story title loses
    its NUL characters (which PostgreSQL refuses) and has each lone surrogate (not UTF-8)
    replaced by U+FFFD. A comment's text, or an id or URL, with either is not changed but
    skipped, with the reason: the API refuses such a comment too."""
    if isinstance(record, Skipped):
        return record
    if isinstance(record, ImportedStory):
        if _unstorable_text(record.title) is not None:
            record = replace(record, title=made_storable(record.title))
    elif isinstance(record, ImportedAuthor):
        record = _cleaned_author(record)
    elif record.author is not None:
        author = _cleaned_author(record.author)
        if author is not record.author:
            record = replace(record, author=author)
    reason = _unstorable_fields(record)
    if reason is None:
        return record
    kind = {ImportedStory: "story", ImportedAuthor: "author"}.get(type(record), "comment")
    return Skipped(f"{reason} in {kind}", f"{kind} id={record.external_id[:100]!r}")


def author_identity(
    source: str, *, name: str | None, email: str | None, username: str | None = None
) -> ImportedAuthor | None:
    """The author of an imported comment, identified by username, else email, else name.

    Emails and names enter ``external_id`` only as a hash, so the key carries no personal data
    once ``rostra forget`` has erased the name and email columns.
    """
    name = (name or "").strip()
    email = (email or "").strip() or None
    if email is not None and (len(email) > 320 or "@" not in email):
        email = None  # not an address anyone could be reached at; keep the name only
    username = (username or "").strip()
    if username:
        key = f"{source}:user:{username[:180]}"
    elif email:
        key = f"{source}:email:{_digest(email.lower())}"
    elif name:
        key = f"{source}:name:{_digest(name)}"
    else:
        return None
    return ImportedAuthor(
        external_id=key, name=(name or username or "Anonymous")[:200], email=email
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
