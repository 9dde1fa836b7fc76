"""Site settings for admins: thresholds with a live preview, word lists, premoderation, guests,
SSO keys, allowed origins, moderators and rejection reasons (the learning panel's forms are in
adaptation.py). Every change is audited by the action that makes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from rostra.actions.sites import update_site
from rostra.actions.workspace import (
    add_key,
    add_moderator,
    preview_thresholds,
    remove_moderator,
    require_admin,
    revoke_key,
    set_rejection_reasons,
    set_word_lists,
)
from rostra.domain.accounts import KeyAlgorithm
from rostra.domain.errors import InvalidInput
from rostra.domain.labels import LABELS
from rostra.domain.sites import Premoderation
from rostra.moderation.policy import Policy
from rostra.storage.accounts import ModeratorStore, SiteKeyStore, UserStore
from rostra.web.admin.adaptation import learning_panel
from rostra.web.admin.pages import PREFIX, Desk, DeskDep, PathId, redirect, render

router = APIRouter(prefix=PREFIX)
PREVIEW_SIZES = (100, 500, 2000)
PREMODERATION_NAMES = {
    Premoderation.NONE: "None: the engine's decision stands",
    Premoderation.ALL: "All comments wait for a moderator",
    Premoderation.NEW_AUTHORS: "New authors, until they have K approved comments",
    Premoderation.LINKS: "Comments with links",
}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]


def _thresholds(form: Mapping[str, Any], policy: Policy) -> dict[str, tuple[float, float]]:
    """(review, reject) per label from ``<label>.review`` / ``<label>.reject`` fields; a
    label whose fields are absent keeps its current thresholds."""
    found = {}
    for label in LABELS:
        current = policy.thresholds[label]
        values = []
        for kind, default in (("review", current.review), ("reject", current.reject)):
            raw = form.get(f"{label}.{kind}")
            if raw is None or not str(raw).strip():
                values.append(default)
                continue
            try:
                values.append(float(str(raw)))
            except ValueError:
                raise InvalidInput(f"{label} {kind} must be a number between 0 and 1",
                                   field=f"{label}.{kind}") from None
        found[label] = (values[0], values[1])
    Policy.from_dict({"thresholds": {k: {"review": a, "reject": b}
                                     for k, (a, b) in found.items()}})  # validates
    return found


def _last(value: Any) -> int:
    try:
        last = int(str(value or 500))
    except ValueError:
        last = 500
    return last if last in PREVIEW_SIZES else 500


def _page(request: Request, desk: Desk, **extra: Any) -> Response:
    engine = request.app.state.engine
    with engine.connect() as conn:
        keys = SiteKeyStore.list_all(conn, desk.site.id)
        moderators = ModeratorStore.moderators_of(conn, desk.site.id)
        candidates = [u.username for u in UserStore.list_all(conn)
                      if u.role.value == "moderator" and u.id not in {m.id for m in moderators}
                      and not u.disabled]
        learning = learning_panel(conn, desk.site.id, request.query_params.get("learning"))
    policy = Policy.from_dict(desk.site.policy)
    context: dict[str, Any] = {
        "desk": desk, "section": "settings", "site": desk.site, "policy": policy,
        "values": {label: (t.review, t.reject) for label, t in policy.thresholds.items()},
        "keys": keys, "moderators": moderators, "candidates": candidates,
        "premoderation": PREMODERATION_NAMES, "algorithms": [a.value for a in KeyAlgorithm],
        "preview": None, "preview_sizes": PREVIEW_SIZES, "last": 500, "new_secret": None,
        "notice": request.query_params.get("saved"), "learning": learning,
    }
    context.update(extra)
    return render(request, "settings.html", context)


@router.get("/{site}/settings")
def settings_page(request: Request, desk: DeskDep) -> Response:
    require_admin(desk.staff)
    if "preview" not in request.query_params:
        return _page(request, desk)
    # Without script, "Preview" submits the thresholds here and the page shows the counts.
    policy = Policy.from_dict(desk.site.policy)
    thresholds = _thresholds(request.query_params, policy)
    last = _last(request.query_params.get("last"))
    preview = preview_thresholds(request.app.state.engine, desk.site, thresholds, last=last)
    return _page(request, desk, preview=preview, values=thresholds, last=last)


@router.get("/{site}/settings/preview")
def preview(request: Request, desk: DeskDep) -> Response:
    """JSON for the page script: how decisions of the last N comments would change."""
    require_admin(desk.staff)
    policy = Policy.from_dict(desk.site.policy)
    thresholds = _thresholds(request.query_params, policy)
    result = preview_thresholds(request.app.state.engine, desk.site, thresholds,
                                last=_last(request.query_params.get("last")))
    return JSONResponse(result.to_dict())


def _saved(desk: Desk, what: str) -> Response:
    return redirect(f"{desk.base}/settings?saved={what}#{what}")


@router.post("/{site}/settings/thresholds")
async def save_thresholds(request: Request, desk: DeskDep) -> Response:
    require_admin(desk.staff)
    form = await request.form()
    thresholds = _thresholds(form, Policy.from_dict(desk.site.policy))
    await run_in_threadpool(update_site, request.app.state.engine, desk.site.slug,
                            thresholds=thresholds, user_id=desk.staff.user_id)
    return _saved(desk, "thresholds")


@router.post("/{site}/settings/general")
def save_general(
    request: Request,
    desk: DeskDep,
    name: Annotated[str, Form(max_length=200)],
    premoderation: Annotated[str, Form(max_length=20)],
    premoderation_k: Annotated[int, Form(ge=1, le=1000)] = 1,
    guests: Annotated[str, Form(max_length=10)] = "",
    origins: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    require_admin(desk.staff)
    update_site(request.app.state.engine, desk.site.slug, name=name, guests_allowed=bool(guests),
                premoderation=premoderation, premoderation_k=premoderation_k,
                origins=_lines(origins), user_id=desk.staff.user_id)
    return _saved(desk, "general")


@router.post("/{site}/settings/words")
def save_words(
    request: Request,
    desk: DeskDep,
    banned: Annotated[str, Form(max_length=400_000)] = "",
    suspect: Annotated[str, Form(max_length=400_000)] = "",
) -> Response:
    require_admin(desk.staff)
    set_word_lists(request.app.state.engine, desk.site, desk.staff, banned=_lines(banned),
                   suspect=_lines(suspect))
    return _saved(desk, "words")


@router.post("/{site}/settings/reasons")
def save_reasons(
    request: Request, desk: DeskDep, reasons: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    require_admin(desk.staff)
    set_rejection_reasons(request.app.state.engine, desk.site, desk.staff, _lines(reasons))
    return _saved(desk, "reasons")


@router.post("/{site}/settings/keys")
def save_key(
    request: Request,
    desk: DeskDep,
    algorithm: Annotated[str, Form(max_length=10)] = "HS256",
    public_key: Annotated[str, Form(max_length=20000)] = "",
    kid: Annotated[str, Form(max_length=64)] = "",
    rotate: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    require_admin(desk.staff)
    try:
        chosen = KeyAlgorithm(algorithm)
    except ValueError:
        raise InvalidInput("unknown algorithm", field="algorithm") from None
    key, secret = add_key(request.app.state.engine, desk.site, desk.staff, chosen,
                          public_key=public_key.strip() or None, kid=kid.strip() or None,
                          rotate=bool(rotate))
    if secret is None:
        return _saved(desk, "keys")
    # The HS256 secret is shown once, on this response only; it is never shown again.
    response = _page(request, desk, new_secret={"kid": key.kid, "secret": secret})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/{site}/settings/keys/{kid}/revoke")
def revoke(request: Request, desk: DeskDep, kid: str) -> Response:
    require_admin(desk.staff)
    revoke_key(request.app.state.engine, desk.site, desk.staff, kid[:64])
    return _saved(desk, "keys")


@router.post("/{site}/settings/moderators")
def save_moderator(
    request: Request, desk: DeskDep, username: Annotated[str, Form(max_length=100)],
) -> Response:
    require_admin(desk.staff)
    add_moderator(request.app.state.engine, desk.site, desk.staff, username)
    return _saved(desk, "moderators")


@router.post("/{site}/settings/moderators/{user_id}/remove")
def drop_moderator(request: Request, desk: DeskDep, user_id: PathId) -> Response:
    require_admin(desk.staff)
    remove_moderator(request.app.state.engine, desk.site, desk.staff, user_id)
    return _saved(desk, "moderators")
