"""An in-process app per test on the ``db`` fixture's database, with named actors.

Readers alice and bob carry reader tokens; maria moderates the site ``news``; olga moderates
only ``other``. Rate limits are off except where a test turns them on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from tests.factories import NOW, WordEngine, make_reader, make_site, make_staff

from rostra.config import Settings
from rostra.domain.identity import Reader, Staff
from rostra.domain.sites import Site
from rostra.storage.accounts import TokenStore
from rostra.storage.database import transaction
from rostra.web.app import create_app
from rostra.web.auth import issue_reader_token

SECRET = "test-secret-key-0123456789abcdef"


@dataclass
class Actor:
    headers: dict[str, str]
    reader: Reader | None = None
    staff: Staff | None = None


@pytest.fixture
def settings(database_url):
    return Settings(database_url=database_url, secret_key=SECRET, rate_limits_enabled=False,
                    dev_mode=True)


@pytest.fixture
def word_engine():
    return WordEngine()


@pytest.fixture
def app(db, settings, word_engine):
    return create_app(settings, engine=db, moderation_engine=word_engine)


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def site(db) -> Site:
    return make_site(db, "news")


@pytest.fixture
def other_site(db) -> Site:
    return make_site(db, "other")


def reader_actor(db, site, name) -> Actor:
    reader = make_reader(db, site, name)
    token = issue_reader_token(SECRET, reader)
    return Actor({"Authorization": f"Bearer {token}"}, reader=reader)


def staff_actor(db, *sites, name="maria", admin=False) -> Actor:
    staff = make_staff(db, *sites, name=name, admin=admin)
    with transaction(db) as conn:
        _, token = TokenStore.create(conn, staff.user_id, "tests", now=NOW)
    return Actor({"Authorization": f"Token {token}"}, staff=staff)


@pytest.fixture
def alice(db, site) -> Actor:
    return reader_actor(db, site, "alice")


@pytest.fixture
def bob(db, site) -> Actor:
    return reader_actor(db, site, "bob")


@pytest.fixture
def maria(db, site) -> Actor:
    return staff_actor(db, site, name="maria")


@pytest.fixture
def olga(db, other_site) -> Actor:
    return staff_actor(db, other_site, name="olga")


URL = "https://news.example/2026/11/budget"


def post(client, actor, body="A fair point about the budget.", site="news", **fields):
    payload = {"body": body, "url": URL, "title": "City budget", **fields}
    if "story_id" in fields:
        payload.pop("url")
    return client.post(f"/api/v1/sites/{site}/comments", json=payload,
                       headers=actor.headers if actor else {})


@pytest.fixture
def ws(db, monkeypatch):
    """The moderator workspace on its own app, with its staff and sample comments."""
    from tests.web.workspace import make_workspace  # it builds on this module's helpers

    workspace = make_workspace(db, monkeypatch)
    yield workspace
    workspace.close()
