"""create_app(settings) -> FastAPI: routers, error handlers, protection, shared state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from rostra import __version__
from rostra.actions.comments import Limits, ModerationEngineLike
from rostra.actions.delivery import DeliveryConfig, DeliveryWorker
from rostra.config import Settings
from rostra.storage.database import make_engine
from rostra.storage.writers import posting_turn
from rostra.web import admin, auth
from rostra.web.admin import webhooks as admin_webhooks
from rostra.web.api import adaptation as site_learning
from rostra.web.api import archive as archives
from rostra.web.api import comments, live, moderation, notifications, threads, webhooks
from rostra.web.embed import views as embed
from rostra.web.errors import install_error_handlers
from rostra.web.protection import install_protection

API_DESCRIPTION = """Comments for news sites with machine-assisted moderation.

Readers authenticate with `Authorization: Bearer <token>` (the site's SSO JWT, or the reader
token a guest gets after posting); staff with a session cookie or `Authorization: Token
<api token>`. Errors are RFC 9457 problem objects with a stable `code`.
"""


def build_moderation_engine(settings: Settings) -> ModerationEngineLike:
    """The real engine from the shipped (or configured) model files, loaded once."""
    from rostra.moderation.engine import ModerationEngine

    engine: Any = ModerationEngine.from_model_dir(settings.model_dir)
    return engine  # type: ignore[no-any-return]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The e-mail and webhook sender runs beside the server (requests only queue work)."""
    settings: Settings = app.state.settings
    worker = None
    if settings.delivery_worker_enabled:
        worker = DeliveryWorker(app.state.engine, DeliveryConfig.from_settings(settings),
                                poll_seconds=settings.delivery_poll_seconds)
        worker.start()
    try:
        yield
    finally:
        if worker is not None:
            worker.stop()


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    moderation_engine: ModerationEngineLike | None = None,
) -> FastAPI:
    """The web application. ``engine`` (database) and ``moderation_engine`` default to ones
    built from ``settings``; tests pass their own."""
    app = FastAPI(
        title="Rostra",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine if engine is not None else make_engine(settings.database_url)
    app.state.moderation_engine = (
        moderation_engine if moderation_engine is not None else build_moderation_engine(settings)
    )
    # Posts on SQLite run one at a time (storage.writers); the accurate tier's inference steps
    # aside so that it still overlaps with the next post's work.
    accurate = getattr(app.state.moderation_engine, "accurate", None)
    if accurate is not None and hasattr(accurate, "around_inference"):
        accurate.around_inference = posting_turn(app.state.engine).stepped_aside
    app.state.limits = Limits(
        max_comment_chars=settings.max_comment_chars,
        edit_window_seconds=settings.edit_window_seconds,
        max_reply_depth=settings.max_reply_depth,
        tier=settings.moderation_tier,
    )
    install_error_handlers(app)
    install_protection(app, settings)
    app.include_router(auth.router)
    app.include_router(threads.router)
    app.include_router(comments.router)
    app.include_router(moderation.router)
    app.include_router(site_learning.router)
    admin.install(app)  # the moderators' workspace at /moderate
    app.include_router(live.router)
    app.include_router(embed.router)
    app.include_router(notifications.router)
    app.include_router(webhooks.router)
    app.include_router(archives.router)
    app.include_router(admin_webhooks.router)  # the workspace's webhooks page
    return app


def app_from_environment() -> FastAPI:
    """The app for ``rostra serve``: settings from ROSTRA_* variables (and $ROSTRA_CONFIG);
    each worker process calls this once (Uvicorn factory mode)."""
    from rostra.config import load_settings

    return create_app(load_settings())
