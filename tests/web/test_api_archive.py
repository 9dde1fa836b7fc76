"""Admin endpoints for exports and erasure: the site as streamed JSON Lines, one author's
data, and forgetting an author; admins only, problems for everything else."""

import json
import threading
from io import BytesIO

import pytest
from sqlalchemy import select
from tests.factories import NOW
from tests.web.conftest import post, staff_actor

from rostra.actions.accounts import create_user
from rostra.actions.archive import export_site
from rostra.domain.comments import AuthorKind, Role
from rostra.domain.identity import Reader
from rostra.storage.database import transaction
from rostra.storage.identities import upsert_sso_author
from rostra.storage.tables import moderation_log
from rostra.web.auth import issue_reader_token

from .conftest import SECRET, Actor

PASSWORD = "correct horse battery staple"


@pytest.fixture
def ada(db, site):
    return staff_actor(db, name="ada", admin=True)


@pytest.fixture
def carol(db, site) -> Actor:
    """A reader with an email address, who has commented."""
    with transaction(db) as conn:
        author_id = upsert_sso_author(conn, site.id, "sub-carol", "Carol Jones",
                                      "carol@example.org", NOW)
    reader = Reader(author_id=author_id, site_id=site.id, name="Carol Jones", kind=AuthorKind.SSO)
    return Actor({"Authorization": f"Bearer {issue_reader_token(SECRET, reader)}"},
                 reader=reader)


def _lines(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.splitlines()]


def test_admin_streams_the_site_export_as_the_cli_writes_it(client, db, site, ada, alice,
                                                           carol):
    for actor, text in ((alice, "A fair point."), (carol, "Première réponse 🎉")):
        assert post(client, actor, text).status_code == 201
    response = client.get("/api/v1/sites/news/export", headers=ada.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    out = BytesIO()
    export_site(db, site=site, out=out)
    got, expected = _lines(response.content), _lines(out.getvalue())
    assert got[0]["type"] == "rostra-export" and got[0]["scope"] == "site"
    for header in (got[0], expected[0]):
        header.pop("exported_at")
    assert got == expected
    assert [r["type"] for r in got[1:]] == ["story", "author", "author", "comment", "comment"]
    assert got[-1]["body"] == "Première réponse 🎉"


def test_a_big_export_arrives_whole_in_many_chunks(client, db, site, ada, alice, monkeypatch):
    from rostra.web.api import archive as api

    monkeypatch.setattr(api, "CHUNK_BYTES", 200)  # many chunks through the small queue
    for n in range(40):
        assert post(client, alice, f"Comment number {n} about the budget.").status_code == 201
    response = client.get("/api/v1/sites/news/export", headers=ada.headers)
    lines = _lines(response.content)
    assert [r["body"] for r in lines if r["type"] == "comment"] == [
        f"Comment number {n} about the budget." for n in range(40)
    ]


def test_the_export_waits_for_a_slow_reader_and_stops_when_it_leaves(client, db, site,
                                                                    alice, monkeypatch):
    from rostra.web.api import archive as api

    monkeypatch.setattr(api, "CHUNK_BYTES", 100)
    monkeypatch.setattr(api, "QUEUE_CHUNKS", 2)
    for n in range(30):
        assert post(client, alice, f"Comment number {n} about the budget.").status_code == 201
    chunks = api._site_chunks(db, site)
    first = next(chunks)
    assert first.startswith(b'{"type":"rostra-export"')
    [producer] = [t for t in threading.enumerate() if t.name == "rostra-export-news"]
    producer.join(1.0)
    assert producer.is_alive()  # blocked: at most QUEUE_CHUNKS chunks wait in memory
    chunks.close()  # the client went away
    producer.join(5.0)
    assert not producer.is_alive()


def test_only_admins_reach_the_archive(client, site, maria, olga, carol):
    author = carol.reader.author_id
    calls = [
        ("GET", "/api/v1/sites/news/export", None),
        ("GET", f"/api/v1/sites/news/authors/{author}/export", None),
        ("POST", "/api/v1/sites/news/authors/export", {"email": "carol@example.org"}),
        ("POST", f"/api/v1/sites/news/authors/{author}/forget", {"remove_comments": False}),
    ]
    for method, url, body in calls:
        for actor, status in ((maria, 403), (olga, 403), (carol, 401), (None, 401)):
            response = client.request(method, url, json=body,
                                      headers=actor.headers if actor else {})
            assert response.status_code == status, (method, url, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")


def test_author_export_has_everything_about_them(client, site, ada, alice, carol):
    post(client, carol, "Carol's comment.")
    post(client, alice, "Alice's comment.")
    response = client.get(f"/api/v1/sites/news/authors/{carol.reader.author_id}/export",
                          headers=ada.headers)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["export"]["scope"] == "author"
    [author] = [r for r in data["records"] if r["type"] == "author"]
    assert (author["name"], author["email"]) == ("Carol Jones", "carol@example.org")
    assert [r["body"] for r in data["records"] if r["type"] == "comment"] == ["Carol's comment."]
    assert data["counts"] == {"author": 1, "comment": 1, "signal": 1}


def test_author_export_by_email_is_the_export_by_id(client, site, ada, alice, carol):
    post(client, carol, "Carol's comment.")
    post(client, alice, "Alice's comment.")
    url = "/api/v1/sites/news/authors"
    by_email = client.post(f"{url}/export", json={"email": "carol@example.org"},
                           headers=ada.headers)
    by_id = client.get(f"{url}/{carol.reader.author_id}/export", headers=ada.headers)
    assert by_email.status_code == 200, by_email.text
    assert by_email.json()["records"] == by_id.json()["records"]
    assert {r["type"] for r in by_email.json()["records"]} >= {"author", "comment", "signal"}
    nobody = client.post(f"{url}/export", json={"email": "nobody@example.org"},
                         headers=ada.headers)
    assert nobody.status_code == 404 and nobody.json()["code"] == "author_not_found"
    for bad in ({"email": str(carol.reader.author_id)}, {"email": ""}, {}):
        assert client.post(f"{url}/export", json=bad, headers=ada.headers).status_code == 400


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_and_huge_author_ids_are_problems(client, site, ada, method):
    def call(author):
        action = "export" if method == "GET" else "forget"
        return client.request(method, f"/api/v1/sites/news/authors/{author}/{action}",
                              json={"remove_comments": True}, headers=ada.headers)

    response = call(4242)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "author_not_found"
    for bad in (2**63, 10**40, 0, -1, "abc"):
        response = call(bad)
        assert 400 <= response.status_code < 500, (bad, response.text)
    assert client.get("/api/v1/sites/nowhere/export", headers=ada.headers).status_code == 404


def test_forget_erases_the_author_and_logs_it(client, db, site, ada, carol):
    post(client, carol, "Something I said.")
    url = f"/api/v1/sites/news/authors/{carol.reader.author_id}"
    response = client.post(f"{url}/forget", json={"remove_comments": False}, headers=ada.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"author_id": carol.reader.author_id, "remove_comments": False,
                               "authors": 1, "comments": 1, "removed": 0}
    records = client.get(f"{url}/export", headers=ada.headers).json()["records"]
    [author] = [r for r in records if r["type"] == "author"]
    assert author["name"] == "Deleted user" and author["email"] is None
    assert author["forgotten_at"] is not None
    [comment] = [r for r in records if r["type"] == "comment"]
    assert comment["ip"] is None and comment["body"] == "Something I said."
    dumped = json.dumps(records)
    assert "carol@example.org" not in dumped and "Carol Jones" not in dumped
    with db.connect() as conn:
        [row] = conn.execute(
            select(moderation_log).where(moderation_log.c.action == "author.forget")
        ).all()
    assert row.author_id == carol.reader.author_id and row.user_id == ada.staff.user_id


def test_forget_can_remove_the_comments(client, site, ada, carol):
    post(client, carol, "Take this down.")
    url = f"/api/v1/sites/news/authors/{carol.reader.author_id}"
    response = client.post(f"{url}/forget", json={"remove_comments": True}, headers=ada.headers)
    assert response.json()["removed"] == 1
    records = client.get(f"{url}/export", headers=ada.headers).json()["records"]
    [comment] = [r for r in records if r["type"] == "comment"]
    assert (comment["status"], comment["body"]) == ("deleted", "")


@pytest.mark.parametrize("body", [{}, {"remove_comments": "yes"}, {"remove_comments": 1}, []])
def test_forget_needs_an_explicit_choice(client, site, ada, carol, body):
    response = client.post(f"/api/v1/sites/news/authors/{carol.reader.author_id}/forget",
                           json=body, headers=ada.headers)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_cookie_session_must_send_the_csrf_token(client, db, site, carol):
    create_user(db, "root", Role.ADMIN, PASSWORD)
    login = client.post("/api/v1/auth/login", json={"username": "root", "password": PASSWORD})
    assert login.status_code == 200, login.text
    url = f"/api/v1/sites/news/authors/{carol.reader.author_id}/forget"
    refused = client.post(url, json={"remove_comments": False})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    assert client.get(f"/api/v1/sites/news/authors/{carol.reader.author_id}/export").json()[
        "records"][0]["email"] == "carol@example.org"  # nothing was erased
    done = client.post(url, json={"remove_comments": False},
                       headers={"X-CSRF-Token": login.json()["csrf_token"]})
    assert done.status_code == 200 and done.json()["authors"] == 1
