"""SiteStore: the publishers' sites, with their policy, settings and allowed origins."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

from rostra.domain.errors import Conflict, SiteNotFound
from rostra.domain.sites import Site, SiteSettings
from rostra.storage.tables import sites


def _to_site(row: Row[Any]) -> Site:
    return Site(
        id=row.id,
        slug=row.slug,
        name=row.name,
        policy=dict(row.policy or {}),
        settings=SiteSettings.from_dict(row.settings or {}),
        allowed_origins=tuple(row.allowed_origins or ()),
    )


# Built once: values go in as parameters (building a statement costs ~4x executing it).
_BY_SLUG = select(sites).where(sites.c.slug == bindparam("b_slug"))


class SiteStore:
    """Reads and writes of the ``sites`` table; returns :class:`Site` values."""

    @staticmethod
    def get(conn: Connection, site_id: int) -> Site:
        row = conn.execute(select(sites).where(sites.c.id == site_id)).first()
        if row is None:
            raise SiteNotFound(f"no site with id {site_id}")
        return _to_site(row)

    @staticmethod
    def get_by_slug(conn: Connection, slug: str) -> Site:
        row = conn.execute(_BY_SLUG, {"b_slug": slug}).first()
        if row is None:
            raise SiteNotFound(f"no site {slug!r}")
        return _to_site(row)

    @staticmethod
    def create(
        conn: Connection,
        slug: str,
        name: str,
        *,
        policy: dict[str, Any] | None = None,
        settings: SiteSettings | None = None,
        allowed_origins: Iterable[str] = (),
        now: datetime,
    ) -> Site:
        """A new site. ``policy`` ``{}`` (the default) means the engine's default policy."""
        if conn.execute(select(sites.c.id).where(sites.c.slug == slug)).first() is not None:
            raise Conflict(f"a site {slug!r} exists already", field="slug")
        site_id = conn.execute(
            insert(sites)
            .values(
                slug=slug,
                name=name,
                policy=dict(policy or {}),
                settings=(settings or SiteSettings()).to_dict(),
                allowed_origins=list(dict.fromkeys(allowed_origins)),
                created_at=now,
            )
            .returning(sites.c.id)
        ).scalar_one()
        return SiteStore.get(conn, site_id)

    @staticmethod
    def update(
        conn: Connection,
        site_id: int,
        *,
        name: str | None = None,
        policy: dict[str, Any] | None = None,
        settings: SiteSettings | None = None,
        allowed_origins: Iterable[str] | None = None,
    ) -> Site:
        """Replace the given fields (None leaves a field as it is) and return the site."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if policy is not None:
            values["policy"] = dict(policy)
        if settings is not None:
            values["settings"] = settings.to_dict()
        if allowed_origins is not None:
            values["allowed_origins"] = list(dict.fromkeys(allowed_origins))
        if values:
            result = conn.execute(update(sites).where(sites.c.id == site_id).values(**values))
            if result.rowcount == 0:
                raise SiteNotFound(f"no site with id {site_id}")
        return SiteStore.get(conn, site_id)

    @staticmethod
    def list_all(conn: Connection) -> list[Site]:
        return [_to_site(row) for row in conn.execute(select(sites).order_by(sites.c.slug))]

    @staticmethod
    def origins_allowed(conn: Connection) -> dict[str, set[str]]:
        """For CORS: each allowed origin mapped to the slugs of the sites that allow it."""
        allowed: dict[str, set[str]] = {}
        for slug, origins in conn.execute(select(sites.c.slug, sites.c.allowed_origins)):
            for origin in origins or ():
                allowed.setdefault(origin, set()).add(slug)
        return allowed
