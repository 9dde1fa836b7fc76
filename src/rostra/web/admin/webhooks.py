"""The workspace's webhooks page: a site's webhooks and their delivery log, for its moderators;
adding, pausing and removing them for admins (the API offers the same)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from rostra.actions.notifications import (
    WEBHOOK_EVENTS,
    create_webhook,
    delete_webhook,
    update_webhook,
)
from rostra.storage.webhooks import Webhook, WebhookStore
from rostra.web.admin.pages import PREFIX, Desk, DeskDep, PathId, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _page(request: Request, desk: Desk, new_hook: Webhook | None = None,
          status_code: int = 200) -> Response:
    with request.app.state.engine.connect() as conn:
        hooks = WebhookStore.for_site(conn, desk.site.id)
        deliveries = WebhookStore.deliveries(conn, desk.site.id, limit=50)
    context: dict[str, Any] = {
        "desk": desk, "section": "settings", "site": desk.site, "hooks": hooks,
        "urls": {h.id: h.url for h in hooks}, "deliveries": deliveries,
        "events": WEBHOOK_EVENTS, "new_hook": new_hook, "is_admin": desk.staff.is_admin,
    }
    return render(request, "webhooks.html", context, status_code=status_code)


@router.get("/{site}/webhooks")
def webhooks_page(request: Request, desk: DeskDep) -> Response:
    return _page(request, desk)


@router.post("/{site}/webhooks")
async def add(request: Request, desk: DeskDep) -> Response:
    form = await request.form()
    hook = await run_in_threadpool(
        create_webhook, request.app.state.engine, site=desk.site, staff=desk.staff,
        url=str(form.get("url") or ""), events=[str(e) for e in form.getlist("events")],
    )
    # The secret is shown on this answer only, so it is a page, not a redirect.
    return _page(request, desk, new_hook=hook, status_code=201)


@router.post("/{site}/webhooks/{webhook_id}/toggle")
def toggle(request: Request, desk: DeskDep, webhook_id: PathId) -> Response:
    engine = request.app.state.engine
    with engine.connect() as conn:
        hook = WebhookStore.get(conn, webhook_id, site_id=desk.site.id)
    update_webhook(engine, site=desk.site, staff=desk.staff, webhook_id=hook.id,
                   active=not hook.active)
    return redirect(f"{desk.base}/webhooks")


@router.post("/{site}/webhooks/{webhook_id}/delete")
def remove(request: Request, desk: DeskDep, webhook_id: PathId) -> Response:
    delete_webhook(request.app.state.engine, site=desk.site, staff=desk.staff,
                   webhook_id=webhook_id)
    return redirect(f"{desk.base}/webhooks")
