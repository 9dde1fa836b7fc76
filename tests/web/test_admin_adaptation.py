"""The card's "Teach this site's model" form posted as a plain form (what runs without
JavaScript): the labels reach the site's learning examples, with the session's CSRF token."""

import re
from html import unescape

import pytest
from tests.web.workspace import form, make_workspace

from rostra.storage.examples import ExampleStore


@pytest.fixture
def ws(db, monkeypatch):
    workspace = make_workspace(db, monkeypatch)
    yield workspace
    workspace.close()


@pytest.fixture
def maria(ws):
    return ws.client("maria")


def marks_form(page: str) -> tuple[str, str, list[str]]:
    """The form's action, its CSRF field and the labels ticked when the page came."""
    match = re.search(r'<form class="adapt-marks" method="post" action="([^"]+)".*?</form>',
                      page, re.S)
    assert match, page
    html = match.group(0)
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert csrf
    ticked = re.findall(r'name="label" value="(\w+)" checked', html)
    return unescape(match.group(1)), csrf.group(1), ticked


def example(ws, comment_id):
    with ws.db.connect() as conn:
        return ExampleStore.get(conn, ws.site.id, comment_id)


def test_labels_are_saved_for_learning_by_a_plain_form_post(ws, maria):
    held = ws.post(ws.alice, "what a stupid plan")
    url = f"/moderate/news/comments/{held['id']}"
    action, csrf, ticked = marks_form(maria.get(url).text)
    assert action == f"{url}/marks"
    assert csrf == maria.csrf
    assert ticked == ["toxicity", "insult"]  # what the engine flagged, to confirm or change

    early = maria.post(action, data={"csrf_token": csrf, "label": ticked})
    assert early.status_code == 404
    assert "Decide on the comment before correcting its labels" in early.text
    assert example(ws, held["id"]) is None

    decided = form(maria, f"{url}/decision", action="reject", version=held["version"])
    assert decided.status_code == 303
    assert example(ws, held["id"]).labels is None  # the engine's labels, until corrected

    saved = maria.post(action, data={"csrf_token": csrf, "label": ["insult"]})
    assert saved.status_code == 200
    assert "Saved for learning" in saved.text and "Labels that apply: Insult." in saved.text
    assert f'href="{url}"' in saved.text
    stored = example(ws, held["id"])
    assert (stored.decision, stored.labels, stored.spans) == ("reject", ["insult"], [])

    unchanged = maria.post(action, data={"csrf_token": csrf})  # nothing ticked
    assert unchanged.status_code == 200
    assert example(ws, held["id"]).labels == ["insult"]

    cleared = maria.post(action, data={"csrf_token": csrf, "label": ["insult"], "none": "1"})
    assert cleared.status_code == 200 and "Labels that apply: none of them." in cleared.text
    assert example(ws, held["id"]).labels == []


def test_the_form_needs_the_sessions_csrf_token_and_a_moderator_of_the_site(ws, maria):
    held = ws.post(ws.alice, "what a stupid plan")
    url = f"/moderate/news/comments/{held['id']}"
    assert form(maria, f"{url}/decision", action="approve",
                version=held["version"]).status_code == 303
    for data in ({"label": "insult"}, {"label": "insult", "csrf_token": "forged"}):
        refused = maria.post(f"{url}/marks", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
    olga = ws.client("olga")
    assert form(olga, f"{url}/marks", label="insult").status_code == 403
    anonymous = ws.client().post(f"{url}/marks", data={"label": "insult"})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/moderate/login")
    assert example(ws, held["id"]).labels is None

    unknown = form(maria, f"{url}/marks", label="rudeness")
    assert unknown.status_code == 400 and "unknown labels: rudeness" in unknown.text
    assert example(ws, held["id"]).labels is None
