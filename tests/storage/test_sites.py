from datetime import UTC, datetime

import pytest

from rostra.domain.errors import Conflict, SiteNotFound
from rostra.domain.sites import Premoderation, SiteSettings
from rostra.storage.database import transaction
from rostra.storage.sites import SiteStore

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_create_and_read_back_a_site(db):
    with transaction(db) as conn:
        site = SiteStore.create(
            conn, "herald", "The Herald", settings=SiteSettings(guests_allowed=False),
            allowed_origins=["https://herald.example"], now=NOW,
        )
    with db.connect() as conn:
        assert SiteStore.get(conn, site.id) == site
        assert SiteStore.get_by_slug(conn, "herald") == site
    assert site.policy == {}
    assert site.settings.guests_allowed is False
    assert site.allowed_origins == ("https://herald.example",)


def test_unknown_site_raises_site_not_found(db):
    with db.connect() as conn, pytest.raises(SiteNotFound):
        SiteStore.get_by_slug(conn, "nope")
    with db.connect() as conn, pytest.raises(SiteNotFound):
        SiteStore.get(conn, 999)


def test_duplicate_slug_is_a_conflict(db):
    with transaction(db) as conn:
        SiteStore.create(conn, "herald", "A", now=NOW)
    with transaction(db) as conn, pytest.raises(Conflict):
        SiteStore.create(conn, "herald", "B", now=NOW)


def test_update_changes_only_given_fields(db):
    with transaction(db) as conn:
        site = SiteStore.create(conn, "herald", "A", policy={"tier": "fast"}, now=NOW)
        updated = SiteStore.update(
            conn, site.id, settings=SiteSettings(premoderation=Premoderation.ALL),
            allowed_origins=["https://a.example", "https://a.example"],
        )
    assert updated.name == "A"
    assert updated.policy == {"tier": "fast"}
    assert updated.settings.premoderation is Premoderation.ALL
    assert updated.allowed_origins == ("https://a.example",)
    with transaction(db) as conn, pytest.raises(SiteNotFound):
        SiteStore.update(conn, 12345, name="x")


def test_origins_allowed_maps_origins_to_sites(db):
    with transaction(db) as conn:
        SiteStore.create(conn, "a", "A", allowed_origins=["https://x.example"], now=NOW)
        SiteStore.create(conn, "b", "B",
                         allowed_origins=["https://x.example", "https://y.example"], now=NOW)
        SiteStore.create(conn, "c", "C", now=NOW)
    with db.connect() as conn:
        assert SiteStore.origins_allowed(conn) == {
            "https://x.example": {"a", "b"},
            "https://y.example": {"b"},
        }
        assert [s.slug for s in SiteStore.list_all(conn)] == ["a", "b", "c"]
