from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from rostra.domain.comments import AuthorKind
from rostra.storage.database import transaction
from rostra.storage.identities import (
    create_guest_author,
    reader_for_author,
    upsert_sso_author,
)
from rostra.storage.sites import SiteStore
from rostra.storage.tables import authors

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _site(db, slug="herald"):
    with transaction(db) as conn:
        return SiteStore.create(conn, slug, slug, now=NOW)


def test_sso_author_is_created_then_updated(db):
    site = _site(db)
    with transaction(db) as conn:
        first = upsert_sso_author(conn, site.id, "u-1", "Alice", "a@example.com", NOW)
        again = upsert_sso_author(conn, site.id, "u-1", "Alice B.", None, NOW)
    assert first == again
    with db.connect() as conn:
        row = conn.execute(select(authors)).one()
    assert (row.kind, row.external_id, row.name, row.email) == ("sso", "u-1", "Alice B.", None)


def test_same_sub_on_two_sites_is_two_authors(db):
    a, b = _site(db, "a"), _site(db, "b")
    with transaction(db) as conn:
        assert upsert_sso_author(conn, a.id, "u", "A", None, NOW) != upsert_sso_author(
            conn, b.id, "u", "A", None, NOW
        )


def test_last_seen_is_refreshed_only_when_stale(db):
    site = _site(db)
    with transaction(db) as conn:
        author_id = upsert_sso_author(conn, site.id, "u", "A", None, NOW)
        upsert_sso_author(conn, site.id, "u", "A", None, NOW + timedelta(minutes=1))
        seen = conn.execute(select(authors.c.last_seen_at)).scalar_one()
        assert seen == NOW
        upsert_sso_author(conn, site.id, "u", "A", None, NOW + timedelta(hours=1))
        seen = conn.execute(select(authors.c.last_seen_at)).scalar_one()
        assert seen == NOW + timedelta(hours=1)
        assert conn.execute(select(func.count()).select_from(authors)).scalar_one() == 1
        assert author_id


def test_guest_authors_and_readers(db):
    site = _site(db)
    with transaction(db) as conn:
        one = create_guest_author(conn, site.id, "Bob", None, NOW)
        two = create_guest_author(conn, site.id, "Bob", None, NOW)
        reader = reader_for_author(conn, one)
    assert one != two
    assert reader is not None and reader.kind is AuthorKind.GUEST and reader.site_id == site.id
    with transaction(db) as conn:
        conn.execute(update(authors).where(authors.c.id == one).values(forgotten_at=NOW))
        assert reader_for_author(conn, one) is None
        assert reader_for_author(conn, 10_000) is None
