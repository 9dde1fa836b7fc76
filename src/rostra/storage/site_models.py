"""SiteModelStore: the versioned per-site models (weights as bytes, so every process shares them).

Statuses: ``shadow`` (trained, scores in shadow), ``active`` (at most one per site, applied to
new comments), ``retired`` (was active), ``rejected`` (a newer model replaced it in shadow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from rostra.storage.tables import site_models


class ModelStatus(StrEnum):
    SHADOW = "shadow"
    ACTIVE = "active"
    RETIRED = "retired"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class StoredSiteModel:
    id: int
    site_id: int
    version: int
    status: ModelStatus
    examples: int
    metrics: dict[str, Any]
    artifact: bytes
    created_at: datetime
    promoted_at: datetime | None


def _row(r: Any) -> StoredSiteModel:
    return StoredSiteModel(
        id=r.id,
        site_id=r.site_id,
        version=r.version,
        status=ModelStatus(r.status),
        examples=r.examples,
        metrics=dict(r.metrics or {}),
        artifact=bytes(r.artifact),
        created_at=r.created_at,
        promoted_at=r.promoted_at,
    )


class SiteModelStore:
    @staticmethod
    def add(
        conn: Connection,
        *,
        site_id: int,
        artifact: bytes,
        metrics: dict[str, Any],
        examples: int,
        now: datetime,
    ) -> StoredSiteModel:
        """Store a new model in shadow (an older shadow model is set aside as rejected)."""
        conn.execute(
            update(site_models)
            .where(site_models.c.site_id == site_id, site_models.c.status == ModelStatus.SHADOW)
            .values(status=ModelStatus.REJECTED.value)
        )
        latest = conn.execute(
            select(func.max(site_models.c.version)).where(site_models.c.site_id == site_id)
        ).scalar_one()
        version = int(latest or 0) + 1
        new_id = conn.execute(
            insert(site_models)
            .values(
                site_id=site_id,
                version=version,
                status=ModelStatus.SHADOW.value,
                examples=examples,
                metrics=metrics,
                artifact=artifact,
                created_at=now,
            )
            .returning(site_models.c.id)
        ).scalar_one()
        found = SiteModelStore.get(conn, site_id, version)
        assert found is not None and found.id == new_id
        return found

    @staticmethod
    def get(conn: Connection, site_id: int, version: int) -> StoredSiteModel | None:
        r = conn.execute(
            select(site_models).where(
                site_models.c.site_id == site_id, site_models.c.version == version
            )
        ).first()
        return None if r is None else _row(r)

    @staticmethod
    def with_status(conn: Connection, site_id: int, status: ModelStatus) -> StoredSiteModel | None:
        """The newest model of the site in ``status``."""
        r = conn.execute(
            select(site_models)
            .where(site_models.c.site_id == site_id, site_models.c.status == status.value)
            .order_by(site_models.c.version.desc())
            .limit(1)
        ).first()
        return None if r is None else _row(r)

    @staticmethod
    def versions(conn: Connection, site_id: int) -> list[StoredSiteModel]:
        """Every model of the site, newest first."""
        rows = conn.execute(
            select(site_models)
            .where(site_models.c.site_id == site_id)
            .order_by(site_models.c.version.desc())
        )
        return [_row(r) for r in rows]

    @staticmethod
    def set_status(
        conn: Connection,
        model: StoredSiteModel,
        status: ModelStatus,
        *,
        promoted_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status.value}
        if promoted_at is not None:
            values["promoted_at"] = promoted_at
        conn.execute(update(site_models).where(site_models.c.id == model.id).values(**values))
