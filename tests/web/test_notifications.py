"""Readers opt in to reply e-mails; the e-mail's unsubscribe link turns them off."""

import re

import pytest
from tests.factories import NOW
from tests.receivers import smtp_server
from tests.web.conftest import SECRET, Actor, post

from rostra.actions.delivery import DeliveryConfig, deliver_due
from rostra.domain.comments import AuthorKind
from rostra.domain.identity import Reader
from rostra.domain.messages import unsubscribe_token
from rostra.storage.database import transaction
from rostra.storage.identities import upsert_sso_author
from rostra.storage.notifications import NotificationStore
from rostra.web.auth import issue_reader_token

SETTINGS_URL = "/api/v1/sites/news/notifications"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"delivery_worker_enabled": False,
                                       "public_url": "https://comments.example"})


@pytest.fixture
def erin(db, site) -> Actor:
    """A reader whose SSO token carried an e-mail address."""
    with transaction(db) as conn:
        author_id = upsert_sso_author(conn, site.id, "sub-erin", "erin", "erin@example.org", NOW)
    reader = Reader(author_id=author_id, site_id=site.id, name="erin", kind=AuthorKind.SSO)
    return Actor({"Authorization": f"Bearer {issue_reader_token(SECRET, reader)}"}, reader=reader)


def wants(db, actor):
    with db.connect() as conn:
        return NotificationStore.wants_replies(conn, actor.reader.author_id)


def test_reader_opts_in_and_out(client, erin):
    assert client.get(SETTINGS_URL, headers=erin.headers).json() == {"replies": False}
    on = client.put(SETTINGS_URL, json={"replies": True}, headers=erin.headers)
    assert on.json() == {"replies": True}
    assert client.get(SETTINGS_URL, headers=erin.headers).json() == {"replies": True}


def test_opting_in_without_an_address_is_refused(client, alice):
    response = client.put(SETTINGS_URL, json={"replies": True}, headers=alice.headers)
    assert response.status_code == 400
    assert "e-mail" in response.json()["detail"]


def test_signed_out_readers_have_no_settings(client, erin):
    assert client.get(SETTINGS_URL).status_code == 401
    assert client.put(SETTINGS_URL, json={"replies": True}).status_code == 401


def test_the_link_in_the_mail_unsubscribes_with_one_click(client, db, settings, erin, bob):
    client.put(SETTINGS_URL, json={"replies": True}, headers=erin.headers)
    parent = post(client, erin).json()
    post(client, bob, "A reply to erin.", parent_id=parent["id"])
    with smtp_server() as (sink, port):
        config = DeliveryConfig.from_settings(
            settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port}))
        assert deliver_due(db, config) == 1
    [mail] = sink.messages
    text = mail.get_body(("plain",)).get_content()
    link = re.search(r"Stop these e-mails: (\S+)", text).group(1)
    assert link == mail["List-Unsubscribe"].strip("<>")
    path = link.removeprefix("https://comments.example")

    page = client.get(path)  # link scanners fetch links: this changes nothing
    assert page.status_code == 200 and f'action="{path}"' in page.text
    assert wants(db, erin) is True
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "no longer get e-mails" in done.text
    assert wants(db, erin) is False
    assert client.post(path).status_code == 200  # twice is fine


@pytest.mark.parametrize("token", [
    "nonsense",
    unsubscribe_token("another-secret-key-0123456789", 1),
    unsubscribe_token(SECRET, 999),  # signed, but nobody
])
def test_a_bad_unsubscribe_link_says_so(client, erin, token):
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = client.post(f"/api/v1/unsubscribe/{token}", headers=browser)
    assert page.status_code == 400 and "not valid" in page.text
    assert page.headers["content-type"].startswith("text/html")
    # Any other client (a mail client's one-click POST, a script) gets a problem object.
    problem = client.post(f"/api/v1/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert problem.status_code == 400
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["code"] == "invalid_input" and problem.json()["field"] == "token"
    assert client.get(f"/api/v1/unsubscribe/{token}", headers=browser).status_code in (200, 400)
    assert client.get(f"/api/v1/unsubscribe/{token}").status_code in (200, 400)
    assert wants(client.app.state.engine, erin) is False
