"""Keyset ("seek") pagination: opaque cursors and the WHERE clause that resumes after one.

A page query orders by a few columns ending with ``id``; the cursor holds the last row's values
of those columns. Resuming is an index range scan, so page 1,000 costs what page 1 costs.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, literal, or_, tuple_
from sqlalchemy.types import TypeDecorator

from rostra.domain.errors import InvalidInput

Direction = str  # "asc" | "desc"

#: Integers either database stores (BIGINT); a cursor carrying more is not one of ours.
_MAX_INT = 2**63 - 1


def encode_cursor(kind: str, values: Sequence[Any]) -> str:
    encoded = [{"dt": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    raw = json.dumps([kind, encoded], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, arity: int) -> list[Any]:
    """The values in ``cursor``; InvalidInput when it is not one of ours for this ``kind``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found_kind, values = json.loads(raw)
        if found_kind != kind or not isinstance(values, list) or len(values) != arity:
            raise ValueError
        decoded = [datetime.fromisoformat(v["dt"]) if isinstance(v, dict) else v for v in values]
        for value in decoded:
            if not isinstance(value, int | float | str | datetime) or isinstance(value, bool):
                raise ValueError
        return decoded
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("This cursor is not valid for this list", field="cursor") from None


def _check_value(column: Any, value: Any) -> None:
    """InvalidInput unless a cursor's value fits its column (the client can edit a cursor)."""
    column_type = getattr(column, "type", None)
    if isinstance(column_type, TypeDecorator):  # UTCDateTime: its impl knows the type
        column_type = column_type.impl_instance
    try:
        expected: type | None = column_type.python_type  # type: ignore[union-attr]
    except (AttributeError, NotImplementedError):
        expected = None
    if isinstance(value, int) and not -_MAX_INT <= value <= _MAX_INT:
        ok = False
    elif isinstance(value, float):
        ok = math.isfinite(value) and expected in (None, float)
    elif isinstance(value, datetime):
        ok = value.tzinfo is not None and expected in (None, datetime)
        try:
            value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:00-05:00 is past the end of time in UTC
            ok = False
    elif expected is float:
        ok = isinstance(value, int)
    else:
        ok = expected is None or isinstance(value, expected)
    if not ok:
        raise InvalidInput("This cursor is not valid for this list", field="cursor")


def after(columns: Sequence[tuple[Any, Direction]], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order given by ``columns``.

    For (a desc, id desc) after (x, y): ``(a, id) < (x, y)``, a row-value comparison that
    both databases turn into an index range scan; mixed directions spell out the OR form.
    """
    for (column, _), value in zip(columns, values, strict=True):
        _check_value(column, value)
    directions = {d for _, d in columns}
    if len(directions) == 1:
        left = tuple_(*(c for c, _ in columns))
        right = tuple_(*(literal(v, c.type) for (c, _), v in zip(columns, values, strict=True)))
        return left > right if directions == {"asc"} else left < right
    clauses = []
    for i, (column, direction) in enumerate(columns):
        equal = [c == v for (c, _), v in zip(columns[:i], values[:i], strict=True)]
        beyond = column > values[i] if direction == "asc" else column < values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def order(columns: Sequence[tuple[Any, Direction]]) -> list[Any]:
    return [c.asc() if d == "asc" else c.desc() for c, d in columns]
