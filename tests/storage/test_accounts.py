from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from rostra.domain.accounts import KeyAlgorithm
from rostra.domain.comments import Role
from rostra.domain.errors import Conflict, InvalidInput, NotFound
from rostra.storage.accounts import (
    KeyNotFound,
    ModeratorStore,
    SiteKeyStore,
    TokenStore,
    UserStore,
    hash_token,
)
from rostra.storage.database import transaction
from rostra.storage.sites import SiteStore
from rostra.storage.tables import api_tokens

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def site(db):
    with transaction(db) as conn:
        return SiteStore.create(conn, "herald", "The Herald", now=NOW)


def test_users_are_created_once_and_found_by_name(db):
    with transaction(db) as conn:
        maria = UserStore.create(conn, "maria", Role.MODERATOR, password_hash="h", now=NOW)
        with pytest.raises(Conflict):
            UserStore.create(conn, "maria", Role.ADMIN, password_hash="h", now=NOW)
        with pytest.raises(InvalidInput):
            UserStore.create(conn, "carl", Role.COMMENTER, password_hash="h", now=NOW)
    with db.connect() as conn:
        assert UserStore.get_by_username(conn, "maria") == maria
        assert UserStore.find(conn, "nobody") is None
    assert maria.session_version == 1 and not maria.disabled


def test_end_sessions_bumps_the_session_version(db):
    with transaction(db) as conn:
        maria = UserStore.create(conn, "maria", Role.MODERATOR, password_hash="h", now=NOW)
        UserStore.end_sessions(conn, maria.id)
        assert UserStore.get(conn, maria.id).session_version == 2


def test_moderators_are_listed_per_site(db, site):
    with transaction(db) as conn:
        maria = UserStore.create(conn, "maria", Role.MODERATOR, password_hash="h", now=NOW)
        ModeratorStore.add(conn, site.id, maria.id)
        ModeratorStore.add(conn, site.id, maria.id)  # idempotent
    with db.connect() as conn:
        assert ModeratorStore.site_ids(conn, maria.id) == frozenset({site.id})
        assert [u.username for u in ModeratorStore.moderators_of(conn, site.id)] == ["maria"]
    with transaction(db) as conn:
        ModeratorStore.remove(conn, site.id, maria.id)
        assert ModeratorStore.site_ids(conn, maria.id) == frozenset()


def test_api_tokens_are_stored_only_as_their_hash(db):
    with transaction(db) as conn:
        ada = UserStore.create(conn, "ada", Role.ADMIN, password_hash="h", now=NOW)
        record, token = TokenStore.create(conn, ada.id, "backup script", now=NOW)
    with db.connect() as conn:
        stored = conn.execute(select(api_tokens)).one()
    assert token not in [str(v) for v in stored]
    assert stored.token_hash == hash_token(token)
    with transaction(db) as conn:
        assert TokenStore.resolve(conn, token, now=NOW) == ada
        assert TokenStore.resolve(conn, token + "x", now=NOW) is None
        assert TokenStore.list_for_user(conn, ada.id)[0].last_used_at == NOW
        TokenStore.revoke(conn, record.id, now=NOW)
        assert TokenStore.resolve(conn, token, now=NOW) is None
        with pytest.raises(NotFound):
            TokenStore.revoke(conn, record.id, now=NOW)


def test_a_disabled_users_tokens_do_not_resolve(db):
    with transaction(db) as conn:
        ada = UserStore.create(conn, "ada", Role.ADMIN, password_hash="h", now=NOW)
        _, token = TokenStore.create(conn, ada.id, "t", now=NOW)
        UserStore.set_disabled(conn, ada.id, True)
        assert TokenStore.resolve(conn, token, now=NOW) is None


def test_at_most_two_keys_are_valid_and_rotation_retires_the_oldest(db, site):
    later = NOW + timedelta(days=1)
    with transaction(db) as conn:
        first = SiteKeyStore.add(conn, site.id, KeyAlgorithm.HS256, "s1", now=NOW, kid="k1")
        second = SiteKeyStore.add(conn, site.id, KeyAlgorithm.HS256, "s2", now=NOW, kid="k2")
        with pytest.raises(Conflict):
            SiteKeyStore.add(conn, site.id, KeyAlgorithm.HS256, "s3", now=NOW)
        third = SiteKeyStore.rotate(conn, site.id, KeyAlgorithm.HS256, "s3", now=later)
        active = SiteKeyStore.active(conn, site.id)
    assert [k.kid for k in active] == [third.kid, second.kid]
    with db.connect() as conn:
        retired = [k for k in SiteKeyStore.list_all(conn, site.id) if k.kid == first.kid][0]
    assert retired.revoked_at == later and not retired.active


def test_revoking_keys(db, site):
    with transaction(db) as conn:
        SiteKeyStore.add(conn, site.id, KeyAlgorithm.HS256, "s1", now=NOW, kid="k1")
        with pytest.raises(Conflict):
            SiteKeyStore.add(conn, site.id, KeyAlgorithm.HS256, "s2", now=NOW, kid="k1")
        SiteKeyStore.revoke(conn, site.id, "k1", now=NOW)
        assert SiteKeyStore.active(conn, site.id) == []
        with pytest.raises(KeyNotFound):
            SiteKeyStore.revoke(conn, site.id, "k1", now=NOW)
