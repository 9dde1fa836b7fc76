from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from rostra.actions import accounts
from rostra.actions.accounts import (
    add_site_key,
    authenticate,
    check_public_key,
    create_user,
    hash_password,
    update_user,
    verify_password,
)
from rostra.domain.accounts import KeyAlgorithm
from rostra.domain.comments import Role
from rostra.domain.errors import InvalidInput, SiteNotFound, Unauthenticated
from rostra.storage.accounts import UserStore
from rostra.storage.database import transaction
from rostra.storage.reviews import ReviewStore
from rostra.storage.sites import SiteStore
from rostra.storage.tables import moderation_log

PASSWORD = "correct horse battery"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    monkeypatch.setattr(accounts, "_hasher", CHEAP)


@pytest.fixture
def site(db):
    with transaction(db) as conn:
        return SiteStore.create(conn, "herald", "H", now=datetime.now(UTC))


def test_passwords_are_argon2id_and_verify():
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "!")
    assert not verify_password(None, PASSWORD)
    assert not verify_password("not a hash", PASSWORD)


def test_production_hashing_cost_is_the_rfc_9106_profile(monkeypatch):
    monkeypatch.undo()
    params = accounts._hasher
    assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 4)


@pytest.mark.parametrize("bad", ["short", "x" * 2000])
def test_password_length_is_checked(bad):
    with pytest.raises(InvalidInput):
        hash_password(bad)


def test_authenticate(db, site):
    maria = create_user(db, "maria", Role.MODERATOR, PASSWORD, site_slugs=["herald"])
    assert authenticate(db, "maria", PASSWORD).id == maria.id
    for username, password in (("maria", "nope nope nope"), ("nobody", PASSWORD),
                               ("maria", "x" * 5000)):
        with pytest.raises(Unauthenticated):
            authenticate(db, username, password)


def test_unknown_users_cost_one_password_check_too(db, monkeypatch):
    """No timing oracle: a missing username is verified against a dummy hash."""
    calls = []

    class Counting(PasswordHasher):
        def verify(self, hash, password):
            calls.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "_hasher", Counting(time_cost=1, memory_cost=1024,
                                                      parallelism=1))
    with pytest.raises(Unauthenticated):
        authenticate(db, "nobody", PASSWORD)
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


def test_old_hashes_are_upgraded_on_login(db, monkeypatch):
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=512,
                                                            parallelism=1))
    create_user(db, "ada", Role.ADMIN, PASSWORD)
    monkeypatch.setattr(accounts, "_hasher", CHEAP)
    authenticate(db, "ada", PASSWORD)
    with db.connect() as conn:
        assert "m=1024" in UserStore.get_by_username(conn, "ada").password_hash


def test_create_user_validates_and_logs(db, site):
    with pytest.raises(SiteNotFound):
        create_user(db, "maria", Role.MODERATOR, PASSWORD, site_slugs=["nope"])
    with pytest.raises(InvalidInput):
        create_user(db, "-maria", Role.MODERATOR, PASSWORD)
    create_user(db, "maria", Role.MODERATOR, PASSWORD, site_slugs=["herald"])
    with db.connect() as conn:
        entries = conn.execute(select(moderation_log).order_by(moderation_log.c.id)).all()
    assert [(e.site_id, e.action) for e in entries] == [(site.id, "site.moderator.add"),
                                                        (None, "user.create")]
    assert entries[0].after == {"username": "maria"}
    assert PASSWORD not in str(entries[1].after)


def _site_log(db, site_id):
    with db.connect() as conn:
        entries = ReviewStore.log_entries(conn, site_id, limit=100)
    return [(e.action, e.actor, e.before, e.after) for e in reversed(entries)]


def test_account_changes_show_in_the_audit_log_of_the_sites_they_concern(db, site):
    with transaction(db) as conn:
        other = SiteStore.create(conn, "gazette", "G", now=datetime.now(UTC))
        third = SiteStore.create(conn, "courier", "C", now=datetime.now(UTC))
    create_user(db, "maria", Role.MODERATOR, PASSWORD, site_slugs=["herald"])
    create_user(db, "ada", Role.ADMIN, PASSWORD)
    update_user(db, "maria", add_sites=["gazette"], add_sso_subjects=[("gazette", "s-7")])
    update_user(db, "maria", disabled=True)
    update_user(db, "maria", remove_sites=["herald"])
    update_user(db, "ada", add_sso_subjects=[("courier", "boss")])
    update_user(db, "ada", disabled=True)  # an admin is no site's: the global log only
    on = {"disabled": True, "sso_subjects": []}
    assert _site_log(db, site.id) == [
        ("site.moderator.add", "admin", None, {"username": "maria"}),
        ("user.update", "admin", {"disabled": False, "sso_subjects": []},
         {"username": "maria", **on}),
        ("site.moderator.remove", "admin", {"username": "maria"}, None),
    ]
    assert _site_log(db, other.id) == [
        ("site.moderator.add", "admin", None, {"username": "maria"}),
        ("user.update", "admin", {"disabled": False, "sso_subjects": []},
         {"username": "maria", "disabled": False, "sso_subjects": ["s-7"]}),
        ("user.update", "admin", {"disabled": False, "sso_subjects": ["s-7"]},
         {"username": "maria", "disabled": True, "sso_subjects": ["s-7"]}),
    ]
    assert _site_log(db, third.id) == [
        ("user.update", "admin", {"disabled": False, "sso_subjects": []},
         {"username": "ada", "disabled": False, "sso_subjects": ["boss"]}),
    ]
    with db.connect() as conn:
        global_log = conn.execute(select(moderation_log.c.action).where(
            moderation_log.c.site_id.is_(None)).order_by(moderation_log.c.id)).scalars().all()
    assert global_log == ["user.create", "user.create"] + ["user.update"] * 5


def test_site_keys_never_log_the_secret(db, site):
    key, secret = add_site_key(db, "herald", KeyAlgorithm.HS256)
    assert secret is not None and len(secret) >= 48
    with db.connect() as conn:
        entries = conn.execute(select(moderation_log.c.action, moderation_log.c.after)).all()
    assert entries == [("site.key.add", {"kid": key.kid, "algorithm": "HS256"})]


def test_hs256_keys_take_no_public_key(db, site):
    with pytest.raises(InvalidInput):
        add_site_key(db, "herald", KeyAlgorithm.HS256, public_key="-----BEGIN")


def test_weak_or_wrong_public_keys_are_refused():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    def pem(private):
        return private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    small_rsa = pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    p384 = pem(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(InvalidInput, match="2048"):
        check_public_key(KeyAlgorithm.RS256, small_rsa)
    with pytest.raises(InvalidInput, match="P-256"):
        check_public_key(KeyAlgorithm.ES256, p384)
    with pytest.raises(InvalidInput):
        check_public_key(KeyAlgorithm.ES256, "garbage")
