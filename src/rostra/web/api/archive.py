"""Exports and erasure over HTTP, for admins: the site's archive, one commenter's data
(a data-access request) and forgetting a commenter (an erasure request).

The same actions as ``rostra export`` and ``rostra forget`` (docs/export.md). The site export
is streamed as JSON Lines while it is read, never held whole in memory.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from io import BytesIO
from typing import IO, Annotated, Any, cast

from fastapi import APIRouter, Depends, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StrictBool
from sqlalchemy import Engine

from rostra.actions.archive import export_author, export_site, forget_author
from rostra.domain.errors import InvalidInput, NotAllowed
from rostra.domain.identity import Staff
from rostra.domain.sites import Site
from rostra.web.api.threads import json_response
from rostra.web.auth import StaffDep
from rostra.web.deps import DbDep, PathId, SiteDep

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/sites/{site}", tags=["archives"])

NDJSON = "application/x-ndjson"
#: Bytes gathered before a piece of the export is handed to the response.
CHUNK_BYTES = 64 * 1024
#: Pieces waiting for a slow client at most (so at most ~1 MiB of a site is in memory).
QUEUE_CHUNKS = 16
#: A client that takes nothing for this long is gone; the export stops.
STALL_SECONDS = 300.0


def _admin(staff: StaffDep, site: SiteDep) -> Staff:
    if not staff.is_admin:
        raise NotAllowed("Only admins export or erase a site's data")
    return staff


AdminDep = Annotated[Staff, Depends(_admin)]


class _Stopped(Exception):
    """The response stopped reading (client gone); the export is abandoned."""


class _QueueWriter:
    """A binary file for ``export_site`` that hands its bytes to the response in chunks;
    writing blocks while the response is ``QUEUE_CHUNKS`` chunks behind."""

    def __init__(self, chunks: queue.Queue[object], stop: threading.Event) -> None:
        self._chunks = chunks
        self._stop = stop
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self.put(bytes(self._buffer))
            self._buffer.clear()

    def put(self, item: object) -> None:
        waited = 0.0
        while True:
            if self._stop.is_set():
                raise _Stopped()
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                waited += 0.5
                if waited >= STALL_SECONDS:
                    raise _Stopped() from None


class _Done:
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _site_chunks(db: Engine, site: Site) -> Iterator[bytes]:
    """The site export as byte chunks, read by a thread of its own so the database snapshot
    stays open while the client downloads. Raises (before any byte) if the export cannot
    start; a failure later aborts the transfer, so a broken export never looks complete."""
    chunks: queue.Queue[object] = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()

    def produce() -> None:
        writer = _QueueWriter(chunks, stop)
        try:
            export_site(db, site=site, out=cast(IO[bytes], writer))
            writer.flush()
            writer.put(_Done())
        except _Stopped:
            return
        except Exception as exc:  # noqa: BLE001 - handed to the response, which re-raises
            log.exception("export of site %s failed", site.slug)
            try:
                writer.put(_Failed(exc))
            except _Stopped:
                return

    thread = threading.Thread(target=produce, name=f"rostra-export-{site.slug}", daemon=True)
    thread.start()

    def take() -> Any:
        item = chunks.get()
        if isinstance(item, _Failed):
            raise item.error
        return item

    first = take()  # errors before the first byte become a problem response

    def rest() -> Iterator[bytes]:
        try:
            item = first
            while not isinstance(item, _Done):
                yield item
                item = take()
        finally:
            stop.set()

    return rest()


@router.get("/export", response_class=StreamingResponse,
            responses={200: {"content": {NDJSON: {}}, "description": "JSON Lines"}})
def export_whole_site(site: SiteDep, staff: AdminDep, db: DbDep) -> StreamingResponse:
    """Every story, author and comment of the site as JSON Lines (docs/export.md), streamed
    from one consistent snapshot; the same as ``rostra export site``."""
    return StreamingResponse(
        _site_chunks(db, site),
        media_type=NDJSON,
        headers={"Content-Disposition": f'attachment; filename="{site.slug}-export.jsonl"'},
    )


def _author_export(db: Engine, site: Site, ref: str) -> Response:
    out = BytesIO()
    counts = export_author(db, site=site, ref=ref, out=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line]
    return json_response({"export": lines[0], "records": lines[1:], "counts": counts})


@router.get("/authors/{author_id}/export")
def export_one_author(site: SiteDep, staff: AdminDep, db: DbDep, author_id: PathId) -> Response:
    """Everything stored about one commenter, for a data-access request: ``export`` (the
    header line of docs/export.md) and ``records`` (the other lines, each with its ``type``)."""
    return _author_export(db, site, str(author_id))


class AuthorEmailIn(BaseModel):
    email: Annotated[str, Field(min_length=3, max_length=320)]


@router.post("/authors/export")
def export_authors_by_email(
    site: SiteDep, staff: AdminDep, db: DbDep, body: AuthorEmailIn
) -> Response:
    """The same export for every commenter of the site with this email address, as
    ``rostra export author`` takes one. Sent in the body, so the address stays out of URLs
    and access logs."""
    if "@" not in body.email:
        raise InvalidInput("not an email address", field="email")
    return _author_export(db, site, body.email)


class ForgetIn(BaseModel):
    remove_comments: StrictBool


@router.post("/authors/{author_id}/forget")
def forget_one_author(
    site: SiteDep, staff: AdminDep, db: DbDep, author_id: PathId, body: ForgetIn
) -> Response:
    """Erase a commenter's name, email and IPs; their comments stay under "Deleted user" or,
    with ``remove_comments``, are deleted with their text. Logged in the moderation log."""
    done = forget_author(db, site=site, ref=str(author_id), remove_comments=body.remove_comments,
                         user_id=staff.user_id)
    return json_response({"author_id": author_id, "remove_comments": body.remove_comments,
                          **done})
