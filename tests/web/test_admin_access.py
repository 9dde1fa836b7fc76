"""Who may open which workspace page and post which form: without a browser.

Every page and form refuses anonymous visitors and readers (to the log-in page), moderators
of another site (403), and posts without the session's CSRF token (403); settings and
webhooks are for admins only. Refused forms change nothing. ``pages`` and ``forms`` list one
URL for every route of a site's workspace, and a test fails when a route is missing there.
"""

import importlib
import pkgutil
import re
import time
from urllib.parse import urlsplit

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from tests.factories import NOW
from tests.web.workspace import login

import rostra.web.admin
from rostra.moderation.adaptation import fit_site_model
from rostra.storage.database import transaction
from rostra.storage.examples import ExampleStore
from rostra.storage.site_models import ModelStatus, SiteModelStore
from rostra.storage.tables import comments, moderation_log, site_models, webhooks
from rostra.storage.webhooks import WebhookStore

#: The workspace routes that are not a site's: logging in and out, and the list of one's sites.
OPEN_ROUTES = {
    ("GET", "/moderate/login"), ("POST", "/moderate/login"), ("GET", "/moderate/sso"),
    ("GET", "/moderate/login/sso"), ("POST", "/moderate/login/sso"),
    ("POST", "/moderate/logout"), ("GET", "/moderate/"), ("GET", "/moderate"),
}


@pytest.fixture
def held(ws):
    """A held comment, a webhook, and site models that an allowed form would change: v1
    active (rollback), v2 in shadow and promotable (promote), a decision to learn (train)."""
    with transaction(ws.db) as conn:
        WebhookStore.create(conn, site_id=ws.site.id, url="https://hooks.example/in",
                            secret="s" * 32, events=["comment.created"], now=NOW)
        neutral = fit_site_model([]).to_bytes()
        first = SiteModelStore.add(
            conn, site_id=ws.site.id, artifact=neutral, examples=1, metrics={}, now=NOW
        )
        SiteModelStore.set_status(conn, first, ModelStatus.ACTIVE, promoted_at=NOW)
        SiteModelStore.add(
            conn,
            site_id=ws.site.id,
            artifact=neutral,
            examples=1,
            now=NOW,
            metrics={"promotable": True, "refusals": [], "against": 1},
        )
    comment = ws.post(ws.alice, "what a stupid plan")
    with transaction(ws.db) as conn:
        ExampleStore.record(
            conn,
            site_id=ws.site.id,
            comment_id=comment["id"],
            author_id=None,
            text="what a stupid plan",
            decision="reject",
            scores={},
            user_id=None,
            now=NOW,
        )
    return comment


def _hook_id(ws):
    with ws.db.connect() as conn:
        (hook,) = WebhookStore.for_site(conn, ws.site.id)
    return hook.id


def pages(ws, held):
    author = ws.alice.reader.author_id
    return [
        "/moderate/news", "/moderate/news/queue", "/moderate/news/queue?queue=reported",
        f"/moderate/news/comments/{held['id']}", f"/moderate/news/authors/{author}",
        "/moderate/news/audit", "/moderate/news/audit.csv", "/moderate/news/dashboard",
        "/moderate/news/settings", "/moderate/news/settings/preview?toxicity.review=0.1",
        "/moderate/news/webhooks",
    ]


def forms(ws, held):
    author = ws.alice.reader.author_id
    decision = {"action": "approve", "version": held["version"]}
    return [
        (f"/moderate/news/comments/{held['id']}/decision", decision),
        (f"/moderate/news/comments/{held['id']}/marks", {"label": "insult"}),
        ("/moderate/news/decisions", {"action": "reject",
                                      "items": f"{held['id']}:{held['version']}"}),
        (f"/moderate/news/authors/{author}/ban", {"days": "1"}),
        (f"/moderate/news/authors/{author}/unban", {}),
        ("/moderate/news/settings/thresholds", {"toxicity.review": "0.1"}),
        ("/moderate/news/settings/general", {"name": "Hacked", "premoderation": "all"}),
        ("/moderate/news/settings/words", {"banned": "hello"}),
        ("/moderate/news/settings/reasons", {"reasons": "Nope"}),
        ("/moderate/news/settings/keys", {"algorithm": "HS256"}),
        ("/moderate/news/settings/keys/k1/revoke", {}),
        ("/moderate/news/settings/moderators", {"username": "olga"}),
        ("/moderate/news/settings/moderators/1/remove", {}),
        ("/moderate/news/webhooks", {"url": "https://evil.example/in",
                                     "events": "comment.created"}),
        (f"/moderate/news/webhooks/{_hook_id(ws)}/toggle", {}),
        (f"/moderate/news/webhooks/{_hook_id(ws)}/delete", {}),
        ("/moderate/news/settings/learning/train", {}),
        ("/moderate/news/settings/learning/promote", {}),
        ("/moderate/news/settings/learning/rollback", {}),
    ]


def _send(client, url, data):
    """``form`` with the data as a dict (the webhook form has a field named ``url``)."""
    return client.post(url, data={"csrf_token": client.csrf, **data})


def _admin_only(url):
    return "/settings" in url or "/webhooks" in url


def _state(db):
    with db.connect() as conn:
        return (
            conn.execute(select(comments.c.status, comments.c.version)).all(),
            conn.execute(select(func.count()).select_from(moderation_log)).scalar_one(),
            conn.execute(select(webhooks.c.id, webhooks.c.url, webhooks.c.active)).all(),
            conn.execute(
                select(site_models.c.version, site_models.c.status).order_by(site_models.c.version)
            ).all(),
        )


def _workspace_routes():
    """Every route of every module of the workspace package (each has its own ``router``)."""
    found = []
    for module in pkgutil.iter_modules(rostra.web.admin.__path__):
        router = getattr(importlib.import_module(f"rostra.web.admin.{module.name}"), "router",
                         None)
        if isinstance(router, APIRouter):
            found += [r for r in router.routes if isinstance(r, APIRoute)]
    return found


def _route(routes, method, url):
    """(method, path template) of the one route that answers ``method url``."""
    path = urlsplit(url).path
    matches = [r.path for r in routes if method in r.methods and r.path_regex.match(path)]
    assert len(matches) == 1, (method, url, matches)
    return method, matches[0]


def test_every_workspace_route_is_covered(ws, held):
    routes = _workspace_routes()
    workspace = {(method, r.path) for r in routes for method in r.methods}
    assert len(workspace) > 30 and workspace >= OPEN_ROUTES
    covered = {_route(routes, "GET", url) for url in pages(ws, held)}
    covered |= {_route(routes, "POST", url) for url, _ in forms(ws, held)}
    assert ("POST", "/moderate/{site}/webhooks/{webhook_id}/toggle") in covered
    assert workspace - OPEN_ROUTES - covered == set(), "add these routes to pages() or forms()"
    assert not covered & OPEN_ROUTES
    anonymous = ws.client()
    for r in routes:  # every one of them is mounted in the app
        url = re.sub(r"\{\w+\}", "1", r.path.replace("{site}", "news"))
        assert anonymous.request(sorted(r.methods)[0], url).status_code != 404, r.path


def test_anonymous_visitors_are_sent_to_log_in(ws, held):
    client = ws.client()
    before = _state(ws.db)
    for url in pages(ws, held):
        response = client.get(url)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/moderate/login?next=%2Fmoderate%2F")
    for url, data in forms(ws, held):
        response = client.post(url, data=data)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/moderate/login")
    assert _state(ws.db) == before


def test_readers_with_tokens_are_not_staff(ws, held):
    client = ws.client()
    before = _state(ws.db)
    for url in pages(ws, held):
        response = client.get(url, headers=ws.alice.headers)
        assert response.status_code == 303, url
    for url, data in forms(ws, held):
        assert client.post(url, data=data, headers=ws.alice.headers).status_code == 303, url
    assert _state(ws.db) == before


def test_moderator_of_another_site_is_refused_everywhere(ws, held):
    olga = ws.client("olga")
    before = _state(ws.db)
    for url in pages(ws, held):
        response = olga.get(url)
        assert response.status_code == 403, url
        assert "what a stupid plan" not in response.text
    for url, data in forms(ws, held):
        assert _send(olga, url, data).status_code == 403, url
    assert _state(ws.db) == before
    assert olga.get("/moderate/other/queue").status_code == 200
    assert "News" not in olga.get("/moderate/").headers.get("location", "") + olga.get(
        "/moderate/other/queue").text.split("<main", 1)[1]


def test_forms_without_the_csrf_token_change_nothing(ws, held):
    ada = ws.client("ada")
    before = _state(ws.db)
    for url, data in forms(ws, held):
        response = ada.post(url, data=data)
        assert response.status_code == 403, url
        assert "CSRF" in response.text
        response = ada.post(url, data={**data, "csrf_token": "forged"})
        assert response.status_code == 403, url
    assert _state(ws.db) == before


def test_settings_are_for_admins_only(ws, held):
    maria = ws.client("maria")
    assert maria.get("/moderate/news/queue").status_code == 200
    assert 'href="/moderate/news/settings"' not in maria.get("/moderate/news/queue").text
    for url in ("/moderate/news/settings", "/moderate/news/settings/preview"):
        assert maria.get(url).status_code == 403
    assert maria.get("/moderate/news/webhooks").status_code == 200  # the log, to read
    before = _state(ws.db)
    admin_forms = [(url, data) for url, data in forms(ws, held) if _admin_only(url)]
    assert len(admin_forms) == 14
    for url, data in admin_forms:
        assert _send(maria, url, data).status_code == 403, url
    assert _state(ws.db) == before


def test_admin_opens_every_page(ws, held):
    ada = ws.client("ada")
    for url in pages(ws, held):
        response = ada.get(url)
        assert response.status_code in (200, 307, 303), url
    assert ada.get("/moderate/").status_code == 200  # two sites: a list, not a redirect


def test_log_in_and_out(ws):
    client = ws.client()
    assert login(client, "maria", "wrong password!").status_code == 401
    response = login(client, "maria", next="/moderate/news/audit")
    assert response.status_code == 303 and response.headers["location"] == "/moderate/news/audit"
    assert client.get("/moderate/").headers["location"] == "/moderate/news/queue"
    assert client.post("/moderate/logout", data={"csrf_token": ""}).status_code == 403
    csrf = client.get("/api/v1/auth/me").json()["csrf_token"]
    assert client.post("/moderate/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/moderate/news/queue").status_code == 303


def test_log_in_refuses_outside_redirects_and_forged_forms(ws):
    client = ws.client()
    response = login(client, "maria", next="//evil.example/moderate/")
    assert response.headers["location"] == "/moderate/"
    other = ws.client()
    forged = other.post("/moderate/login", data={"username": "maria", "password": "x" * 12,
                                                 "login_token": "made-up"})
    assert forged.status_code == 403
    assert "rostra_session" not in other.cookies


def test_expired_session_goes_back_to_log_in(ws, monkeypatch):
    maria = ws.client("maria")
    assert maria.get("/moderate/news/queue").status_code == 200
    later = time.time() + ws.app.state.settings.session_max_age_seconds + 60
    monkeypatch.setattr(time, "time", lambda: later)
    response = maria.get("/moderate/news/queue")
    assert response.status_code == 303 and "/moderate/login" in response.headers["location"]


def test_json_requests_get_problem_objects(ws, held):
    client = ws.client()
    response = client.get("/moderate/news/settings/preview",
                          headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
