"""What makes a text unstorable, the same for every entry point: a NUL character (PostgreSQL
stores none) or a lone surrogate (half of a UTF-16 pair, not encodable as UTF-8)."""

from __future__ import annotations

import re

from rostra.domain.errors import InvalidInput

__all__ = ["LONE_SURROGATE", "NUL", "made_storable", "refuse_unstorable", "unstorable"]

NUL = "NUL character"
LONE_SURROGATE = "lone surrogate (not UTF-8)"

_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored (:data:`NUL` or :data:`LONE_SURROGATE`), or None."""
    if "\x00" in value:
        return NUL
    if not value.isascii() and _SURROGATE.search(value):
        return LONE_SURROGATE
    return None


def refuse_unstorable(value: str, field: str | None = None) -> None:
    """``InvalidInput`` (about ``field``, or "text") when ``value`` cannot be stored."""
    problem = unstorable(value)
    if problem is None:
        return
    name = field or "text"
    if problem == NUL:
        raise InvalidInput(f"{name} must not contain NUL characters", field=field)
    raise InvalidInput(f"{name} is not valid Unicode text", field=field)


def made_storable(value: str) -> str:
    """``value`` without its NUL characters and with each lone surrogate replaced by U+FFFD."""
    value = value.replace("\x00", "")
    return value if value.isascii() else _SURROGATE.sub("\ufffd", value)
