"""ExampleStore: moderator decisions kept as labelled examples of their site (per-site learning).

One row per decided comment: a later decision on the same comment (a reversal) replaces it, so
the final decision wins. Label corrections and span marks are kept across reversals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from rostra.storage._upsert import insert_ignore
from rostra.storage.tables import examples


@dataclass(frozen=True, slots=True)
class StoredExample:
    id: int
    site_id: int
    comment_id: int
    text: str
    decision: str
    labels: list[str] | None
    spans: list[tuple[int, int]]
    scores: dict[str, float]
    decided_at: datetime
    user_id: int | None


def _row(r: Any) -> StoredExample:
    return StoredExample(
        id=r.id,
        site_id=r.site_id,
        comment_id=r.comment_id,
        text=r.text,
        decision=r.decision,
        labels=None if r.labels is None else [str(x) for x in r.labels],
        spans=[(int(s), int(e)) for s, e in (r.spans or [])],
        scores={str(k): float(v) for k, v in (r.scores or {}).items()},
        decided_at=r.decided_at,
        user_id=r.user_id,
    )


class ExampleStore:
    @staticmethod
    def record(
        conn: Connection,
        *,
        site_id: int,
        comment_id: int,
        author_id: int | None,
        text: str,
        decision: str,
        scores: Mapping[str, float],
        user_id: int | None,
        now: datetime,
    ) -> None:
        """Store the decision on a comment, replacing an earlier one (the final one wins)."""
        values = {
            "text": text,
            "decision": decision,
            "scores": {k: round(float(v), 6) for k, v in scores.items()},
            "decided_at": now,
            "user_id": user_id,
            "author_id": author_id,
        }
        inserted = insert_ignore(
            conn,
            examples,
            {"site_id": site_id, "comment_id": comment_id, **values},
            ("site_id", "comment_id"),
        )
        if not inserted:
            conn.execute(
                update(examples)
                .where(examples.c.site_id == site_id, examples.c.comment_id == comment_id)
                .values(**values)
            )

    @staticmethod
    def mark(
        conn: Connection,
        *,
        site_id: int,
        comment_id: int,
        labels: Sequence[str] | None,
        spans: Sequence[tuple[int, int]] | None,
    ) -> bool:
        """Set label corrections and span marks; False when the comment has no example."""
        values: dict[str, Any] = {}
        if labels is not None:
            values["labels"] = sorted(set(labels))
        if spans is not None:
            values["spans"] = [[int(s), int(e)] for s, e in sorted(set(spans))]
        if not values:
            return ExampleStore.get(conn, site_id, comment_id) is not None
        result = conn.execute(
            update(examples)
            .where(examples.c.site_id == site_id, examples.c.comment_id == comment_id)
            .values(**values)
        )
        return bool(result.rowcount)

    @staticmethod
    def get(conn: Connection, site_id: int, comment_id: int) -> StoredExample | None:
        r = conn.execute(
            select(examples).where(
                examples.c.site_id == site_id, examples.c.comment_id == comment_id
            )
        ).first()
        return None if r is None else _row(r)

    @staticmethod
    def for_site(conn: Connection, site_id: int) -> list[StoredExample]:
        """Every example of the site, oldest decision first."""
        rows = conn.execute(
            select(examples)
            .where(examples.c.site_id == site_id)
            .order_by(examples.c.decided_at, examples.c.id)
        )
        return [_row(r) for r in rows]

    @staticmethod
    def count(conn: Connection, site_id: int, *, since: datetime | None = None) -> int:
        """The site's examples; with ``since``, only decisions made after that time."""
        query = select(func.count()).select_from(examples).where(examples.c.site_id == site_id)
        if since is not None:
            query = query.where(examples.c.decided_at > since)
        return int(conn.execute(query).scalar_one())

    @staticmethod
    def forget_authors(conn: Connection, site_id: int, author_ids: Sequence[int]) -> int:
        """Remove the examples of these authors (an erasure request); returns how many."""
        if not author_ids:
            return 0
        result = conn.execute(
            delete(examples).where(
                examples.c.site_id == site_id, examples.c.author_id.in_(list(author_ids))
            )
        )
        return int(result.rowcount or 0)
