"""WebhookStore: a site's webhook endpoints and the log of every delivery attempt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update

from rostra.domain.errors import NotFound
from rostra.storage.tables import webhook_deliveries, webhooks


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    site_id: int
    url: str
    secret: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: int
    outbox_id: int | None
    event: str
    attempt: int
    status_code: int | None
    duration_ms: int
    error: str | None
    created_at: datetime

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _to_webhook(row: Row[Any]) -> Webhook:
    return Webhook(
        id=row.id,
        site_id=row.site_id,
        url=row.url,
        secret=row.secret,
        events=tuple(row.events),
        active=row.active,
        created_at=row.created_at,
    )


def _to_delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        outbox_id=row.outbox_id,
        event=row.event,
        attempt=row.attempt,
        status_code=row.status_code,
        duration_ms=row.duration_ms,
        error=row.error,
        created_at=row.created_at,
    )


# Built once: values go in as parameters (building a statement costs ~4x executing it).
_ACTIVE = (
    select(webhooks)
    .where(webhooks.c.site_id == bindparam("b_site"), webhooks.c.active.is_(True))
    .order_by(webhooks.c.id)
)


class WebhookStore:
    @staticmethod
    def create(
        conn: Connection,
        *,
        site_id: int,
        url: str,
        secret: str,
        events: list[str],
        now: datetime,
        active: bool = True,
    ) -> Webhook:
        hook_id = conn.execute(
            insert(webhooks)
            .values(
                site_id=site_id,
                url=url,
                secret=secret,
                events=events,
                active=active,
                created_at=now,
            )
            .returning(webhooks.c.id)
        ).scalar_one()
        return WebhookStore.get(conn, int(hook_id))

    @staticmethod
    def get(conn: Connection, webhook_id: int, *, site_id: int | None = None) -> Webhook:
        query = select(webhooks).where(webhooks.c.id == webhook_id)
        if site_id is not None:
            query = query.where(webhooks.c.site_id == site_id)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"No webhook {webhook_id} on this site")
        return _to_webhook(row)

    @staticmethod
    def for_site(conn: Connection, site_id: int) -> list[Webhook]:
        rows = conn.execute(
            select(webhooks).where(webhooks.c.site_id == site_id).order_by(webhooks.c.id)
        )
        return [_to_webhook(r) for r in rows]

    @staticmethod
    def subscribers(conn: Connection, site_id: int, event: str) -> list[Webhook]:
        """The site's active webhooks that subscribe to ``event`` (a handful per site, so the
        JSON list is filtered here rather than in SQL that differs per database)."""
        rows = conn.execute(_ACTIVE, {"b_site": site_id})
        return [h for h in map(_to_webhook, rows) if event in h.events]

    @staticmethod
    def update(conn: Connection, webhook: Webhook, **values: Any) -> Webhook:
        """Change ``url``, ``secret``, ``events`` or ``active``."""
        allowed = {"url", "secret", "events", "active"}
        changes = {k: v for k, v in values.items() if k in allowed and v is not None}
        if changes:
            conn.execute(update(webhooks).where(webhooks.c.id == webhook.id).values(**changes))
        return WebhookStore.get(conn, webhook.id)

    @staticmethod
    def delete(conn: Connection, webhook: Webhook) -> None:
        conn.execute(delete(webhooks).where(webhooks.c.id == webhook.id))

    @staticmethod
    def record_delivery(
        conn: Connection,
        *,
        webhook_id: int,
        outbox_id: int | None,
        event: str,
        attempt: int,
        status_code: int | None,
        duration_ms: int,
        error: str | None,
        now: datetime,
    ) -> None:
        conn.execute(
            insert(webhook_deliveries).values(
                webhook_id=webhook_id,
                outbox_id=outbox_id,
                event=event,
                attempt=attempt,
                status_code=status_code,
                duration_ms=duration_ms,
                error=None if error is None else error[:2000],
                created_at=now,
            )
        )

    @staticmethod
    def prune_deliveries(conn: Connection, *, before: datetime) -> int:
        return int(
            conn.execute(
                delete(webhook_deliveries).where(webhook_deliveries.c.created_at < before)
            ).rowcount
        )

    @staticmethod
    def deliveries(
        conn: Connection,
        site_id: int,
        *,
        webhook_id: int | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """The site's delivery attempts, newest first."""
        query = (
            select(webhook_deliveries)
            .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
            .where(webhooks.c.site_id == site_id)
            .order_by(webhook_deliveries.c.id.desc())
            .limit(limit)
        )
        if webhook_id is not None:
            query = query.where(webhook_deliveries.c.webhook_id == webhook_id)
        if before_id is not None:
            query = query.where(webhook_deliveries.c.id < before_id)
        return [_to_delivery(r) for r in conn.execute(query)]
