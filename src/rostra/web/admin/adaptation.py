"""The comment card's "Teach this site's model" form as a plain form post.

The page script sends the same corrections to the JSON API (``/api/v1/sites/<slug>/adaptation``)
and adds the words selected in the text; without it the form posts here, with the labels.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from rostra.actions.adaptation import mark_example
from rostra.web.admin.pages import PREFIX, DeskDep, PathId, render

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
    example = mark_example(request.app.state.engine, site=desk.site, comment_id=comment_id,
                           labels=labels, spans=None)
    return render(request, "marked.html", {
        "desk": desk, "section": "queue", "comment_id": comment_id, "example": example,
        "back": f"{desk.base}/comments/{comment_id}",
    })
