"""Site settings from the workspace: each change applies, is refused when invalid, and is
audited with the admin who made it; the threshold preview counts changed decisions."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.web.conftest import post
from tests.web.workspace import form

from rostra.storage.database import transaction
from rostra.storage.sites import SiteStore
from rostra.storage.tables import moderation_log, users


@pytest.fixture
def ada(ws):
    return ws.client("ada")


def site(ws):
    with transaction(ws.db) as conn:
        return SiteStore.get_by_slug(conn, "news")


def audit(ws):
    with ws.db.connect() as conn:
        return conn.execute(
            select(moderation_log.c.action, users.c.username, moderation_log.c.before,
                   moderation_log.c.after)
            .join(users, users.c.id == moderation_log.c.user_id)
            .where(moderation_log.c.action.like("site.%"))
            .order_by(moderation_log.c.id)).all()


def test_thresholds_are_saved_and_audited(ws, ada):
    response = form(ada, "/moderate/news/settings/thresholds",
                    **{"toxicity.review": "0.4", "toxicity.reject": "0.95"})
    assert response.status_code == 303
    assert response.headers["location"] == "/moderate/news/settings?saved=thresholds#thresholds"
    assert site(ws).policy["thresholds"]["toxicity"] == {"review": 0.4, "reject": 0.95}
    assert site(ws).policy["thresholds"]["insult"] == {"review": 0.5, "reject": 0.9}
    (entry,) = audit(ws)
    assert entry.action == "site.update" and entry.username == "ada"
    assert entry.after["policy"]["thresholds"]["toxicity"]["review"] == 0.4
    page = ada.get("/moderate/news/settings?saved=thresholds").text
    assert 'id="t-toxicity-review" name="toxicity.review"' in page and 'value="0.40"' in page


@pytest.mark.parametrize("fields", [
    {"toxicity.review": "0.9", "toxicity.reject": "0.5"},
    {"insult.review": "abc"},
    {"threat.reject": "1.5"},
])
def test_invalid_thresholds_change_nothing(ws, ada, fields):
    response = form(ada, "/moderate/news/settings/thresholds", **fields)
    assert response.status_code == 400
    assert site(ws).policy == {} and audit(ws) == []


def test_preview_counts_decisions_that_would_change(ws, ada):
    ws.post(ws.alice, "what a stupid plan")  # toxicity and insult 0.7: held
    ws.post(ws.bob, "a fine plan")
    ws.post(ws.bob, "I will kill the budget")  # threat 0.8: held
    stricter = ada.get("/moderate/news/settings/preview",
                       params={"toxicity.review": "0.75", "insult.review": "0.75"},
                       headers={"Accept": "application/json"}).json()
    assert stricter["considered"] == 3
    assert stricter["changed"] == 1
    assert stricter["changes"] == [{"from": "review", "to": "approve", "count": 1}]
    assert stricter["now"] == {"review": 2, "approve": 1}
    same = ada.get("/moderate/news/settings/preview").json()
    assert same["changed"] == 0
    tighter = ada.get("/moderate/news/settings/preview",
                      params={"threat.reject": "0.8", "last": "100"}).json()
    assert tighter["changes"] == [{"from": "review", "to": "reject", "count": 1}]
    bad = ada.get("/moderate/news/settings/preview", params={"threat.review": "2"},
                  headers={"Accept": "application/json"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_input"
    page = ada.get("/moderate/news/settings",
                   params={"preview": "1", "toxicity.review": "0.75", "insult.review": "0.75"})
    assert "1 of 3 would change decision; 1 review → approve" in page.text
    assert site(ws).policy == {}  # previewing saves nothing


def test_word_lists_apply_to_new_comments(ws, ada):
    response = form(ada, "/moderate/news/settings/words", banned="budget  cuts\n\n",
                    suspect="council\ncouncil")
    assert response.status_code == 303
    policy = site(ws).policy
    assert policy["banned_terms"] == ["budget cuts"] and policy["suspect_terms"] == ["council"]
    assert [e.action for e in audit(ws)] == ["site.words"]
    with TestClient(ws.app) as api:
        post(api, ws.alice, "More budget cuts!")
        post(api, ws.bob, "The council again")
    rejected = ada.get("/moderate/news/queue?queue=rejected").text
    assert "More <mark" in rejected
    assert "The <mark" in ada.get("/moderate/news/queue").text


def test_premoderation_guests_and_origins(ws, ada):
    response = form(ada, "/moderate/news/settings/general", name="News Daily",
                    premoderation="new_authors", premoderation_k="3",
                    origins="https://news.example\nhttps://www.news.example/")
    assert response.status_code == 303
    updated = site(ws)
    assert updated.name == "News Daily" and not updated.settings.guests_allowed
    assert updated.settings.premoderation.value == "new_authors"
    assert updated.settings.premoderation_k == 3
    assert updated.allowed_origins == ("https://news.example", "https://www.news.example")
    bad = form(ada, "/moderate/news/settings/general", name="X", premoderation="sometimes")
    assert bad.status_code == 400 and site(ws) == updated
    assert form(ada, "/moderate/news/settings/general", name="X", premoderation="all",
                origins="javascript:alert(1)").status_code == 400
    assert [e.action for e in audit(ws)] == ["site.update"]


def test_rejection_reasons_feed_the_queue(ws, ada):
    form(ada, "/moderate/news/settings/reasons", reasons="Personal attack\nOff topic\n")
    assert site(ws).settings.rejection_reasons == ("Personal attack", "Off topic")
    ws.post(ws.alice, "stupid plan")
    assert "<option>Personal attack</option>" in ada.get("/moderate/news/queue").text
    assert form(ada, "/moderate/news/settings/reasons", reasons=" \n").status_code == 400
    assert [e.action for e in audit(ws)] == ["site.reasons"]


def test_sso_keys_secret_shown_once_rotate_and_revoke(ws, ada):
    response = form(ada, "/moderate/news/settings/keys", algorithm="HS256", kid="k1")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "New HS256 key “k1”" in response.text
    page = ada.get("/moderate/news/settings").text
    assert "<code>k1</code>" in page and "New HS256 key" not in page
    form(ada, "/moderate/news/settings/keys", algorithm="HS256", kid="k2")
    assert form(ada, "/moderate/news/settings/keys", algorithm="HS256",
                kid="k3").status_code == 409  # two valid keys at most: rotate instead
    assert form(ada, "/moderate/news/settings/keys", algorithm="HS256", kid="k3",
                rotate="1").status_code == 200
    assert form(ada, "/moderate/news/settings/keys/k3/revoke").status_code == 303
    assert form(ada, "/moderate/news/settings/keys/k3/revoke").status_code == 404
    assert form(ada, "/moderate/news/settings/keys", algorithm="RS256",
                public_key="not a key").status_code == 400
    actions = [e.action for e in audit(ws)]
    assert actions == ["site.key.add", "site.key.add", "site.key.rotate", "site.key.revoke"]
    assert all("secret" not in str(e.after) for e in audit(ws))


def test_moderators_added_and_removed(ws, ada):
    olga = ws.client("olga")
    assert olga.get("/moderate/news/queue").status_code == 403
    assert form(ada, "/moderate/news/settings/moderators", username="olga").status_code == 303
    assert olga.get("/moderate/news/queue").status_code == 200
    page = ada.get("/moderate/news/settings").text
    assert "olga" in page.split('id="moderators"')[1]
    with ws.db.connect() as conn:
        olga_id = conn.execute(select(users.c.id).where(users.c.username == "olga")).scalar()
    form(ada, f"/moderate/news/settings/moderators/{olga_id}/remove")
    assert olga.get("/moderate/news/queue").status_code == 303  # her session ended
    assert form(ada, "/moderate/news/settings/moderators", username="ada").status_code == 400
    assert form(ada, "/moderate/news/settings/moderators", username="nobody").status_code == 404
    assert [e.action for e in audit(ws)] == ["site.moderator.add", "site.moderator.remove"]


@pytest.mark.parametrize(("path", "fields"), [
    ("/moderate/news/settings/moderators", {"username": "ol\x00ga"}),
    ("/moderate/news/webhooks", {"url": "https://hooks.example/\x00", "events": "comment.created"}),
])
def test_a_nul_character_in_a_form_is_a_page_saying_so_and_changes_nothing(ws, ada, path,
                                                                          fields):
    # PostgreSQL refuses NUL in any text it is given; the storage types refuse it first.
    response = ada.post(path, data={"csrf_token": ada.csrf, **fields})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "NUL" in response.text
    assert audit(ws) == []
