"""INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike (no savepoints needed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignore(
    conn: Connection, table: Table, values: dict[str, Any], conflict: Sequence[str]
) -> bool:
    """Insert ``values`` unless a row with the same ``conflict`` columns exists.

    Returns True when a row was inserted. Two concurrent callers never both insert and never
    fail: the loser of the race gets False, which is what get-or-create and toggles need.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).values(**values).on_conflict_do_nothing(
            index_elements=list(conflict)
        )
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing(
            index_elements=list(conflict)
        )
    else:  # pragma: no cover - only the two supported databases
        raise NotImplementedError(dialect)
    # rowcount is not reliable for ON CONFLICT DO NOTHING on every driver; RETURNING is.
    returned = conn.execute(stmt.returning(table.c[conflict[0]])).first()
    return returned is not None
