"""Staff accounts and SSO keys: password hashing, log-in checks, tokens and key generation.

Each function that writes opens one transaction on the engine it is given.

Account changes go to the log twice over: one entry without a site (the account's own record:
every site id, tokens) and, for each site a change concerns, an entry in that site's audit log
(giving or taking the site, disabling a moderator of it, its SSO subjects). An admin moderates
every site without being given any, so disabling one, like API tokens, stays global; an SSO
subject mapped to an admin is still logged on its site.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import Connection, Engine

from rostra.domain.accounts import KeyAlgorithm, SiteKey, User
from rostra.domain.comments import Role
from rostra.domain.errors import InvalidInput, Unauthenticated
from rostra.domain.identity import Staff
from rostra.storage.accounts import (
    ModeratorStore,
    SiteKeyStore,
    StaffSsoStore,
    TokenStore,
    UserStore,
)
from rostra.storage.database import transaction
from rostra.storage.reviews import ReviewStore
from rostra.storage.sites import SiteStore

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
KID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
_dummy_hashes: dict[int, str] = {}


def _dummy_hash() -> str:
    """A hash to verify against when the username does not exist, so both paths cost alike."""
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[key]


def _now() -> datetime:
    return datetime.now(UTC)


def hash_password(password: str) -> str:
    _check_password(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; a missing or malformed hash never matches."""
    try:
        matched = _hasher.verify(password_hash or _dummy_hash(), password)
        return matched and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password must be at least {MIN_PASSWORD_LENGTH} characters long",
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("the password is too long", field="password")


def staff_for(conn: Connection, user: User) -> Staff:
    return user.as_staff(ModeratorStore.site_ids(conn, user.id))


def authenticate(engine: Engine, username: str, password: str) -> User:
    """The enabled user with these credentials; Unauthenticated otherwise (one message)."""
    refused = Unauthenticated("wrong username or password")
    if len(password) > MAX_PASSWORD_LENGTH or len(username) > 100:
        raise refused
    with transaction(engine) as conn:
        user = UserStore.find(conn, username)
        ok = verify_password(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            raise refused
        assert user.password_hash is not None
        if _hasher.check_needs_rehash(user.password_hash):
            UserStore.set_password_hash(conn, user.id, _hasher.hash(password))
        return user


def create_user(
    engine: Engine,
    username: str,
    role: Role,
    password: str,
    *,
    site_slugs: Iterable[str] = (),
    email: str | None = None,
    now: datetime | None = None,
) -> User:
    """A moderator (of ``site_slugs``) or an admin (of every site) with a local password."""
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput(
            "a username is 1-100 letters, digits or _.@- and starts with a letter or digit",
            field="username",
        )
    password_hash = hash_password(password)
    with transaction(engine) as conn:
        site_ids = [SiteStore.get_by_slug(conn, slug).id for slug in site_slugs]
        now = now or _now()
        user = UserStore.create(
            conn, username, role, password_hash=password_hash, email=email, now=now
        )
        for site_id in site_ids:
            ModeratorStore.add(conn, site_id, user.id)
            _site_log(conn, site_id, "site.moderator.add", now, after={"username": username})
        after = {"username": username, "role": role.value, "sites": list(site_slugs)}
        ReviewStore.log(conn, site_id=None, action="user.create", actor="admin", now=now,
                        after=after)
        return user


def _site_log(conn: Connection, site_id: int, action: str, now: datetime,
              before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """An account change in the audit log of a site it concerns, as a command makes it."""
    ReviewStore.log(conn, site_id=site_id, action=action, actor="admin", now=now,
                    before=before, after=after)


def set_password(engine: Engine, username: str, password: str) -> None:
    """A new password; every existing session of the user ends."""
    password_hash = hash_password(password)
    with transaction(engine) as conn:
        user = UserStore.get_by_username(conn, username)
        UserStore.set_password_hash(conn, user.id, password_hash)
        UserStore.end_sessions(conn, user.id)


def create_api_token(
    engine: Engine, username: str, name: str, *, now: datetime | None = None
) -> str:
    """A new API token for the user; returned once, stored only as its SHA-256."""
    name = name.strip()
    if not 0 < len(name) <= 100:
        raise InvalidInput("a token name is 1-100 characters", field="name")
    now = now or _now()
    with transaction(engine) as conn:
        user = UserStore.get_by_username(conn, username)
        api_token, token = TokenStore.create(conn, user.id, name, now=now)
        ReviewStore.log(conn, site_id=None, action="token.create", actor="admin", now=now,
                        after={"username": username, "name": name, "token_id": api_token.id})
        return token


def check_public_key(algorithm: KeyAlgorithm, pem: str) -> str:
    """The PEM text if it is a public key usable with ``algorithm``; InvalidInput otherwise."""
    try:
        key = load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise InvalidInput("not a PEM public key", field="public_key") from exc
    if algorithm is KeyAlgorithm.RS256:
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
            raise InvalidInput("RS256 needs an RSA public key of at least 2048 bits",
                               field="public_key")
    elif algorithm is KeyAlgorithm.ES256:
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise InvalidInput("ES256 needs a P-256 (secp256r1) public key", field="public_key")
    else:
        raise InvalidInput("HS256 keys are generated by Rostra, not given", field="algorithm")
    return pem.strip() + "\n"


def _key_material(algorithm: KeyAlgorithm, public_key: str | None) -> tuple[str, str | None]:
    """(what to store, the secret to show once or None) for a new key."""
    if algorithm is KeyAlgorithm.HS256:
        if public_key is not None:
            raise InvalidInput("HS256 takes no public key; Rostra generates the secret",
                               field="public_key")
        secret = secrets.token_urlsafe(48)
        return secret, secret
    if public_key is None:
        raise InvalidInput(f"{algorithm.value} needs the site's public key (PEM)",
                           field="public_key")
    return check_public_key(algorithm, public_key), None


def add_site_key(
    engine: Engine,
    slug: str,
    algorithm: KeyAlgorithm,
    *,
    public_key: str | None = None,
    kid: str | None = None,
    rotate: bool = False,
    user_id: int | None = None,
    now: datetime | None = None,
) -> tuple[SiteKey, str | None]:
    """Add (or, with ``rotate``, rotate in) an SSO key; returns it and an HS256 secret to show.

    Rotation keeps the newest previous key valid beside the new one, so tokens signed
    before the publisher's servers switch keep working; revoke the old key afterwards.
    """
    if kid is not None and not KID_PATTERN.match(kid):
        raise InvalidInput("a key id is 1-64 letters, digits or _.-", field="kid")
    stored, shown = _key_material(algorithm, public_key)
    now = now or _now()
    with transaction(engine) as conn:
        site = SiteStore.get_by_slug(conn, slug)
        store_key = SiteKeyStore.rotate if rotate else SiteKeyStore.add
        key = store_key(conn, site.id, algorithm, stored, now=now, kid=kid)
        ReviewStore.log(conn, site_id=site.id, action="site.key.rotate" if rotate else
                        "site.key.add", actor="admin", now=now, user_id=user_id,
                        after={"kid": key.kid, "algorithm": key.algorithm.value})
        return key, shown


def revoke_site_key(
    engine: Engine, slug: str, kid: str, *, user_id: int | None = None,
    now: datetime | None = None,
) -> None:
    now = now or _now()
    with transaction(engine) as conn:
        site = SiteStore.get_by_slug(conn, slug)
        SiteKeyStore.revoke(conn, site.id, kid, now=now)
        ReviewStore.log(conn, site_id=site.id, action="site.key.revoke", actor="admin",
                        now=now, user_id=user_id, before={"kid": kid})


def revoke_api_token(engine: Engine, token_id: int, *, now: datetime | None = None) -> None:
    now = now or _now()
    with transaction(engine) as conn:
        TokenStore.revoke(conn, token_id, now=now)
        ReviewStore.log(conn, site_id=None, action="token.revoke", actor="admin", now=now,
                        before={"token_id": token_id})


def update_user(
    engine: Engine,
    username: str,
    *,
    add_sites: Iterable[str] = (),
    remove_sites: Iterable[str] = (),
    disabled: bool | None = None,
    add_sso_subjects: Iterable[tuple[str, str]] = (),
    remove_sso_subjects: Iterable[tuple[str, str]] = (),
    now: datetime | None = None,
) -> Staff:
    """Give or take sites, map (site slug, SSO subject) pairs to the account, or
    disable/enable it (disabling ends its sessions)."""
    now = now or _now()
    with transaction(engine) as conn:
        user = UserStore.get_by_username(conn, username)
        before = staff_for(conn, user)
        sso_before = StaffSsoStore.subjects_of(conn, user.id)
        for slug in add_sites:
            ModeratorStore.add(conn, SiteStore.get_by_slug(conn, slug).id, user.id)
        for slug in remove_sites:
            ModeratorStore.remove(conn, SiteStore.get_by_slug(conn, slug).id, user.id)
        for slug, subject in add_sso_subjects:
            subject = subject.strip()
            if not subject or len(subject) > 255:
                raise InvalidInput("an SSO subject is 1 to 255 characters", field="sso_sub")
            StaffSsoStore.link(conn, SiteStore.get_by_slug(conn, slug).id, subject, user.id)
        for slug, subject in remove_sso_subjects:
            StaffSsoStore.unlink(conn, SiteStore.get_by_slug(conn, slug).id, subject.strip(),
                                 user.id)
        if disabled is not None and disabled != user.disabled:
            UserStore.set_disabled(conn, user.id, disabled)
            if disabled:
                UserStore.end_sessions(conn, user.id)
        after_user = UserStore.get(conn, user.id)
        after = staff_for(conn, after_user)
        sso_after = StaffSsoStore.subjects_of(conn, user.id)
        ReviewStore.log(
            conn, site_id=None, action="user.update", actor="admin", now=now,
            before={"site_ids": sorted(before.site_ids), "disabled": user.disabled,
                    "sso_subjects": [list(p) for p in sso_before]},
            after={"site_ids": sorted(after.site_ids), "disabled": after_user.disabled,
                   "sso_subjects": [list(p) for p in sso_after]},
        )
        _log_per_site(conn, username, before, after, user.disabled, after_user.disabled,
                      sso_before, sso_after, now)
        return after


def _log_per_site(
    conn: Connection, username: str, before: Staff, after: Staff, was_disabled: bool,
    is_disabled: bool, sso_before: list[tuple[int, str]], sso_after: list[tuple[int, str]],
    now: datetime,
) -> None:
    """``update_user``'s changes in the audit log of each site they concern: the site given
    or taken (as the settings page logs it), and a moderator of it disabled, enabled or given
    other SSO subjects there. Only that site's subjects are named in its entry."""
    for site_id in sorted(after.site_ids - before.site_ids):
        _site_log(conn, site_id, "site.moderator.add", now, after={"username": username})
    for site_id in sorted(before.site_ids - after.site_ids):
        _site_log(conn, site_id, "site.moderator.remove", now, before={"username": username})
    sso_sites = {site_id for site_id, _ in set(sso_before) ^ set(sso_after)}
    disabled_sites = before.site_ids | after.site_ids if was_disabled != is_disabled else set()
    for site_id in sorted(sso_sites | disabled_sites):
        _site_log(conn, site_id, "user.update", now,
                  before=_on_site(site_id, was_disabled, sso_before),
                  after={"username": username, **_on_site(site_id, is_disabled, sso_after)})


def _on_site(site_id: int, disabled: bool, sso: list[tuple[int, str]]) -> dict[str, Any]:
    return {"disabled": disabled, "sso_subjects": [s for sid, s in sso if sid == site_id]}


def sso_staff_user(conn: Connection, site_id: int, subject: str) -> User:
    """The staff account a site's verified SSO subject logs in as.

    Unauthenticated unless the subject is mapped on this site to an enabled account that
    still moderates the site (or is an admin): a publisher's token cannot grant more.
    """
    user_id = StaffSsoStore.user_id_for(conn, site_id, subject)
    if user_id is None:
        raise Unauthenticated("this account is not a moderator here")
    user = UserStore.get(conn, user_id)
    if user.disabled or not staff_for(conn, user).can_moderate(site_id):
        raise Unauthenticated("this account is not a moderator here")
    return user
