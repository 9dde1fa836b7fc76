"""Live updates over Server-Sent Events, through TestClient on SQLite and PostgreSQL.

Streams are bounded (``stream_seconds``) so a test reads a whole response; the watcher polls
fast on SQLite, and on PostgreSQL is woken by LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time

import pytest
from fastapi.testclient import TestClient
from tests.web.conftest import URL, post

from rostra.web.api.live import LiveHub
from rostra.web.api.live import event_stream as live_stream
from rostra.web.app import create_app


def live_hub(db, **options) -> LiveHub:
    return LiveHub(db, **{"stream_seconds": 0.6, "poll_seconds": 0.05,
                          "safety_poll_seconds": 0.5, **options})


@pytest.fixture
def hub(app, db) -> LiveHub:
    app.state.live_hub = live_hub(db)
    return app.state.live_hub


def parse(text: str) -> list[dict]:
    """The events of an SSE body: [{"id", "event", "data"}], comments and retry left out."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if line and not line.startswith(":") and ": " in line)
        if "event" in fields:
            events.append({"id": int(fields["id"]), "event": fields["event"],
                           "data": json.loads(fields["data"])})
    return events


def stream(client, story_id: int, **headers: str) -> tuple[object, list[dict]]:
    response = client.get(f"/api/v1/sites/news/stories/{story_id}/events", headers=headers)
    return response, parse(response.text)


def test_published_comment_appears_in_the_stream(client, hub, alice):
    posted = post(client, alice, "Fair point about the **levy**").json()
    response, events = stream(client, posted["story_id"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.text.startswith("retry: ")
    [event] = events
    assert event["event"] == "comment"
    comment = event["data"]
    assert comment["id"] == posted["id"] and comment["author"]["name"] == "alice"
    assert comment["html"] == "<p>Fair point about the <strong>levy</strong></p>"
    assert comment["status"] == "published" and comment["mine"] is False


def test_pending_comment_never_reaches_the_stream(client, hub, alice, bob):
    clean = post(client, alice, "A calm remark").json()
    held = post(client, bob, "what a stupid plan", story_id=clean["story_id"]).json()
    assert held["status"] == "pending"
    _, events = stream(client, clean["story_id"])
    assert [e["data"]["id"] for e in events] == [clean["id"]]
    assert "stupid" not in json.dumps(events)


def test_resume_after_last_event_id_sends_only_later_events(client, hub, alice, bob):
    first = post(client, alice, "First").json()
    story = first["story_id"]
    [seen] = stream(client, story)[1]
    second = post(client, bob, "Second", story_id=story).json()
    _, resumed = stream(client, story, **{"Last-Event-ID": str(seen["id"])})
    assert [e["data"]["id"] for e in resumed] == [second["id"]]
    by_query = client.get(f"/api/v1/sites/news/stories/{story}/events?after={seen['id']}")
    assert [e["data"]["id"] for e in parse(by_query.text)] == [second["id"]]


def test_edit_streams_the_new_text(client, hub, alice):
    posted = post(client, alice, "Orginal text").json()
    path = f"/api/v1/sites/news/comments/{posted['id']}"
    assert client.patch(path, json={"body": "Original text"}, headers=alice.headers).is_success
    _, events = stream(client, posted["story_id"])
    assert [e["event"] for e in events] == ["comment", "edited"]
    assert events[1]["data"]["html"] == "<p>Original text</p>"
    assert events[1]["data"]["edited_at"] is not None


def test_deleted_comment_streams_only_its_removal(client, hub, alice):
    posted = post(client, alice, "Soon gone").json()
    path = f"/api/v1/sites/news/comments/{posted['id']}"
    assert client.delete(path, headers=alice.headers).status_code == 204
    _, events = stream(client, posted["story_id"])
    # Its publication is not replayed with text: a removed comment's words are never sent.
    assert [(e["event"], e["data"]) for e in events] == [("removed", {"id": posted["id"]})]


def test_fresh_stream_replays_only_recent_events(client, app, db, alice):
    posted = post(client, alice, "Said a while ago").json()
    app.state.live_hub = live_hub(db, replay_seconds=0)
    assert stream(client, posted["story_id"])[1] == []


def _post_when_connected(writer, reader, alice, story: int) -> float:
    """Open a stream on ``reader``; once it is connected, post through ``writer``; return
    how long the comment took to arrive on the stream."""
    posted: dict = {}

    def post_now() -> None:
        posted["at"] = time.monotonic()
        posted["response"] = post(writer, alice, "Breaking news", story_id=story)

    poster = None
    with reader.stream("GET", f"/api/v1/sites/news/stories/{story}/events") as response:
        for line in response.iter_lines():
            if line == ": connected":
                poster = threading.Thread(target=post_now)
                poster.start()
            if line.startswith("data:") and "Breaking news" in line:
                arrived = time.monotonic()
                break
        else:
            arrived = None
    assert poster is not None
    poster.join()
    assert posted["response"].status_code == 201
    assert arrived is not None, "the comment never reached the stream"
    return arrived - posted["at"]


def test_comment_posted_during_a_stream_wakes_it(client, app, db, alice):
    app.state.live_hub = live_hub(db, stream_seconds=4.0, replay_seconds=0)
    story = post(client, alice, "Opening remark").json()["story_id"]
    assert _post_when_connected(client, client, alice, story) < 2.0


def test_another_server_process_hears_the_comment(db, settings, word_engine, alice):
    """Two apps on one database stand for two `rostra serve --workers 2` processes: on
    PostgreSQL the reader's process is woken by NOTIFY, on SQLite by its poll."""
    writer = create_app(settings, engine=db, moderation_engine=word_engine)
    reader = create_app(settings, engine=db, moderation_engine=word_engine)
    reader.state.live_hub = live_hub(db, stream_seconds=4.0, replay_seconds=0,
                                     safety_poll_seconds=30.0)
    with TestClient(writer) as w, TestClient(reader) as r:
        story = post(w, alice, "Opening remark").json()["story_id"]
        assert _post_when_connected(w, r, alice, story) < 2.0


def test_idle_stream_sends_heartbeats_and_ends(client, app, db, alice):
    app.state.live_hub = live_hub(db, stream_seconds=1.5, heartbeat_seconds=0.2)
    story = post(client, alice, "Quiet thread").json()["story_id"]
    started = time.monotonic()
    response = client.get(f"/api/v1/sites/news/stories/{story}/events")
    assert time.monotonic() - started < 6  # ends by itself, after about 1.5 s
    assert response.text.count(": ping") >= 2


def test_story_of_another_site_or_unknown_is_404(client, hub, alice, other_site):
    story = post(client, alice, "Hello").json()["story_id"]
    elsewhere = client.get(f"/api/v1/sites/other/stories/{story}/events")
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "story_not_found"
    assert client.get("/api/v1/sites/news/stories/999/events").status_code == 404
    bad = client.get(f"/api/v1/sites/news/stories/{story}/events?after=-1")
    assert bad.status_code == 400


def test_stream_from_an_allowed_origin_carries_cors(client, db, hub, alice, site):
    from rostra.storage.database import transaction
    from rostra.storage.sites import SiteStore

    with transaction(db) as conn:
        SiteStore.update(conn, site.id, allowed_origins=["https://news.example"])
    client.app.state.origin_cache.invalidate()
    story = post(client, alice, "Hi").json()["story_id"]
    response = client.get(f"/api/v1/sites/news/stories/{story}/events",
                          headers={"Origin": "https://news.example"})
    assert response.headers["access-control-allow-origin"] == "https://news.example"


def test_thread_page_says_where_its_live_stream_starts(client, hub, alice, bob):
    first = post(client, alice, "Already on the page").json()
    page = client.get("/api/v1/sites/news/thread", params={"url": URL}).json()
    assert [c["id"] for c in page["comments"]] == [first["id"]]
    second = post(client, bob, "Arrived later", story_id=first["story_id"]).json()
    response = client.get(f"/api/v1/sites/news/stories/{first['story_id']}/events",
                          params={"after": page["last_event_id"]})
    assert [e["data"]["id"] for e in parse(response.text)] == [second["id"]]


def test_exit_signal_ends_open_streams_then_reaches_the_server(client, db, alice):
    """Servers wait for open responses before stopping; SIGTERM must end the streams at once
    and still reach the server's own handler (Uvicorn's, here a stand-in)."""
    story = post(client, alice, "Still here").json()["story_id"]
    heard: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))

    async def listen_then_terminate() -> list[str]:
        hub = LiveHub(db, stream_seconds=60, heartbeat_seconds=60, poll_seconds=0.05)
        hub.watch_exit_signals()
        chunks: list[str] = []

        async def consume() -> None:
            async for chunk in live_stream(hub, story, None):
                chunks.append(chunk)

        task = asyncio.create_task(consume())
        # Wait for the stream to be serving (not a fixed sleep: CI machines can be slow).
        deadline = time.monotonic() + 20
        while not any("Still here" in chunk for chunk in chunks) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)
        signalled.append(time.monotonic())
        await asyncio.wait_for(task, 10)
        return chunks

    signalled: list[float] = []
    try:
        chunks = asyncio.run(listen_then_terminate())
        # The stream would run for 60 s; it must end within seconds of the signal.
        assert time.monotonic() - signalled[0] < 10
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert heard == [signal.SIGTERM]
    assert any("Still here" in chunk for chunk in chunks)  # it streamed until told to stop
