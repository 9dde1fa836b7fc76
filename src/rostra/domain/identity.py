"""Who is making a request: a reader (commenter) or a member of staff."""

from __future__ import annotations

from dataclasses import dataclass

from rostra.domain.comments import AuthorKind, Role


@dataclass(frozen=True, slots=True)
class Reader:
    """A commenter on one site, identified by SSO, a guest token, or a local account."""

    author_id: int
    site_id: int
    name: str
    kind: AuthorKind


@dataclass(frozen=True, slots=True)
class Staff:
    """A moderator or admin. Admins moderate every site; moderators only ``site_ids``."""

    user_id: int
    username: str
    role: Role
    site_ids: frozenset[int] = frozenset()

    def can_moderate(self, site_id: int) -> bool:
        return self.role is Role.ADMIN or site_id in self.site_ids

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN
