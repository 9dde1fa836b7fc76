"""The least that one Rostra process can spend on a post with moderation on: a bound.

An ASGI app (FastAPI, as Rostra's API) with Rostra's own post route path that validates the
posted JSON with a pydantic model, scores the body with the moderation engine (shipped models,
default policy, as a new site has) and answers 201 with the decision. It stores nothing, signs
nothing, renders no Markdown and checks no story, author or rate limit: everything a real post
does on top of this is left out. ``bench/threads_vs_isso.py`` runs it in one Uvicorn process
beside the two servers, so its posts/s bound what one Rostra process could ever reach.

    python -m uvicorn post_bound:create_app --factory --port 8001   # from bench/
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from pydantic import BaseModel

from rostra.moderation.engine import ModerationEngine


class GuestPost(BaseModel):
    """The fields of the bench's posts (Rostra's guest post without the optional ones)."""

    body: str
    name: str
    url: str
    title: str


def create_app() -> FastAPI:
    engine = ModerationEngine.from_model_dir(os.environ.get("ROSTRA_MODEL_DIR") or None)
    app = FastAPI()

    @app.get("/ready")
    def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/api/v1/sites/{slug}/comments", status_code=201)
    def post(slug: str, item: GuestPost) -> dict[str, str]:
        result = engine.moderate([item.body])[0]
        return {"site": slug, "decision": result.decision.value, "tier": result.tier}

    return app
