"""Webhooks end to end: managed through the API, signed, retried, logged, never in the way."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from tests.fresh import fresh_python
from tests.receivers import webhook_receiver
from tests.web.conftest import post, staff_actor

from rostra.actions.delivery import DeliveryConfig, deliver_due
from rostra.domain.messages import verify_webhook_signature
from rostra.storage.outbox import OutboxKind, OutboxStatus, OutboxStore
from rostra.web.app import create_app

HOOKS = "/api/v1/sites/news/webhooks"


@pytest.fixture
def settings(settings):
    """The sender is driven by hand here, except where a test starts the app's own."""
    return settings.model_copy(update={"delivery_worker_enabled": False})


@pytest.fixture
def ada(db, site):
    return staff_actor(db, name="ada", admin=True)


@pytest.fixture
def receiver():
    with webhook_receiver() as r:
        yield r


def add_hook(client, ada, url, **fields):
    response = client.post(HOOKS, json={"url": url, **fields}, headers=ada.headers)
    assert response.status_code == 201, response.text
    return response.json()


def sender(settings, **overrides):
    return DeliveryConfig.from_settings(settings.model_copy(update=overrides))


def test_comment_created_is_posted_signed(client, settings, db, ada, alice, receiver):
    hook = add_hook(client, ada, receiver.url, events=["comment.created"])
    assert len(hook["secret"]) >= 32
    posted = post(client, alice, "A fair point about the budget.").json()
    assert receiver.requests == []  # the request only queued it
    assert deliver_due(db, sender(settings)) == 1
    [request] = receiver.requests
    assert request.path == "/hooks/rostra"
    assert request.headers["Rostra-Event"] == "comment.created"
    assert verify_webhook_signature(hook["secret"], request.headers["Rostra-Signature"],
                                    request.body, now=time.time())
    assert not verify_webhook_signature("another-secret-0123456789",
                                        request.headers["Rostra-Signature"], request.body,
                                        now=time.time())
    event = json.loads(request.body)
    assert event["type"] == "comment.created"
    assert event["id"] == request.headers["Rostra-Delivery"]
    assert event["site"]["slug"] == "news"
    assert event["data"]["id"] == posted["id"]
    assert event["data"]["body"] == "A fair point about the budget."
    assert event["data"]["story"]["title"] == "City budget"


def test_moderation_and_bans_reach_subscribers_only(client, settings, db, ada, alice, maria,
                                                    receiver):
    add_hook(client, ada, receiver.url, events=["comment.moderated", "author.banned"])
    posted = post(client, alice).json()
    decision = client.post(
        f"/api/v1/sites/news/moderation/comments/{posted['id']}/decision",
        json={"action": "reject", "version": posted["version"], "reason": "off topic"},
        headers=maria.headers,
    )
    assert decision.status_code == 200, decision.text
    ban = client.post(f"/api/v1/sites/news/moderation/authors/{alice.reader.author_id}/ban",
                      json={"days": 7, "reason": "spam"}, headers=maria.headers)
    assert ban.status_code in (200, 201), ban.text
    deliver_due(db, sender(settings))
    events = [json.loads(r.body) for r in receiver.requests]
    assert [e["type"] for e in events] == ["comment.moderated", "author.banned"]
    moderated, banned = (e["data"] for e in events)
    assert moderated["action"] == "reject" and moderated["reason"] == "off topic"
    assert moderated["comment"]["status"] == "rejected"
    assert moderated["moderator"]["username"] == "maria"
    assert banned["author"]["id"] == alice.reader.author_id and banned["permanent"] is False


def test_failing_receiver_is_retried_with_backoff_and_logged(client, settings, db, ada, alice):
    with webhook_receiver(fail_first=2) as receiver:
        hook = add_hook(client, ada, receiver.url)
        post(client, alice)
        cfg = sender(settings, delivery_backoff_seconds=30)
        # The post is queued at the real time; the sender's clock starts a day after it.
        t0 = datetime.now(UTC) + timedelta(days=1)
        # Attempts at t0, t0+30 s and t0+90 s (30 s, then doubled); nothing in between.
        schedule = [(t0, 1), (t0 + timedelta(seconds=29), 0), (t0 + timedelta(seconds=30), 1),
                    (t0 + timedelta(seconds=89), 0), (t0 + timedelta(seconds=90), 1),
                    (t0 + timedelta(days=1), 0)]
        for when, claimed in schedule:
            assert deliver_due(db, cfg, clock=lambda when=when: when) == claimed, when
        assert len(receiver.requests) == 3
    with db.connect() as conn:
        [job] = OutboxStore.list(conn, kind=OutboxKind.WEBHOOK)
    assert job.status is OutboxStatus.SENT and job.attempts == 3
    log = client.get(f"{HOOKS}/deliveries", headers=ada.headers).json()["deliveries"]
    assert [(d["attempt"], d["status_code"], d["ok"]) for d in log] == [
        (3, 204, True), (2, 500, False), (1, 500, False)]
    assert all(d["webhook_id"] == hook["id"] and d["event"] == "comment.created" for d in log)
    assert log[1]["error"] == "HTTP 500"


def test_unreachable_receiver_dies_after_the_last_attempt(client, settings, db, ada, alice):
    with webhook_receiver() as gone:
        url = gone.url
    add_hook(client, ada, url)
    post(client, alice)
    cfg = sender(settings, delivery_max_attempts=2, delivery_backoff_seconds=1)
    t0 = datetime.now(UTC) + timedelta(days=1)
    assert deliver_due(db, cfg, clock=lambda: t0) == 1
    assert deliver_due(db, cfg, clock=lambda: t0 + timedelta(seconds=1)) == 1
    with db.connect() as conn:
        [job] = OutboxStore.list(conn, kind=OutboxKind.WEBHOOK)
    assert job.status is OutboxStatus.DEAD and "ConnectError" in job.last_error
    log = client.get(f"{HOOKS}/deliveries", headers=ada.headers).json()["deliveries"]
    assert [d["status_code"] for d in log] == [None, None]


def test_delivery_log_is_for_the_sites_staff_only(client, db, ada, maria, olga, alice):
    add_hook(client, ada, "https://hooks.example/rostra")
    assert client.get(f"{HOOKS}/deliveries", headers=maria.headers).status_code == 200
    assert client.get(HOOKS, headers=maria.headers).json()["webhooks"][0]["url"] == (
        "https://hooks.example/rostra")
    assert "secret" not in client.get(HOOKS, headers=maria.headers).json()["webhooks"][0]
    assert client.get(f"{HOOKS}/deliveries", headers=olga.headers).status_code == 403
    assert client.get(f"{HOOKS}/deliveries", headers=alice.headers).status_code == 401
    assert client.get(f"{HOOKS}/deliveries").status_code == 401


def test_only_admins_manage_webhooks(client, ada, maria):
    refused = client.post(HOOKS, json={"url": "https://hooks.example/x"}, headers=maria.headers)
    assert refused.status_code == 403
    hook = add_hook(client, ada, "https://hooks.example/x")
    assert client.delete(f"{HOOKS}/{hook['id']}", headers=maria.headers).status_code == 403
    changed = client.patch(f"{HOOKS}/{hook['id']}", json={"active": False, "rotate_secret": True},
                           headers=ada.headers).json()
    assert changed["active"] is False and changed["secret"] != hook["secret"]
    assert client.delete(f"{HOOKS}/{hook['id']}", headers=ada.headers).status_code == 204
    assert client.get(HOOKS, headers=ada.headers).json()["webhooks"] == []


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://hooks.example/x"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "https://hooks.example/x", "events": ["comment.eaten"]}, "events"),
    ({"url": "https://hooks.example/x", "events": []}, "events"),
    ({"url": "https://hooks.example/x", "secret": "short"}, "secret"),
])
def test_bad_webhooks_are_refused_with_the_field(client, ada, body, field):
    response = client.post(HOOKS, json=body, headers=ada.headers)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_a_post_never_waits_for_a_slow_receiver(db, settings, word_engine, ada, alice):
    settings = settings.model_copy(update={"delivery_worker_enabled": True,
                                           "delivery_poll_seconds": 0.05})
    app = create_app(settings, engine=db, moderation_engine=word_engine)
    # The receiver is slow enough that a post waiting for it could not hide in the noise of a
    # busy machine (a post takes milliseconds; seen up to 1.7 s on a heavily loaded one).
    with webhook_receiver(delay=4.0) as receiver, TestClient(app) as client:
        add_hook(client, ada, receiver.url)
        started = time.perf_counter()
        response = post(client, alice, "The receiver sleeps while this is answered.")
        elapsed = time.perf_counter() - started
        assert response.status_code == 201
        assert elapsed < receiver.delay, elapsed
        # The app's own sender delivers it in the background, after the answer.
        [request] = receiver.wait_for(1, timeout=20)
        assert json.loads(request.body)["data"]["body"] == (
            "The receiver sleeps while this is answered.")


def test_a_server_without_webhook_calls_never_loads_the_http_client():
    """httpx costs every server process ~14 MB; it is imported for the first webhook call."""
    code = (
        "import sys\n"
        "import rostra.web.app\n"
        "from rostra.actions.delivery import Http\n"
        "client = Http()\n"
        "client.close()\n"
        "assert 'httpx' not in sys.modules, 'httpx was imported'\n"
        "try:\n"
        "    client.post('http://127.0.0.1:9/nothing', timeout=0.5)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__module__.split('.')[0])\n"
        "client.close()\n"
    )
    assert fresh_python(code, timeout=60).strip() == "httpx"
