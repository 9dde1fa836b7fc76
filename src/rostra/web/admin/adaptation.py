"""Per-site learning in the workspace, as plain form posts: the comment card's "Teach this
site's model" form, and the learning panel of the settings page (its status, and training,
promotion and rollback for admins).

The page script sends the card's corrections to the JSON API (``/api/v1/sites/<slug>/adaptation``)
and adds the words selected in the text; without it the form posts here, with the labels. The
panel's forms post here with or without the script, which only keeps the page in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from rostra.actions.adaptation import adapt_site, learning_status, mark_example, promote, rollback
from rostra.actions.workspace import require_admin
from rostra.domain.errors import InvalidInput, NotAllowed, NotFound
from rostra.web.admin.pages import PREFIX, Desk, DeskDep, PathId, redirect, render

router = APIRouter(prefix=PREFIX)


@router.post("/{site}/comments/{comment_id}/marks")
def mark(
    request: Request,
    desk: DeskDep,
    comment_id: PathId,
    label: Annotated[list[str], Form(max_length=6)] = [],  # noqa: B006 - FastAPI copies defaults
    none: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Ticked labels apply; "none of them" says no label does; neither leaves them as they were."""
    labels = [] if none else (label or None)
    example = mark_example(
        request.app.state.engine, site=desk.site, comment_id=comment_id, labels=labels, spans=None
    )
    return render(
        request,
        "marked.html",
        {
            "desk": desk,
            "section": "queue",
            "comment_id": comment_id,
            "example": example,
            "back": f"{desk.base}/comments/{comment_id}",
        },
    )


# -- the settings page's learning panel ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notice:
    """What the panel says after one of its forms; ``refused`` when nothing changed."""

    text: str
    refused: bool = False


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    name: str
    auc: float | None
    agreement: float | None
    identity_fpr: float | None
    span_f1: float | None


@dataclass(frozen=True, slots=True)
class LearningPanel:
    """The site's learning status as the panel shows it (what the JSON status returns)."""

    status: dict[str, Any]
    newest: dict[str, Any] | None  # the newest model, whose comparison the table shows
    rows: list[ComparisonRow]
    notice: Notice | None


def learning_panel(conn: Connection, site_id: int, outcome: str | None) -> LearningPanel:
    """The panel of the settings page; ``outcome`` names what a form just did (see OUTCOMES)."""
    status = learning_status(conn, site_id)
    newest = status["models"][0] if status["models"] else None
    rows: list[ComparisonRow] = []
    if newest is not None:
        metrics = newest["metrics"]
        named = [("base engine", metrics.get("base"))]
        if metrics.get("active"):
            named.append((f"active (v{metrics.get('against')})", metrics["active"]))
        named.append((f"v{newest['version']} ({newest['status']})", metrics.get("candidate")))
        rows = [
            ComparisonRow(
                name, *(_number(m, key) for key in ("auc", "agreement", "identity_fpr", "span_f1"))
            )
            for name, m in named
        ]
    notice = OUTCOMES[outcome](status) if outcome in OUTCOMES else None
    return LearningPanel(status=status, newest=newest, rows=rows, notice=notice)


def _number(metrics: dict[str, Any] | None, key: str) -> float | None:
    value = (metrics or {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _model(status: dict[str, Any], version: int | None) -> dict[str, Any] | None:
    return next((m for m in status["models"] if m["version"] == version), None)


def _reference(metrics: dict[str, Any]) -> str:
    against = metrics.get("against")
    return "the base engine" if against is None else f"the active model (v{against})"


def _trained(status: dict[str, Any]) -> Notice:
    model = _model(status, status["shadow_version"])
    if model is None:  # promoted or replaced by someone else since
        return Notice("A new model was trained.")
    metrics = model["metrics"]
    text = (
        f"Model v{model['version']} was trained on {model['examples']} decisions and is in "
        "shadow: it scores new comments without deciding on them."
    )
    refusals = metrics.get("refusals") or []
    if refusals:
        return Notice(f"{text} It cannot be promoted: {'; '.join(refusals)}.")
    return Notice(
        f"{text} It beat {_reference(metrics)} on the most recent decisions: "
        "promote it to let it decide."
    )


def _not_promoted(status: dict[str, Any]) -> Notice:
    model = _model(status, status["shadow_version"])
    if model is None:
        return Notice("Promotion refused.", refused=True)
    metrics, version = model["metrics"], model["version"]
    if metrics.get("against") != status["active_version"]:
        return Notice(
            f"Promotion refused: model v{version} was compared with another model "
            "than the active one. Train a new model.",
            refused=True,
        )
    reasons = "; ".join(metrics.get("refusals") or []) or "it did not win its comparison"
    return Notice(
        f"Promotion refused: model v{version} did not beat {_reference(metrics)} on "
        f"the most recent decisions ({reasons}). It stays in shadow.",
        refused=True,
    )


def _promoted(status: dict[str, Any]) -> Notice:
    return Notice(
        f"Model v{status['active_version']} is active: it decides on new comments. "
        "Roll back to undo."
    )


def _rolled_back(status: dict[str, Any]) -> Notice:
    active = status["active_version"]
    if active is None:
        return Notice("Rolled back: the base engine decides on new comments again.")
    return Notice(f"Rolled back: model v{active} decides on new comments again.")


#: Every outcome a panel form redirects with, and what the page then says. The page builds the
#: sentence from the site's status, so the address carries a name and never text to show.
OUTCOMES: dict[str, Callable[[dict[str, Any]], Notice]] = {
    "trained": _trained,
    "untrained": lambda _: Notice(
        "Nothing to train on yet: decide on some of this site's comments first.", refused=True
    ),
    "promoted": _promoted,
    "not-promoted": _not_promoted,
    "no-shadow": lambda _: Notice(
        "Nothing to promote: no model is in shadow. Train a new model first.", refused=True
    ),
    "rolled-back": _rolled_back,
    "no-rollback": lambda _: Notice(
        "Nothing to roll back: no site model is active, the base engine decides.", refused=True
    ),
}


def _back(desk: Desk, outcome: str) -> Response:
    assert outcome in OUTCOMES
    return redirect(f"{desk.base}/settings?learning={outcome}#learning")


@router.post("/{site}/settings/learning/train")
def train(request: Request, desk: DeskDep) -> Response:
    """Train a site model from the site's decisions; it goes to shadow."""
    require_admin(desk.staff)
    try:
        adapt_site(
            request.app.state.engine,
            request.app.state.moderation_engine,
            site=desk.site,
            staff=desk.staff,
        )
    except InvalidInput:  # no decisions to learn from
        return _back(desk, "untrained")
    return _back(desk, "trained")


@router.post("/{site}/settings/learning/promote")
def promote_shadow(request: Request, desk: DeskDep) -> Response:
    """Make the shadow model active, if it won its comparison."""
    require_admin(desk.staff)
    try:
        promote(request.app.state.engine, site=desk.site, staff=desk.staff)
    except NotFound:
        return _back(desk, "no-shadow")
    except NotAllowed:
        return _back(desk, "not-promoted")
    return _back(desk, "promoted")


@router.post("/{site}/settings/learning/rollback")
def roll_back(request: Request, desk: DeskDep) -> Response:
    """Back to the previously active model, or to the base engine."""
    require_admin(desk.staff)
    try:
        rollback(request.app.state.engine, site=desk.site, staff=desk.staff)
    except NotFound:
        return _back(desk, "no-rollback")
    return _back(desk, "rolled-back")
