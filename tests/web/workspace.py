"""Helpers for the workspace tests: an app with named staff who log in through the pages.

maria moderates ``news``, olga moderates ``other``, ada is an admin; alice and bob are readers
of ``news`` who post through the API with reader tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from tests.factories import WordEngine, make_site
from tests.web.conftest import SECRET, Actor, post, reader_actor

from rostra.actions import accounts
from rostra.actions.accounts import create_user
from rostra.config import Settings
from rostra.domain.comments import Role
from rostra.domain.sites import Site
from rostra.web.app import create_app

PASSWORD = "correct horse battery"
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class Workspace:
    db: Engine
    site: Site
    other: Site
    clients: list[TestClient] = field(default_factory=list)

    def __post_init__(self) -> None:
        settings = Settings(database_url=str(self.db.url), secret_key=SECRET,
                            rate_limits_enabled=False, dev_mode=True)
        self.app = create_app(settings, engine=self.db, moderation_engine=WordEngine())
        create_user(self.db, "maria", Role.MODERATOR, PASSWORD, site_slugs=["news"])
        create_user(self.db, "olga", Role.MODERATOR, PASSWORD, site_slugs=["other"])
        create_user(self.db, "ada", Role.ADMIN, PASSWORD)
        self.alice = reader_actor(self.db, self.site, "alice")
        self.bob = reader_actor(self.db, self.site, "bob")

    def client(self, username: str | None = None) -> TestClient:
        """A browser-like client, logged in as ``username`` (``.csrf`` holds its token)."""
        client = TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)
        self.clients.append(client)
        client.csrf = ""  # type: ignore[attr-defined]
        if username is not None:
            response = login(client, username)
            assert response.status_code == 303, response.text
            me = client.get("/api/v1/auth/me").json()
            client.csrf = me["csrf_token"]  # type: ignore[attr-defined]
        return client

    def post(self, actor: Actor, body: str, **fields: object) -> dict[str, object]:
        with TestClient(self.app) as api:
            response = post(api, actor, body, **fields)
        assert response.status_code in (200, 201), response.text
        data: dict[str, object] = response.json()
        return data

    def close(self) -> None:
        for client in self.clients:
            client.close()


def make_workspace(db: Engine, monkeypatch: object) -> Workspace:
    monkeypatch.setattr(accounts, "_hasher", CHEAP_HASHER)  # type: ignore[attr-defined]
    return Workspace(db=db, site=make_site(db, "news"), other=make_site(db, "other"))


def login_token(client: TestClient) -> str:
    page = client.get("/moderate/login")
    match = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD, next: str = ""):
    return client.post("/moderate/login", data={
        "username": username, "password": password, "login_token": login_token(client),
        "next": next,
    })


def form(client: TestClient, url: str, **data: object):
    """A form post with the session's CSRF token, as the pages send it."""
    return client.post(url, data={"csrf_token": client.csrf, **data})  # type: ignore[attr-defined]
