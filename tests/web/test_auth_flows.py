"""Identity and protection through the real app, on SQLite and PostgreSQL."""

import time

import jwt
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import WordEngine, make_site

from rostra.actions import accounts
from rostra.actions.accounts import add_site_key, create_user
from rostra.config import Settings
from rostra.domain.accounts import KeyAlgorithm
from rostra.domain.comments import Role
from rostra.storage.database import make_engine, transaction
from rostra.storage.sites import SiteStore
from rostra.storage.tables import authors, comments
from rostra.web.app import create_app
from rostra.web.auth import CSRF_HEADER, SESSION_COOKIE

SECRET = "a-test-secret-key-that-is-long-enough"
PASSWORD = "correct horse battery"
URL = "https://news.example/2026/11/budget"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    monkeypatch.setattr(accounts, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def real_app(engine, **overrides):
    values = {"database_url": str(engine.url), "secret_key": SECRET, "dev_mode": False,
              "rate_limits_enabled": False, **overrides}
    return create_app(Settings(**values), engine=engine, moderation_engine=WordEngine())


@pytest.fixture
def site(db):
    return make_site(db, "news")


@pytest.fixture
def client(db, site):
    with TestClient(real_app(db), base_url="https://testserver") as client:
        yield client


def comment(client, headers=None, **fields):
    payload = {"body": "A fair point about the budget.", "url": URL, "title": "Budget",
               **fields}
    return client.post("/api/v1/sites/news/comments", json=payload, headers=headers or {})


def test_sso_reader_posts_as_themselves(client, db):
    key, secret = add_site_key(db, "news", KeyAlgorithm.HS256)
    token = jwt.encode({"sub": "u-1", "name": "Alice", "email": "alice@example.com",
                        "exp": int(time.time()) + 300}, secret, algorithm="HS256",
                       headers={"kid": key.kid})
    response = comment(client, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    with db.connect() as conn:
        row = conn.execute(select(authors.c.kind, authors.c.external_id, authors.c.name)).one()
    assert tuple(row) == ("sso", "u-1", "Alice")


def test_expired_sso_token_cannot_post(client, db):
    key, secret = add_site_key(db, "news", KeyAlgorithm.HS256)
    token = jwt.encode({"sub": "u-1", "name": "Alice", "email": "",
                        "exp": int(time.time()) - 300}, secret, algorithm="HS256",
                       headers={"kid": key.kid})
    response = comment(client, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    with db.connect() as conn:
        assert conn.execute(select(authors.c.id)).first() is None


def test_guest_gets_a_reader_token_that_names_them_later(client, db):
    first = comment(client, name="Bob")
    assert first.status_code == 201, first.text
    token = first.json()["reader_token"]
    again = comment(client, {"Authorization": f"Bearer {token}"})
    assert again.status_code == 201
    with db.connect() as conn:
        rows = conn.execute(select(comments.c.author_id)).scalars().all()
        names = conn.execute(select(authors.c.name, authors.c.kind)).all()
    assert len(rows) == 2 and rows[0] == rows[1]
    assert [tuple(n) for n in names] == [("Bob", "guest")]


def test_moderator_session_login_csrf_logout(client, db, site):
    create_user(db, "maria", Role.MODERATOR, PASSWORD, site_slugs=["news"])
    csrf = client.post("/api/v1/auth/login",
                       json={"username": "maria", "password": PASSWORD}).json()["csrf_token"]
    assert client.get("/api/v1/sites/news/moderation/counts").status_code == 200
    decide = "/api/v1/sites/news/moderation/decisions"
    refused = client.post(decide, json={"items": [], "action": "approve"})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    accepted = client.post(decide, json={"items": [], "action": "approve"},
                           headers={CSRF_HEADER: csrf})
    assert accepted.status_code != 403
    copied = client.cookies[SESSION_COOKIE]
    assert client.post("/api/v1/auth/logout", headers={CSRF_HEADER: csrf}).status_code == 204
    replay = client.get("/api/v1/sites/news/moderation/counts",
                        headers={"Cookie": f"{SESSION_COOKIE}={copied}"})
    assert replay.status_code == 401


def test_moderator_of_another_site_is_refused(client, db, site):
    make_site(db, "other")
    create_user(db, "olga", Role.MODERATOR, PASSWORD, site_slugs=["other"])
    client.post("/api/v1/auth/login", json={"username": "olga", "password": PASSWORD})
    assert client.get("/api/v1/sites/news/moderation/counts").status_code == 403


def test_two_server_processes_share_post_limits(database_url, site):
    engines = [make_engine(database_url) for _ in range(2)]
    try:
        apps = [real_app(e, rate_limits_enabled=True, rate_limit_posts_per_minute=2)
                for e in engines]
        with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
            codes = [comment(c, name="Bob").status_code for c in (a, b, a)]
            last = comment(b, name="Bob")
    finally:
        for engine in engines:
            engine.dispose()
    assert codes == [201, 201, 429]
    assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1
    assert last.json()["code"] == "rate_limited"


def test_oversized_post_is_413_and_stores_nothing(db, site):
    with TestClient(real_app(db, max_body_bytes=2048)) as client:
        response = comment(client, name="Bob", body="x" * 5000)
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
    with db.connect() as conn:
        assert conn.execute(select(comments.c.id)).first() is None


def test_widget_origin_from_the_database_gets_cors(client, db, site):
    with transaction(db) as conn:
        SiteStore.update(conn, site.id, allowed_origins=["https://news.example"])
    client.app.state.origin_cache.invalidate()
    ok = client.get("/api/v1/sites/news/thread", params={"url": URL},
                    headers={"Origin": "https://news.example"})
    assert ok.headers["access-control-allow-origin"] == "https://news.example"
    other = client.get("/api/v1/sites/news/thread", params={"url": URL},
                       headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    assert other.headers["x-content-type-options"] == "nosniff"
