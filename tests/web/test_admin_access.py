"""Who may open which workspace page and post which form: without a browser.

Every page and form refuses anonymous visitors and readers (to the log-in page), moderators
of another site (403), and posts without the session's CSRF token (403); settings are for
admins only. Refused forms change nothing.
"""

import time

import pytest
from sqlalchemy import func, select
from tests.web.workspace import form, login, make_workspace

from rostra.storage.tables import comments, moderation_log


@pytest.fixture
def ws(db, monkeypatch):
    workspace = make_workspace(db, monkeypatch)
    yield workspace
    workspace.close()


@pytest.fixture
def held(ws):
    return ws.post(ws.alice, "what a stupid plan")


def pages(ws, held):
    author = ws.alice.reader.author_id
    return [
        "/moderate/news", "/moderate/news/queue", "/moderate/news/queue?queue=reported",
        f"/moderate/news/comments/{held['id']}", f"/moderate/news/authors/{author}",
        "/moderate/news/audit", "/moderate/news/audit.csv", "/moderate/news/dashboard",
        "/moderate/news/settings", "/moderate/news/settings/preview?toxicity.review=0.1",
    ]


def forms(ws, held):
    author = ws.alice.reader.author_id
    decision = {"action": "approve", "version": held["version"]}
    return [
        (f"/moderate/news/comments/{held['id']}/decision", decision),
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
    ]


def _state(db):
    with db.connect() as conn:
        return (conn.execute(select(comments.c.status, comments.c.version)).all(),
                conn.execute(select(func.count()).select_from(moderation_log)).scalar_one())


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
        assert form(olga, url, **data).status_code == 403, url
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
    before = _state(ws.db)
    for url, data in forms(ws, held):
        if "/settings/" in url:
            assert form(maria, url, **data).status_code == 403, url
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
