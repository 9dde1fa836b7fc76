"""Per-site learning as plain form posts (what runs without JavaScript), with the session's
CSRF token: the card's "Teach this site's model" form, whose labels reach the site's learning
examples, and the settings page's learning panel, whose status is on the page and whose forms
train, promote and roll back the site's model for admins."""

import re
from datetime import timedelta
from html import unescape

import pytest
from tests.factories import NOW
from tests.web.conftest import URL
from tests.web.workspace import form

from rostra.actions.accounts import staff_for
from rostra.actions.comments import post_comment
from rostra.actions.moderation import moderate
from rostra.domain.moderation import ModerationAction
from rostra.storage.accounts import UserStore
from rostra.storage.database import transaction
from rostra.storage.examples import ExampleStore
from rostra.storage.reviews import ReviewStore
from rostra.storage.site_models import ModelStatus, SiteModelStore


@pytest.fixture
def maria(ws):
    return ws.client("maria")


def marks_form(page: str) -> tuple[str, str, list[str]]:
    """The form's action, its CSRF field and the labels ticked when the page came."""
    match = re.search(
        r'<form class="adapt-marks" method="post" action="([^"]+)".*?</form>', page, re.S
    )
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
    assert (
        form(maria, f"{url}/decision", action="approve", version=held["version"]).status_code == 303
    )
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


# -- the settings page's learning panel, without script -----------------------------------

RUDE = [
    "carrot heads like you ruin this",
    "typical carrot nonsense",
    "go back to carrot land",
    "carrot brained take as usual",
    "only a carrot would write this",
]
FINE = [
    "the vote is on monday",
    "thanks for covering the council",
    "good piece on transit",
    "the library hours changed",
    "schools reopen next week",
]
SETTINGS = "/moderate/news/settings"


@pytest.fixture
def ada(ws):
    return ws.client("ada")


def teach(ws, rounds=5):
    """maria rejects the site's "carrot" comments and approves the others, in time order:
    10 decisions a round, enough from 5 rounds for a model that beats the base engine."""
    with ws.db.connect() as conn:
        maria = staff_for(conn, UserStore.get_by_username(conn, "maria"))
    engine = ws.app.state.moderation_engine
    minute = 0
    for k in range(rounds):
        for rude, fine in zip(RUDE, FINE, strict=True):
            minute += 1
            at = NOW + timedelta(minutes=minute)
            for text, action in ((rude, ModerationAction.REJECT), (fine, ModerationAction.APPROVE)):
                comment = post_comment(
                    ws.db,
                    engine,
                    site=ws.site,
                    author_id=ws.alice.reader.author_id,
                    body=f"{text} {k}",
                    url=URL,
                    title="Vote",
                    now=at,
                ).comment
                moderate(
                    ws.db,
                    site=ws.site,
                    staff=maria,
                    comment_id=comment.id,
                    action=action,
                    version=comment.version,
                    now=at,
                )


def panel(page: str) -> str:
    match = re.search(r'<section id="learning".*?</section>', page, re.S)
    assert match, page
    return match.group(0)


def text_of(html: str, css_class: str) -> str:
    match = re.search(rf'<p class="{css_class}[^"]*"[^>]*>(.*?)</p>', html, re.S)
    assert match, html
    return unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def table(html: str) -> list[tuple[str, ...]]:
    return [
        tuple(unescape(c) for c in re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row))
        for row in re.findall(r"<tr><th scope=\"row\">.*?</tr>", html, re.S)
    ]


def said(client, step: str) -> str:
    """Posts the panel's ``step`` form; what the panel says on the page the redirect leads to."""
    response = form(client, f"{SETTINGS}/learning/{step}")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{SETTINGS}?learning=") and location.endswith("#learning")
    return text_of(panel(client.get(location).text), "adapt-status")


def models(ws) -> list[tuple[int, str]]:
    with ws.db.connect() as conn:
        return [(m.version, m.status.value) for m in SiteModelStore.versions(conn, ws.site.id)]


def model_log(ws) -> list[tuple[str, str, str | None, dict, dict]]:
    with ws.db.connect() as conn:
        entries = ReviewStore.log_entries(conn, ws.site.id, limit=200)
    return [
        (e.action, e.actor, e.username, e.before, e.after)
        for e in reversed(entries)
        if e.action.startswith("site.model.")
    ]


def test_the_learning_status_is_on_the_settings_page_without_script(ws, ada):
    empty = panel(ada.get(SETTINGS).text)
    assert "Loading" not in empty
    assert text_of(empty, "adapt-summary") == "0 decisions so far. Active: the base engine"
    assert "No site model yet" in empty and table(empty) == []
    actions = re.findall(
        r'<form class="inline adapt-action" method="post" action="([^"]+)">\s*'
        r'<input type="hidden" name="csrf_token" value="([^"]+)">',
        empty,
    )
    assert actions == [
        (f"{SETTINGS}/learning/{step}", ada.csrf) for step in ("train", "promote", "rollback")
    ]
    assert text_of(empty, "adapt-status") == ""

    teach(ws, rounds=1)
    with transaction(ws.db) as conn:
        first = SiteModelStore.add(
            conn,
            site_id=ws.site.id,
            artifact=b"",
            examples=8,
            now=NOW,
            metrics={"promotable": True, "refusals": [], "against": None},
        )
        SiteModelStore.set_status(conn, first, ModelStatus.ACTIVE, promoted_at=NOW)
        SiteModelStore.add(
            conn,
            site_id=ws.site.id,
            artifact=b"",
            examples=10,
            now=NOW,
            metrics={
                "against": 1,
                "promotable": False,
                "test_rows": 4,
                "refusals": ["ROC-AUC 0.700 is not above 0.750"],
                "base": {"auc": 0.5, "agreement": 0.5, "identity_fpr": 0.0, "span_f1": None},
                "active": {"auc": 0.75, "agreement": 0.625, "identity_fpr": 0.05, "span_f1": 0.5},
                "candidate": {"auc": 0.7, "agreement": 0.6, "identity_fpr": 0.0, "span_f1": 0.4},
            },
        )
    shown = panel(ada.get(SETTINGS).text)
    assert text_of(shown, "adapt-summary") == (
        "10 decisions so far. Active: site model v1; in shadow: v2; estimated gain: ROC-AUC +0.200"
    )
    assert text_of(shown, "muted adapt-newest") == (
        "Newest model: v2 (shadow), trained on 10 decisions; compared on the 4 most recent. "
        "Not promotable: ROC-AUC 0.700 is not above 0.750."
    )
    assert table(shown) == [
        ("base engine", "0.500", "50.0 %", "0.0 %", "–"),
        ("active (v1)", "0.750", "62.5 %", "5.0 %", "0.500"),
        ("v2 (shadow)", "0.700", "60.0 %", "0.0 %", "0.400"),
    ]
    status = ada.get("/api/v1/sites/news/adaptation/status").json()  # what the script had
    assert (status["decisions"], status["active_version"], status["shadow_version"]) == (10, 1, 2)


def test_the_panel_says_when_a_model_reads_the_sentence_representation(ws, ada):
    with transaction(ws.db) as conn:
        SiteModelStore.add(
            conn, site_id=ws.site.id, artifact=b"", examples=10, now=NOW,
            metrics={"promotable": True, "refusals": [], "against": None,
                     "embedding": "minilm-l6-int8-0123"},
        )
    assert text_of(panel(ada.get(SETTINGS).text), "muted adapt-newest") == (
        "Newest model: v1 (shadow), trained on 10 decisions, reading each comment's words and "
        "the accurate tier's sentence representation."
    )


def test_admin_trains_promotes_and_rolls_back_by_plain_form_posts(ws, ada):
    teach(ws)
    trained = said(ada, "train")
    assert trained == (
        "Model v1 was trained on 50 decisions and is in shadow: it scores new "
        "comments without deciding on them. It beat the base engine on the most "
        "recent decisions: promote it to let it decide."
    )
    assert models(ws) == [(1, "shadow")]
    page = panel(ada.get(SETTINGS).text)
    assert "50 decisions so far. Active: the base engine; in shadow: v1" in page
    assert [row[0] for row in table(page)] == ["base engine", "v1 (shadow)"]

    promoted = said(ada, "promote")
    assert promoted == "Model v1 is active: it decides on new comments. Roll back to undo."
    assert models(ws) == [(1, "active")]

    retrained = said(ada, "train")  # no better than v1, which is already perfect here
    assert retrained.startswith("Model v2 was trained on 50 decisions and is in shadow")
    with ws.db.connect() as conn:
        refusals = SiteModelStore.get(conn, ws.site.id, 2).metrics["refusals"]
    assert refusals and f"It cannot be promoted: {'; '.join(refusals)}." in retrained
    refused = said(ada, "promote")
    assert refused == (
        "Promotion refused: model v2 did not beat the active model (v1) on the "
        f"most recent decisions ({'; '.join(refusals)}). It stays in shadow."
    )
    assert models(ws) == [(2, "shadow"), (1, "active")]

    rolled = said(ada, "rollback")
    assert rolled == "Rolled back: the base engine decides on new comments again."
    assert models(ws) == [(2, "shadow"), (1, "rejected")]
    stale = said(ada, "promote")
    assert stale == (
        "Promotion refused: model v2 was compared with another model than the "
        "active one. Train a new model."
    )
    assert said(ada, "rollback") == (
        "Nothing to roll back: no site model is active, the base engine decides."
    )
    assert models(ws) == [(2, "shadow"), (1, "rejected")]

    log = model_log(ws)  # refusals change nothing and log nothing
    assert [(action, actor, who) for action, actor, who, _, _ in log] == [
        ("site.model.train", "admin", "ada"),
        ("site.model.promote", "admin", "ada"),
        ("site.model.train", "admin", "ada"),
        ("site.model.rollback", "admin", "ada"),
    ]
    changes = [(b["active"], b["shadow"], a["active"], a["shadow"]) for *_, b, a in log]
    assert changes == [(None, None, None, 1), (None, 1, 1, None), (1, None, 1, 2), (1, 2, None, 2)]


def test_refusals_are_said_on_the_page_and_change_nothing(ws, ada):
    assert said(ada, "train") == (
        "Nothing to train on yet: decide on some of this site's comments first."
    )
    assert said(ada, "promote") == (
        "Nothing to promote: no model is in shadow. Train a new model first."
    )
    assert said(ada, "rollback") == (
        "Nothing to roll back: no site model is active, the base engine decides."
    )
    refused = panel(ada.get(f"{SETTINGS}?learning=no-shadow").text)
    assert 'class="adapt-status alert"' in refused
    assert models(ws) == [] and model_log(ws) == []
    # The address names an outcome; anything else shows nothing, and is never echoed.
    odd = panel(ada.get(f"{SETTINGS}?learning=%3Cb%3Eyou+were+hacked%3C/b%3E").text)
    assert text_of(odd, "adapt-status") == "" and "hacked" not in odd


def test_the_panel_forms_need_the_csrf_token_and_an_admin(ws, ada):
    teach(ws, rounds=1)  # something to train on, so an accepted form would add a model
    for step in ("train", "promote", "rollback"):
        url = f"{SETTINGS}/learning/{step}"
        for data in ({}, {"csrf_token": "forged"}):
            refused = ada.post(url, data=data)
            assert refused.status_code == 403 and "CSRF" in refused.text, url
        assert form(ws.client("maria"), url).status_code == 403, url
        assert form(ws.client("olga"), url).status_code == 403, url
    assert models(ws) == [] and model_log(ws) == []
    assert form(ada, f"{SETTINGS}/learning/train").status_code == 303
    assert models(ws) == [(1, "shadow")]
