"""Webhooks of a site and their delivery log.

Moderators of the site (and admins) may read both; only admins add, change or remove
webhooks, since a webhook sends the site's comments to another system. A webhook's secret is
shown once, in the answer that creates it (or rotates it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from rostra.actions.moderation import require_moderator
from rostra.actions.notifications import (
    WEBHOOK_EVENTS,
    create_webhook,
    delete_webhook,
    update_webhook,
)
from rostra.domain.identity import Staff
from rostra.storage.webhooks import Delivery, Webhook, WebhookStore
from rostra.web.api.threads import json_response
from rostra.web.auth import StaffDep
from rostra.web.deps import MAX_ID, ConnDep, DbDep, PathId, QueryId, SiteDep

router = APIRouter(prefix="/api/v1/sites/{site}/webhooks", tags=["webhooks"])


def _moderator(site: SiteDep, staff: StaffDep) -> Staff:
    require_moderator(staff, site)
    return staff


ModeratorDep = Annotated[Staff, Depends(_moderator)]


class WebhookIn(BaseModel):
    url: str = Field(max_length=2048)
    events: list[str] = Field(default=list(WEBHOOK_EVENTS), max_length=len(WEBHOOK_EVENTS))
    secret: str | None = Field(None, max_length=200, description="Default: a random secret.")


class WebhookPatch(BaseModel):
    url: str | None = Field(None, max_length=2048)
    events: list[str] | None = Field(None, max_length=len(WEBHOOK_EVENTS))
    active: bool | None = None
    rotate_secret: bool = False


def _hook(hook: Webhook, *, with_secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": hook.id,
        "url": hook.url,
        "events": list(hook.events),
        "active": hook.active,
        "created_at": hook.created_at.isoformat(),
    }
    if with_secret:
        out["secret"] = hook.secret
    return out


def _delivery(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event": d.event,
        "attempt": d.attempt,
        "status_code": d.status_code,
        "ok": d.ok,
        "duration_ms": d.duration_ms,
        "error": d.error,
        "created_at": d.created_at.isoformat(),
    }


@router.get("")
def list_webhooks(site: SiteDep, staff: ModeratorDep, conn: ConnDep) -> Response:
    return json_response({"webhooks": [_hook(h) for h in WebhookStore.for_site(conn, site.id)],
                          "events": list(WEBHOOK_EVENTS)})


@router.post("", status_code=201)
def add_webhook(site: SiteDep, staff: ModeratorDep, db: DbDep, body: WebhookIn) -> Response:
    hook = create_webhook(db, site=site, staff=staff, url=body.url, events=body.events,
                          secret=body.secret)
    return json_response(_hook(hook, with_secret=True), status_code=201)


@router.patch("/{webhook_id}")
def change_webhook(
    site: SiteDep, staff: ModeratorDep, db: DbDep, webhook_id: PathId, body: WebhookPatch
) -> Response:
    hook = update_webhook(db, site=site, staff=staff, webhook_id=webhook_id, url=body.url,
                          events=body.events, active=body.active,
                          rotate_secret=body.rotate_secret)
    return json_response(_hook(hook, with_secret=body.rotate_secret))


@router.delete("/{webhook_id}", status_code=204)
def remove_webhook(site: SiteDep, staff: ModeratorDep, db: DbDep, webhook_id: PathId) -> Response:
    delete_webhook(db, site=site, staff=staff, webhook_id=webhook_id)
    return Response(status_code=204)


@router.get("/deliveries")
def deliveries(
    site: SiteDep,
    staff: ModeratorDep,
    conn: ConnDep,
    webhook_id: QueryId = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID,
                                        description="Page: deliveries older than this id.")] = None,
    limit: int = Query(50, ge=1, le=200),
) -> Response:
    """Every attempt to call the site's webhooks, newest first."""
    if webhook_id is not None:
        WebhookStore.get(conn, webhook_id, site_id=site.id)  # 404 for another site's hook
    rows = WebhookStore.deliveries(conn, site.id, webhook_id=webhook_id, before_id=before,
                                   limit=limit)
    return json_response({"deliveries": [_delivery(d) for d in rows],
                          "next_before": rows[-1].id if len(rows) == limit else None})
