"""Creating and configuring sites: name, guests, premoderation, allowed origins, thresholds.

Every change is written to the moderation log (``site.create``, ``site.update``) with the
settings before and after, so the audit log shows who changed what.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from rostra.domain.errors import InvalidInput
from rostra.domain.origins import normalise_origin
from rostra.domain.sites import Premoderation, Site, SiteSettings
from rostra.moderation.policy import Policy
from rostra.storage.database import transaction
from rostra.storage.reviews import ReviewStore
from rostra.storage.sites import SiteStore

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _snapshot(site: Site) -> dict[str, Any]:
    return {
        "name": site.name,
        "settings": site.settings.to_dict(),
        "allowed_origins": list(site.allowed_origins),
        "policy": site.policy,
    }


def _check_name(name: str) -> str:
    name = " ".join(name.split())
    if not 0 < len(name) <= 200:
        raise InvalidInput("a site name is 1-200 characters", field="name")
    return name


def create_site(
    engine: Engine,
    slug: str,
    name: str,
    *,
    origins: Iterable[str] = (),
    settings: SiteSettings | None = None,
    user_id: int | None = None,
    now: datetime | None = None,
) -> Site:
    """A new site with the engine's default policy (stored as ``{}``: "use the defaults")."""
    if not SLUG_PATTERN.match(slug):
        raise InvalidInput(
            "a site slug is 1-64 lower-case letters, digits or '-', starting with a letter "
            "or digit", field="slug",
        )
    name = _check_name(name)
    allowed = [normalise_origin(o) for o in origins]
    now = now or _now()
    with transaction(engine) as conn:
        site = SiteStore.create(conn, slug, name, policy={}, settings=settings,
                                allowed_origins=allowed, now=now)
        ReviewStore.log(conn, site_id=site.id, action="site.create", actor="admin", now=now,
                        user_id=user_id, after=_snapshot(site))
        return site


def _policy_with_thresholds(
    policy: Mapping[str, Any], thresholds: Mapping[str, tuple[float, float]]
) -> dict[str, Any]:
    """``policy`` with some labels' (review, reject) thresholds replaced, validated."""
    changed = dict(policy)
    merged = dict(changed.get("thresholds") or {})
    for label, (review, reject) in thresholds.items():
        merged[label] = {"review": review, "reject": reject}
    changed["thresholds"] = merged
    Policy.from_dict(changed)  # raises InvalidInput naming the label or number at fault
    return changed


def update_site(
    engine: Engine,
    slug: str,
    *,
    name: str | None = None,
    guests_allowed: bool | None = None,
    premoderation: str | None = None,
    premoderation_k: int | None = None,
    origins: Iterable[str] | None = None,
    add_origins: Iterable[str] = (),
    remove_origins: Iterable[str] = (),
    thresholds: Mapping[str, tuple[float, float]] | None = None,
    user_id: int | None = None,
    now: datetime | None = None,
) -> Site:
    """Change some settings of a site; None (or empty) leaves a setting as it is.

    ``origins`` replaces the allowed origins; ``add_origins``/``remove_origins`` edit them.
    ``thresholds`` maps labels to (review, reject) probabilities.
    """
    now = now or _now()
    with transaction(engine) as conn:
        site = SiteStore.get_by_slug(conn, slug)
        settings = site.settings
        if guests_allowed is not None:
            settings = replace(settings, guests_allowed=guests_allowed)
        if premoderation is not None:
            try:
                settings = replace(settings, premoderation=Premoderation(premoderation))
            except ValueError:
                choices = ", ".join(p.value for p in Premoderation)
                raise InvalidInput(f"premoderation is one of {choices}",
                                   field="premoderation") from None
        if premoderation_k is not None:
            if not 1 <= premoderation_k <= 1000:
                raise InvalidInput("premoderation_k must be between 1 and 1000",
                                   field="premoderation_k")
            settings = replace(settings, premoderation_k=premoderation_k)
        allowed = list(site.allowed_origins) if origins is None else [
            normalise_origin(o) for o in origins
        ]
        allowed += [normalise_origin(o) for o in add_origins]
        removed = {normalise_origin(o) for o in remove_origins}
        allowed = [o for o in dict.fromkeys(allowed) if o not in removed]
        policy = None if not thresholds else _policy_with_thresholds(site.policy, thresholds)
        updated = SiteStore.update(
            conn,
            site.id,
            name=None if name is None else _check_name(name),
            settings=settings,
            allowed_origins=allowed,
            policy=policy,
        )
        if updated != site:
            ReviewStore.log(conn, site_id=site.id, action="site.update", actor="admin",
                            now=now, user_id=user_id, before=_snapshot(site),
                            after=_snapshot(updated))
        return updated
