"""Authors as identities: SSO readers created or refreshed on sight, guests created on demand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from rostra.domain.comments import AuthorKind
from rostra.domain.identity import Reader
from rostra.storage.tables import authors

#: How stale ``last_seen_at`` may get before a request refreshes it (saves a write per read).
SEEN_RESOLUTION = timedelta(minutes=5)
_READER_KINDS = frozenset(kind.value for kind in AuthorKind)


def upsert_sso_author(
    conn: Connection, site_id: int, sub: str, name: str, email: str | None, now: datetime
) -> int:
    """The author id for SSO subject ``sub`` of the site, creating or updating the author.

    Safe when two server processes see a new reader at once: the insert is an
    ``ON CONFLICT DO NOTHING`` on (site_id, kind, external_id), then the row is read back.
    """
    row = conn.execute(
        select(authors.c.id, authors.c.name, authors.c.email, authors.c.last_seen_at).where(
            authors.c.site_id == site_id,
            authors.c.kind == AuthorKind.SSO.value,
            authors.c.external_id == sub,
        )
    ).first()
    if row is None:
        values: dict[str, Any] = dict(
            site_id=site_id, kind=AuthorKind.SSO.value, external_id=sub, name=name, email=email,
            created_at=now, last_seen_at=now,
        )
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        inserted = conn.execute(
            dialect_insert(authors)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["site_id", "kind", "external_id"])
            .returning(authors.c.id)
        ).first()
        if inserted is not None:
            return int(inserted.id)
        # Another process inserted the same reader a moment ago; its row is committed.
        row = conn.execute(
            select(authors.c.id, authors.c.name, authors.c.email, authors.c.last_seen_at).where(
                authors.c.site_id == site_id,
                authors.c.kind == AuthorKind.SSO.value,
                authors.c.external_id == sub,
            )
        ).one()
    stale = row.last_seen_at is None or now - row.last_seen_at > SEEN_RESOLUTION
    if row.name != name or row.email != email or stale:
        conn.execute(
            update(authors)
            .where(authors.c.id == row.id)
            .values(name=name, email=email, last_seen_at=now)
        )
    return int(row.id)


def create_guest_author(
    conn: Connection, site_id: int, name: str, email: str | None, now: datetime
) -> int:
    """A new guest author; the guest proves to be them later with a reader token."""
    values = {"site_id": site_id, "kind": AuthorKind.GUEST.value, "external_id": None,
              "name": name, "email": email, "created_at": now, "last_seen_at": now}
    return int(conn.execute(_INSERT_AUTHOR, values).scalar_one())


# Built once: values go in as parameters (building the statement costs ~4x executing it).
_INSERT_AUTHOR = insert(authors).returning(authors.c.id)


def reader_for_author(conn: Connection, author_id: int) -> Reader | None:
    """The Reader an author id stands for, or None if it is gone or was forgotten."""
    row = conn.execute(
        select(authors.c.id, authors.c.site_id, authors.c.name, authors.c.kind).where(
            authors.c.id == author_id, authors.c.forgotten_at.is_(None)
        )
    ).first()
    if row is None or row.kind not in _READER_KINDS:
        return None
    return Reader(author_id=row.id, site_id=row.site_id, name=row.name, kind=AuthorKind(row.kind))
