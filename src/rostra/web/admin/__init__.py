"""The moderators' workspace at ``/moderate``: server-rendered pages with a little script.

``install(app)`` mounts it. Every page needs a staff session; every form posts with the
session's CSRF token and works without JavaScript; the script only makes it faster.
"""

from fastapi import APIRouter

from rostra.web.admin import adaptation, audit, authors, dashboard, login, queue, settings
from rostra.web.admin.pages import install

router = APIRouter(include_in_schema=False)
for _module in (login, queue, authors, adaptation, settings, audit, dashboard):
    router.include_router(_module.router)

__all__ = ["install", "router"]
