"""Live updates: a story's newly published (and edited, and removed) comments as Server-Sent
Events, for every server process at once.

Streams follow the ``events`` table, which the actions append to in the same transaction as the
change, so a stream never announces a comment that was rolled back and never misses one a
resumed client had not seen (``Last-Event-ID``, or ``?after=``). Each process runs one watcher
that wakes its streams: on PostgreSQL it LISTENs to the NOTIFY that every appended event sends
(with a slow poll as a safety net); on SQLite it polls the newest event id once a second. A
stream lives a bounded time, then the browser reconnects and resumes where it left off (this
keeps proxies honest); on SIGTERM/SIGINT every stream ends at once so the server can stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from rostra.storage.events import CHANNEL, EventKind, EventStore
from rostra.storage.stories import StoryStore
from rostra.storage.threads import ThreadStore
from rostra.web.deps import MAX_ID, DbDep, PathId, SiteDep

log = logging.getLogger("rostra.web.live")

router = APIRouter(prefix="/api/v1/sites/{site}", tags=["live"])

#: What each event kind is called on the wire (the ``event:`` field).
WIRE_NAMES = {
    EventKind.PUBLISHED.value: "comment",
    EventKind.EDITED.value: "edited",
    EventKind.REMOVED.value: "removed",
}


@dataclass
class LiveHub:
    """One per app: wakes the streams of a story when its events table grows.

    ``stream_seconds`` bounds each response, ``heartbeat_seconds`` spaces the comment lines
    that keep idle connections open, ``poll_seconds`` is the SQLite poll interval (and
    PostgreSQL's while LISTEN is unavailable), ``replay_seconds`` how far back a fresh stream
    starts so that nothing published between loading the page and connecting is lost.
    """

    engine: Engine
    stream_seconds: float = 120.0
    heartbeat_seconds: float = 15.0
    poll_seconds: float = 1.0
    safety_poll_seconds: float = 10.0
    replay_seconds: float = 60.0
    retry_ms: int = 2000
    _waiters: dict[int, set[asyncio.Event]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _last_id: int | None = None
    closing: bool = False

    async def wait(self, story_id: int, timeout: float, after_id: int | None = None) -> None:
        """Return when the story may have news, or after ``timeout`` seconds. ``after_id``:
        the last event the stream has read; the hub's first look starts there, so a comment
        posted while the first watcher starts is not taken for old news."""
        event = asyncio.Event()
        self._waiters.setdefault(story_id, set()).add(event)
        if self._last_id is None and after_id is not None:
            self._last_id = after_id
        self._ensure_watcher()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            waiting = self._waiters.get(story_id)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._waiters[story_id]

    def wake(self, story_id: int) -> None:
        for event in self._waiters.get(story_id, ()):
            event.set()

    def close(self) -> None:
        """End every stream now (the server is shutting down); browsers reconnect elsewhere."""
        self.closing = True
        for waiting in self._waiters.values():
            for event in waiting:
                event.set()

    def watch_exit_signals(self) -> None:
        """Close the streams on SIGTERM/SIGINT, then let the server's own handler run.

        Servers such as Uvicorn wait for open responses before they stop; without this, a
        reader's open stream would hold a shutdown for up to ``stream_seconds``. Only the main
        thread may install handlers (it is where Uvicorn runs its loop); elsewhere, nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if getattr(previous, "rostra_live", False):
                continue

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.close)
                if callable(previous):
                    previous(signum, frame)
                elif previous == signal.SIG_DFL:
                    signal.signal(signum, signal.SIG_DFL)
                    os.kill(os.getpid(), signum)

            handler.rostra_live = True  # type: ignore[attr-defined]
            signal.signal(sig, handler)

    def _ensure_watcher(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._task = loop.create_task(self._watch(), name="rostra-live-watcher")

    async def _watch(self) -> None:
        """Run while some stream waits; the process holds nothing open when nobody listens."""
        try:
            if self.engine.dialect.name == "postgresql":
                await self._listen()
            else:
                await self._poll(self.poll_seconds)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the streams fall back to their own timeouts
            log.exception("live-update watcher failed; streams poll on their heartbeat")
        finally:
            self._task = None

    async def _catch_up(self) -> None:
        """Wake the stories that got events since the last look (one query for all)."""
        if self._last_id is None:
            self._last_id = await run_in_threadpool(self._newest)
            return
        news = await run_in_threadpool(self._stories_since, self._last_id)
        for event_id, story_id in news:
            self._last_id = max(self._last_id, event_id)
            self.wake(story_id)

    def _newest(self) -> int:
        with self.engine.connect() as conn:
            return EventStore.newest_id(conn)

    def _stories_since(self, after_id: int) -> list[tuple[int, int]]:
        with self.engine.connect() as conn:
            return EventStore.stories_since(conn, after_id)

    async def _poll(self, interval: float, *, until: float | None = None) -> None:
        while self._waiters and (until is None or time.monotonic() < until):
            await self._catch_up()
            await asyncio.sleep(interval)

    async def _listen(self) -> None:
        import psycopg

        conninfo = self.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        while self._waiters:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await self._catch_up()
                    while self._waiters:
                        gen = conn.notifies(timeout=self.safety_poll_seconds)
                        async for note in gen:
                            story, _, _ = note.payload.partition(":")
                            if story.isdigit():
                                self.wake(int(story))
                        await self._catch_up()  # the safety net: anything NOTIFY missed
            except psycopg.Error as exc:
                log.warning("LISTEN %s failed (%s); polling for a while", CHANNEL, exc)
                await self._poll(self.poll_seconds, until=time.monotonic() + 30)


def live_hub(app: Any) -> LiveHub:
    hub: LiveHub | None = getattr(app.state, "live_hub", None)
    if hub is None:
        hub = app.state.live_hub = LiveHub(app.state.engine)
        hub.watch_exit_signals()
    return hub


# --- the stream -----------------------------------------------------------------------------


def _frame(event_id: int, name: str, data: dict[str, Any]) -> str:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {event_id}\nevent: {name}\ndata: {payload}\n\n"


def _read(engine: Engine, story_id: int, after_id: int) -> tuple[int, list[str]]:
    """Frames for the story's events after ``after_id``, and the id to resume from."""
    with engine.connect() as conn:
        events = EventStore.since(conn, story_id, after_id, limit=100)
        shown = ThreadStore.by_ids(
            conn, [e.comment_id for e in events if e.comment_id is not None
                   and e.kind != EventKind.REMOVED.value]
        )
    frames = []
    for event in events:
        after_id = event.id
        name = WIRE_NAMES.get(event.kind)
        if name is None or event.comment_id is None:
            continue
        if name == "removed":
            frames.append(_frame(event.id, name, {"id": event.comment_id}))
        elif event.comment_id in shown:  # still published; else a removal follows anyway
            frames.append(_frame(event.id, name, {**shown[event.comment_id],
                                                  "story_id": story_id}))
    return after_id, frames


def _start(engine: Engine, story_id: int, replay_seconds: float) -> int:
    since = datetime.now(UTC) - timedelta(seconds=replay_seconds)
    with engine.connect() as conn:
        first = EventStore.first_id_since(conn, story_id, since)
        return EventStore.last_id(conn, story_id) if first is None else first - 1


async def event_stream(hub: LiveHub, story_id: int, after_id: int | None) -> AsyncIterator[str]:
    """The SSE text of one story: events after ``after_id`` (None: the last
    ``replay_seconds``), then new ones as they come, heartbeats, until the stream's time is up
    or the hub closes."""
    engine = hub.engine
    cursor: int = (after_id if after_id is not None
                   else await run_in_threadpool(_start, engine, story_id, hub.replay_seconds))
    yield f"retry: {hub.retry_ms}\n: connected\n\n"
    deadline = time.monotonic() + hub.stream_seconds
    beat = time.monotonic()
    while True:
        more = True
        while more:
            cursor, frames = await run_in_threadpool(_read, engine, story_id, cursor)
            more = len(frames) >= 100
            for frame in frames:
                yield frame
                beat = time.monotonic()
        now = time.monotonic()
        if now >= deadline or hub.closing:
            return
        if now - beat >= hub.heartbeat_seconds:
            yield ": ping\n\n"
            beat = now
        await hub.wait(story_id, min(deadline - now, hub.heartbeat_seconds - (now - beat)),
                       cursor)
        if hub.closing:
            return


@router.get("/stories/{story_id}/events", summary="Live updates of a story (Server-Sent Events)",
            response_class=StreamingResponse)
async def story_events(
    request: Request, site: SiteDep, db: DbDep, story_id: PathId,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID,
                                       description="Resume after this event id")] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """``text/event-stream`` of ``comment`` (newly published), ``edited`` and ``removed``
    events; ``data`` is the comment as thread items have it (``{"id"}`` for removals). Only
    published comments are ever sent. The browser's ``EventSource`` resumes by itself."""

    def check() -> None:
        with db.connect() as conn:
            StoryStore.get(conn, story_id, site_id=site.id)  # 404 for another site's story

    await run_in_threadpool(check)
    if last_event_id is not None and last_event_id.strip().isdigit():
        after = min(int(last_event_id.strip()), MAX_ID)
    return StreamingResponse(
        event_stream(live_hub(request.app), story_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
