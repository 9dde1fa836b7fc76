"""Per-site learning over JSON: label corrections and span marks from the comment card, the
site's learning status (dashboard, settings page), training, promotion and rollback.

Moderators of the site only; cookie sessions need the CSRF header like every other write.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from rostra.actions import adaptation
from rostra.actions.moderation import require_moderator
from rostra.domain.identity import Staff
from rostra.web.auth import StaffDep
from rostra.web.deps import ConnDep, DbDep, ModerationEngineDep, PathId, SiteDep

router = APIRouter(prefix="/api/v1/sites/{site}/adaptation", tags=["adaptation"])


def _moderator(site: SiteDep, staff: StaffDep) -> Staff:
    require_moderator(staff, site)
    return staff


ModeratorDep = Annotated[Staff, Depends(_moderator)]


class MarksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: list[str] | None = Field(
        None, max_length=6, description="Labels that apply ([]: none of them); null: unchanged"
    )
    spans: list[tuple[int, int]] | None = Field(
        None, max_length=adaptation.MAX_SPANS,
        description="[start, end] character offsets of the unacceptable words; null: unchanged",
    )


@router.post("/comments/{comment_id}/marks", summary="Correct labels and mark words")
def mark(site: SiteDep, staff: ModeratorDep, db: DbDep, comment_id: PathId,
         body: MarksIn) -> dict[str, Any]:
    example = adaptation.mark_example(
        db, site=site, comment_id=comment_id, labels=body.labels,
        spans=None if body.spans is None else [list(s) for s in body.spans],
    )
    return {"comment_id": comment_id, "decision": example.decision, "labels": example.labels,
            "spans": [list(s) for s in example.spans]}


@router.get("/status", summary="Decisions so far, the site's models and the estimated gain")
def status(site: SiteDep, staff: ModeratorDep, conn: ConnDep) -> dict[str, Any]:
    return adaptation.learning_status(conn, site.id)


@router.post("/models", status_code=201, summary="Train a site model (stored in shadow)")
def train(site: SiteDep, staff: ModeratorDep, db: DbDep,
          engine: ModerationEngineDep) -> dict[str, Any]:
    report = adaptation.adapt_site(db, engine, site=site, staff=staff)
    return {"version": report.version, "examples": report.examples,
            "comparison": report.comparison.to_dict()}


@router.post("/promote", summary="Make the shadow model active, if it won the comparison")
def promote(site: SiteDep, staff: ModeratorDep, db: DbDep) -> dict[str, Any]:
    model = adaptation.promote(db, site=site, staff=staff)
    return {"active_version": model.version}


@router.post("/rollback", summary="Back to the previous active model (or the base engine)")
def rollback(site: SiteDep, staff: ModeratorDep, db: DbDep) -> dict[str, Any]:
    model = adaptation.rollback(db, site=site, staff=staff)
    return {"active_version": None if model is None else model.version}
