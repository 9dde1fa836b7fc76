"""Staff accounts, their API tokens, and the keys a site signs its readers' SSO tokens with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rostra.domain.comments import Role
from rostra.domain.identity import Staff


class KeyAlgorithm(StrEnum):
    """JWT algorithms a site may sign SSO tokens with (never ``none``)."""

    HS256 = "HS256"  # shared secret
    RS256 = "RS256"  # RSA public key (PEM)
    ES256 = "ES256"  # P-256 public key (PEM)


STAFF_ROLES: tuple[Role, ...] = (Role.ADMIN, Role.MODERATOR)


@dataclass(frozen=True, slots=True)
class User:
    """A local moderator or admin account as stored (the password only as an argon2 hash)."""

    id: int
    username: str
    role: Role
    email: str | None
    password_hash: str | None
    disabled: bool
    session_version: int
    created_at: datetime

    def as_staff(self, site_ids: frozenset[int]) -> Staff:
        return Staff(user_id=self.id, username=self.username, role=self.role, site_ids=site_ids)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A machine credential of a user; the token itself is shown once and stored hashed."""

    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class SiteKey:
    """One SSO verification key of a site: an HS256 secret or a PEM public key."""

    id: int
    site_id: int
    kid: str
    algorithm: KeyAlgorithm
    secret: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
