"""Dependencies as named types: settings, databases, the moderation engine, the site.

Everything comes from ``request.app.state`` (set by ``create_app``), never from a module-level
singleton, so tests build as many apps as they like. The dependencies that only read
``app.state`` are ``async``: FastAPI runs sync dependencies in the thread pool, and a thread
hop per trivial lookup costs more than the lookup. Anything that touches the database stays
sync (STYLE 4.3).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy import Connection, Engine

from rostra.actions.comments import Limits, ModerationEngineLike
from rostra.config import Settings
from rostra.domain.sites import Site
from rostra.storage.sites import SiteStore


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _db(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _moderation_engine(request: Request) -> ModerationEngineLike:
    engine: ModerationEngineLike = request.app.state.moderation_engine
    return engine


async def _limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


def _conn(db: Annotated[Engine, Depends(_db)]) -> Iterator[Connection]:
    """A connection for reads; nothing read through it is ever committed."""
    with db.connect() as conn:
        yield conn


def _site(
    db: Annotated[Engine, Depends(_db)],
    site: Annotated[str, Path(max_length=64, description="The site's slug.")],
) -> Site:
    with db.connect() as conn:
        return SiteStore.get_by_slug(conn, site)


#: Largest id either database stores (BIGINT / SQLite INTEGER); larger numbers in a path or
#: query are a 400, never a database overflow (500).
MAX_ID = 2**63 - 1
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

SettingsDep = Annotated[Settings, Depends(_settings)]
DbDep = Annotated[Engine, Depends(_db)]
ConnDep = Annotated[Connection, Depends(_conn)]
ModerationEngineDep = Annotated[ModerationEngineLike, Depends(_moderation_engine)]
LimitsDep = Annotated[Limits, Depends(_limits)]
SiteDep = Annotated[Site, Depends(_site)]
