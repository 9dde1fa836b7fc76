"""Staff accounts, site moderators, API tokens and the sites' SSO keys.

Passwords arrive here already hashed (``rostra.actions.accounts`` hashes them); API tokens are
stored as their SHA-256 only, so a copy of the database never yields a usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from rostra.domain.accounts import ApiToken, KeyAlgorithm, SiteKey, User
from rostra.domain.comments import Role
from rostra.domain.errors import Conflict, InvalidInput, NotFound
from rostra.storage.tables import (
    api_tokens,
    site_keys,
    site_moderators,
    staff_sso_subjects,
    users,
)

#: Keys valid at once for one site: the current one and the one it replaced.
MAX_ACTIVE_KEYS = 2


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "No such user"


class KeyNotFound(NotFound):
    code = "key_not_found"
    title = "No such SSO key"


def _to_user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        email=row.email,
        password_hash=row.password_hash,
        disabled=bool(row.disabled),
        session_version=row.session_version,
        created_at=row.created_at,
    )


class UserStore:
    """The ``users`` table: local moderator and admin accounts."""

    @staticmethod
    def create(
        conn: Connection,
        username: str,
        role: Role,
        *,
        password_hash: str | None,
        email: str | None = None,
        now: datetime,
    ) -> User:
        if role not in (Role.ADMIN, Role.MODERATOR):
            raise InvalidInput("staff are admins or moderators", field="role")
        if UserStore.find(conn, username) is not None:
            raise Conflict(f"a user {username!r} exists already", field="username")
        user_id = conn.execute(
            insert(users)
            .values(
                username=username,
                email=email,
                password_hash=password_hash,
                role=role.value,
                disabled=False,
                session_version=1,
                created_at=now,
            )
            .returning(users.c.id)
        ).scalar_one()
        return UserStore.get(conn, user_id)

    @staticmethod
    def get(conn: Connection, user_id: int) -> User:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
        if row is None:
            raise UserNotFound(f"no user with id {user_id}")
        return _to_user(row)

    @staticmethod
    def find(conn: Connection, username: str) -> User | None:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        return None if row is None else _to_user(row)

    @staticmethod
    def get_by_username(conn: Connection, username: str) -> User:
        user = UserStore.find(conn, username)
        if user is None:
            raise UserNotFound(f"no user {username!r}")
        return user

    @staticmethod
    def list_all(conn: Connection) -> list[User]:
        return [_to_user(r) for r in conn.execute(select(users).order_by(users.c.username))]

    @staticmethod
    def set_password_hash(conn: Connection, user_id: int, password_hash: str) -> None:
        conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))

    @staticmethod
    def set_disabled(conn: Connection, user_id: int, disabled: bool) -> None:
        conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))

    @staticmethod
    def end_sessions(conn: Connection, user_id: int) -> None:
        """Invalidate every session cookie of the user (they carry the old version)."""
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(session_version=users.c.session_version + 1)
        )


class ModeratorStore:
    """The ``site_moderators`` table: which sites a moderator may moderate."""

    @staticmethod
    def add(conn: Connection, site_id: int, user_id: int) -> None:
        exists = conn.execute(
            select(site_moderators.c.user_id).where(
                site_moderators.c.site_id == site_id, site_moderators.c.user_id == user_id
            )
        ).first()
        if exists is None:
            conn.execute(insert(site_moderators).values(site_id=site_id, user_id=user_id))

    @staticmethod
    def remove(conn: Connection, site_id: int, user_id: int) -> None:
        conn.execute(
            delete(site_moderators).where(
                site_moderators.c.site_id == site_id, site_moderators.c.user_id == user_id
            )
        )

    @staticmethod
    def site_ids(conn: Connection, user_id: int) -> frozenset[int]:
        rows = conn.execute(
            select(site_moderators.c.site_id).where(site_moderators.c.user_id == user_id)
        )
        return frozenset(rows.scalars())

    @staticmethod
    def moderators_of(conn: Connection, site_id: int) -> list[User]:
        rows = conn.execute(
            select(users)
            .join(site_moderators, site_moderators.c.user_id == users.c.id)
            .where(site_moderators.c.site_id == site_id)
            .order_by(users.c.username)
        )
        return [_to_user(r) for r in rows]


class StaffSsoStore:
    """The ``staff_sso_subjects`` table: which staff account a site's SSO subject logs in as."""

    @staticmethod
    def link(conn: Connection, site_id: int, subject: str, user_id: int) -> None:
        """Map ``subject`` on the site to the user; a subject maps to one user only."""
        current = StaffSsoStore.user_id_for(conn, site_id, subject)
        if current is not None and current != user_id:
            raise Conflict("this SSO subject already logs in as another user", field="subject")
        if current is None:
            conn.execute(insert(staff_sso_subjects).values(site_id=site_id, subject=subject,
                                                           user_id=user_id))

    @staticmethod
    def unlink(conn: Connection, site_id: int, subject: str, user_id: int) -> None:
        conn.execute(
            delete(staff_sso_subjects).where(
                staff_sso_subjects.c.site_id == site_id,
                staff_sso_subjects.c.subject == subject,
                staff_sso_subjects.c.user_id == user_id,
            )
        )

    @staticmethod
    def user_id_for(conn: Connection, site_id: int, subject: str) -> int | None:
        return conn.execute(
            select(staff_sso_subjects.c.user_id).where(
                staff_sso_subjects.c.site_id == site_id, staff_sso_subjects.c.subject == subject
            )
        ).scalar()

    @staticmethod
    def subjects_of(conn: Connection, user_id: int) -> list[tuple[int, str]]:
        """(site id, subject) pairs that log in as the user."""
        rows = conn.execute(
            select(staff_sso_subjects.c.site_id, staff_sso_subjects.c.subject)
            .where(staff_sso_subjects.c.user_id == user_id)
            .order_by(staff_sso_subjects.c.site_id, staff_sso_subjects.c.subject)
        )
        return [(r.site_id, r.subject) for r in rows]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _to_token(row: Row[Any]) -> ApiToken:
    return ApiToken(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class TokenStore:
    """The ``api_tokens`` table. A token is returned once by :meth:`create`, never again."""

    @staticmethod
    def create(conn: Connection, user_id: int, name: str, *, now: datetime) -> tuple[ApiToken, str]:
        token = "rst_" + secrets.token_urlsafe(32)
        token_id = conn.execute(
            insert(api_tokens)
            .values(user_id=user_id, name=name, token_hash=hash_token(token), created_at=now)
            .returning(api_tokens.c.id)
        ).scalar_one()
        row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()
        return _to_token(row), token

    @staticmethod
    def resolve(conn: Connection, token: str, *, now: datetime) -> User | None:
        """The enabled user a live token belongs to, or None; records the use."""
        digest = hash_token(token)
        row = conn.execute(
            select(api_tokens.c.id, api_tokens.c.token_hash, api_tokens.c.last_used_at)
            .where(api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None))
        ).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        user_row = conn.execute(
            select(users)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.id == row.id)
        ).first()
        if user_row is None or user_row.disabled:
            return None
        # One write a minute per token at most: last_used_at is for humans, not accounting.
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=now)
            )
        return _to_user(user_row)

    @staticmethod
    def list_for_user(conn: Connection, user_id: int) -> list[ApiToken]:
        rows = conn.execute(
            select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id)
        )
        return [_to_token(r) for r in rows]

    @staticmethod
    def revoke(conn: Connection, token_id: int, *, now: datetime) -> None:
        result = conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if result.rowcount == 0:
            raise NotFound(f"no live API token with id {token_id}")


def _to_key(row: Row[Any]) -> SiteKey:
    return SiteKey(
        id=row.id,
        site_id=row.site_id,
        kid=row.kid,
        algorithm=KeyAlgorithm(row.algorithm),
        secret=row.secret,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class SiteKeyStore:
    """The ``site_keys`` table: SSO keys per site; at most two are valid at once (rotation)."""

    @staticmethod
    def active(conn: Connection, site_id: int) -> list[SiteKey]:
        """The site's valid keys, newest first."""
        rows = conn.execute(
            select(site_keys)
            .where(site_keys.c.site_id == site_id, site_keys.c.revoked_at.is_(None))
            .order_by(site_keys.c.id.desc())
        )
        return [_to_key(r) for r in rows]

    @staticmethod
    def list_all(conn: Connection, site_id: int) -> list[SiteKey]:
        rows = conn.execute(
            select(site_keys).where(site_keys.c.site_id == site_id).order_by(site_keys.c.id)
        )
        return [_to_key(r) for r in rows]

    @staticmethod
    def add(
        conn: Connection,
        site_id: int,
        algorithm: KeyAlgorithm,
        secret: str,
        *,
        now: datetime,
        kid: str | None = None,
    ) -> SiteKey:
        """Add a key. Refused when the site already has two valid keys: rotate instead."""
        if len(SiteKeyStore.active(conn, site_id)) >= MAX_ACTIVE_KEYS:
            raise Conflict(
                "this site has two valid keys already; rotate (which retires the older) "
                "or revoke one first"
            )
        return SiteKeyStore._insert(conn, site_id, algorithm, secret, now=now, kid=kid)

    @staticmethod
    def rotate(
        conn: Connection,
        site_id: int,
        algorithm: KeyAlgorithm,
        secret: str,
        *,
        now: datetime,
        kid: str | None = None,
    ) -> SiteKey:
        """Add a new key and keep only the newest previous one valid beside it."""
        for old in SiteKeyStore.active(conn, site_id)[MAX_ACTIVE_KEYS - 1 :]:
            SiteKeyStore.revoke(conn, site_id, old.kid, now=now)
        return SiteKeyStore._insert(conn, site_id, algorithm, secret, now=now, kid=kid)

    @staticmethod
    def revoke(conn: Connection, site_id: int, kid: str, *, now: datetime) -> None:
        result = conn.execute(
            update(site_keys)
            .where(
                site_keys.c.site_id == site_id,
                site_keys.c.kid == kid,
                site_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        if result.rowcount == 0:
            raise KeyNotFound(f"no valid SSO key {kid!r} for this site")

    @staticmethod
    def _insert(
        conn: Connection,
        site_id: int,
        algorithm: KeyAlgorithm,
        secret: str,
        *,
        now: datetime,
        kid: str | None,
    ) -> SiteKey:
        kid = kid or secrets.token_hex(4)
        taken = conn.execute(
            select(site_keys.c.id).where(site_keys.c.site_id == site_id, site_keys.c.kid == kid)
        ).first()
        if taken is not None:
            raise Conflict(f"this site has a key {kid!r} already", field="kid")
        key_id = conn.execute(
            insert(site_keys)
            .values(site_id=site_id, kid=kid, algorithm=algorithm.value, secret=secret,
                    created_at=now)
            .returning(site_keys.c.id)
        ).scalar_one()
        return _to_key(conn.execute(select(site_keys).where(site_keys.c.id == key_id)).one())
