"""A publisher's site and its per-site settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Premoderation(StrEnum):
    NONE = "none"  # the engine's decision stands
    ALL = "all"  # every comment waits for a moderator
    NEW_AUTHORS = "new_authors"  # until an author has K approved comments
    LINKS = "links"  # comments containing links wait


DEFAULT_REJECTION_REASONS: tuple[str, ...] = (
    "Abusive or insulting",
    "Hate or identity attack",
    "Threat",
    "Obscene",
    "Spam or advertising",
    "Off topic",
)


@dataclass(frozen=True, slots=True)
class SiteSettings:
    guests_allowed: bool = True
    premoderation: Premoderation = Premoderation.NONE
    premoderation_k: int = 1
    rejection_reasons: tuple[str, ...] = DEFAULT_REJECTION_REASONS
    close_after_days: int | None = None
    edit_window_seconds: int | None = None  # None: the server's setting
    language: str = "en"

    def to_dict(self) -> dict[str, Any]:
        return {
            "guests_allowed": self.guests_allowed,
            "premoderation": self.premoderation.value,
            "premoderation_k": self.premoderation_k,
            "rejection_reasons": list(self.rejection_reasons),
            "close_after_days": self.close_after_days,
            "edit_window_seconds": self.edit_window_seconds,
            "language": self.language,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteSettings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "premoderation" in known:
            known["premoderation"] = Premoderation(known["premoderation"])
        if "rejection_reasons" in known:
            known["rejection_reasons"] = tuple(known["rejection_reasons"])
        return cls(**known)


@dataclass(frozen=True, slots=True)
class Site:
    id: int
    slug: str
    name: str
    policy: dict[str, Any]  # rostra.moderation.policy.Policy.to_dict()
    settings: SiteSettings = field(default_factory=SiteSettings)
    allowed_origins: tuple[str, ...] = ()
