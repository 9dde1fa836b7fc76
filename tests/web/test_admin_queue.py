"""The queue pages and the decisions posted as plain forms (what runs without JavaScript)."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import NOW
from tests.web.conftest import post
from tests.web.workspace import form

from rostra.actions.workspace import set_word_lists
from rostra.domain.comments import Role
from rostra.domain.identity import Staff
from rostra.domain.moderation import Decision, ModerationResult
from rostra.storage.database import transaction
from rostra.storage.reviews import ReviewStore
from rostra.storage.tables import comments
from rostra.web.admin.highlight import highlight


@pytest.fixture
def maria(ws):
    return ws.client("maria")


def card_ids(html):
    return [int(i) for i in re.findall(r'<article class="card[^"]*" id="c(\d+)"', html)]


def test_held_comment_shows_its_span_highlighted_and_escaped(ws, maria):
    held = ws.post(ws.alice, "<script>alert(1)</script> you are stupid & wrong")
    page = maria.get("/moderate/news/queue").text
    assert card_ids(page) == [held["id"]]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; you are " in page
    assert "<script>alert" not in page
    assert re.search(r'<mark class="hl hl-model" title="Insult [0-9.]+; Toxicity [0-9.]+">stupid<',
                     page)
    assert 'class="hl-tag">Insult</span>' in page
    assert "Insult 0.70 ≥ review threshold 0.50" in page
    assert "Engine decided: hold for review" in page
    assert 'aria-label="Insult: 0.70 (held at 0.50, rejected at 0.90)"' in page
    assert "City budget" in page and "alice" in page


def test_word_list_hold_is_explained(ws, maria, db):
    ada = Staff(user_id=3, username="ada", role=Role.ADMIN)
    set_word_lists(db, ws.site, ada, banned=[], suspect=["budget cuts"])
    held = ws.post(ws.alice, "More budget cuts again")
    page = maria.get("/moderate/news/queue").text
    assert card_ids(page) == [held["id"]]
    assert "contains the suspect term “budget cuts”" in page
    assert '<mark class="hl hl-term"' in page


def test_queues_filters_sort_and_counts(ws, maria):
    mild = ws.post(ws.alice, "stupid plan")
    worse = ws.post(ws.bob, "stupid, I will kill it")
    ws.post(ws.alice, "a fine plan")
    page = maria.get("/moderate/news/queue").text
    assert card_ids(page) == [worse["id"], mild["id"]]
    assert 'data-count="pending">2<' in page and 'data-count="unmoderated">1<' in page
    assert card_ids(maria.get("/moderate/news/queue?sort=oldest").text) == [mild["id"],
                                                                            worse["id"]]
    assert card_ids(maria.get("/moderate/news/queue?label=threat").text) == [worse["id"]]
    assert card_ids(maria.get("/moderate/news/queue?min_score=0.75").text) == [worse["id"]]
    assert card_ids(maria.get("/moderate/news/queue?q=KILL").text) == [worse["id"]]
    author = ws.alice.reader.author_id
    assert card_ids(maria.get(f"/moderate/news/queue?author={author}").text) == [mild["id"]]
    assert len(card_ids(maria.get("/moderate/news/queue?queue=unmoderated").text)) == 1
    odd = maria.get("/moderate/news/queue?min_score=abc&sort=nope&queue=pending&cursor=zz")
    assert odd.status_code == 200 and "Ignored:" in odd.text
    assert "no such story on this site" in maria.get("/moderate/news/queue?story=999").text


def test_score_range_bounds_the_chosen_labels_score(ws, maria):
    mild = ws.post(ws.alice, "stupid plan")  # insult 0.7, severity 0.7
    worse = ws.post(ws.bob, "stupid, I will kill it")  # insult 0.7, threat 0.8, severity 0.8
    with transaction(ws.db) as conn:  # a shadow model's score never counts
        ReviewStore.add_signal(conn, mild["id"], ModerationResult(
            {"insult": 0.99}, Decision.REVIEW, tier="fast"), model_version="site-v1",
            now=NOW, shadow=True)

    def ids(query):
        return card_ids(maria.get(f"/moderate/news/queue?{query}").text)

    # Without a label: the overall severity.
    assert ids("min_score=0.75") == [worse["id"]]
    assert ids("max_score=0.75") == [mild["id"]]
    # With a label: that label's score (both insults are 0.7, whatever else they are).
    assert ids("label=insult&min_score=0.75") == []
    assert ids("label=insult&max_score=0.75") == [worse["id"], mild["id"]]
    assert ids("label=insult&min_score=0.65&max_score=0.7") == [worse["id"], mild["id"]]
    assert ids("label=threat&min_score=0.75&max_score=0.85") == [worse["id"]]
    assert ids("label=threat&max_score=0.75") == []
    api = maria.get("/api/v1/sites/news/moderation/queue?label=insult&min_score=0.75")
    assert api.status_code == 200 and api.json()["items"] == []
    api = maria.get("/api/v1/sites/news/moderation/queue?label=insult&max_score=0.75")
    assert [i["id"] for i in api.json()["items"]] == [worse["id"], mild["id"]]


def test_cursor_pages_through_the_queue(ws, maria):
    # Distinct texts: near-duplicates of the author's recent comments would count as spam.
    topics = ["bridge", "tax", "library", "tram", "park", "school", "budget", "harbour",
              "museum", "road", "police", "stadium", "zoning", "water", "rent", "bus", "pool",
              "clinic", "airport", "tunnel", "market", "garden", "ferry"]
    for i, topic in enumerate(topics):
        ws.post(ws.alice if i % 2 else ws.bob, f"the {topic} plan is stupid, {i * 7} reasons why")
    with ws.db.connect() as conn:
        ids = set(conn.execute(select(comments.c.id).where(comments.c.status == "pending"))
                  .scalars())
    assert len(ids) > 20
    first = maria.get("/moderate/news/queue").text
    next_url = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    second = maria.get(next_url).text
    assert set(card_ids(first)) | set(card_ids(second)) == ids
    assert len(card_ids(first)) == 20 and 'rel="next"' not in second
    assert 'href="/moderate/news/queue?queue=pending&amp;sort=severity">First page' in second


def test_approve_by_form_then_a_stale_form_gets_the_conflict_page(ws, maria):
    held = ws.post(ws.alice, "stupid plan")
    url = f"/moderate/news/comments/{held['id']}/decision"
    response = form(maria, url, action="approve", version=held["version"], note="fair enough",
                    reason="Threat", next="/moderate/news/queue?queue=pending")
    assert response.status_code == 303
    assert response.headers["location"] == "/moderate/news/queue?queue=pending"
    assert card_ids(maria.get("/moderate/news/queue").text) == []
    assert card_ids(maria.get("/moderate/news/queue?queue=approved").text) == [held["id"]]
    ada = ws.client("ada")
    stale = form(ada, url, action="reject", version=held["version"], reason="Threat")
    assert stale.status_code == 409
    assert "Another moderator already decided this" in stale.text
    assert "now <strong>published</strong>, reviewed (version 2)" in stale.text
    log = maria.get("/moderate/news/audit").text
    assert "fair enough" in log and "Threat" not in log  # an approval keeps only the note


def test_reject_with_reason_and_note_and_feature(ws, maria):
    held = ws.post(ws.alice, "stupid plan")
    fine = ws.post(ws.bob, "a fine plan")
    form(maria, f"/moderate/news/comments/{held['id']}/decision", action="reject",
         version=held["version"], reason="Abusive or insulting", note="second warning")
    form(maria, f"/moderate/news/comments/{fine['id']}/decision", action="feature",
         version=fine["version"])
    page = maria.get(f"/moderate/news/comments/{held['id']}").text
    assert "Abusive or insulting: second warning" in page
    assert "featured" in maria.get(f"/moderate/news/comments/{fine['id']}").text
    bad = form(maria, f"/moderate/news/comments/{held['id']}/decision", action="explode",
               version=2)
    assert bad.status_code == 400 and "unknown action" in bad.text


def test_bulk_reject_by_form_reports_stale_items(ws, maria):
    items = [ws.post(ws.alice, f"stupid take {i}") for i in range(3)]
    response = maria.post("/moderate/news/decisions", data={
        "csrf_token": maria.csrf, "action": "reject", "reason": "Off topic",
        "items": [f"{c['id']}:{c['version']}" for c in items], "next": "/moderate/news/queue"})
    assert response.status_code == 303
    rejected = card_ids(maria.get("/moderate/news/queue?queue=rejected").text)
    assert sorted(rejected) == sorted(c["id"] for c in items)
    again = maria.post("/moderate/news/decisions", data={
        "csrf_token": maria.csrf, "action": "approve",
        "items": [f"{items[0]['id']}:{items[0]['version']}", f"{items[1]['id']}:2"]})
    assert again.status_code == 409
    assert "1 of 2 comments decided" in again.text
    assert "another moderator already decided this (now rejected, version 2)" in again.text
    none = maria.post("/moderate/news/decisions", data={"csrf_token": maria.csrf,
                                                        "action": "approve"})
    assert none.status_code == 400 and "select at least one" in none.text


def test_ban_from_the_author_page_stops_their_posts(ws, maria):
    ws.post(ws.alice, "stupid plan")
    author = ws.alice.reader.author_id
    page = maria.get(f"/moderate/news/authors/{author}").text
    assert "stupid plan" in page and "May comment" in page
    response = form(maria, f"/moderate/news/authors/{author}/ban", days="7",
                    reason="repeated insults")
    assert response.status_code == 303
    page = maria.get(f"/moderate/news/authors/{author}").text
    assert "Banned until" in page and "repeated insults" in page
    with TestClient(ws.app) as api:
        refused = post(api, ws.alice, "let me back in")
    assert refused.status_code == 403 and refused.json()["code"] == "author_banned"
    form(maria, f"/moderate/news/authors/{author}/unban")
    assert "May comment" in maria.get(f"/moderate/news/authors/{author}").text
    assert form(maria, f"/moderate/news/authors/{author}/ban", days="soon").status_code == 400


def test_reader_reports_show_on_the_card(ws, maria):
    fine = ws.post(ws.alice, "a fine plan")
    with TestClient(ws.app) as api:
        response = api.post(f"/api/v1/sites/news/comments/{fine['id']}/reports",
                 json={"reason": "off_topic", "note": "<b>spam</b>"}, headers=ws.bob.headers)
        assert response.status_code == 201, response.text
    page = maria.get("/moderate/news/queue?queue=reported").text
    assert card_ids(page) == [fine["id"]]
    assert "1 reader report" in page and "off topic: “&lt;b&gt;spam&lt;/b&gt;”" in page


def test_highlight_escapes_merges_and_skips_bad_offsets():
    body = "a <b>idiot</b> & kill"
    reasons = [
        {"label": "insult", "start": 5, "end": 10, "text": "idiot", "weight": 0.9},
        {"label": "toxicity", "start": 5, "end": 10, "text": "idiot", "weight": 0.8},
        {"label": "threat", "start": 17, "end": 21, "text": "kill", "weight": 0.7},
        {"label": "threat", "start": 0, "end": 99, "text": "x", "weight": 0.7},
        {"label": "threat", "start": 0, "end": 1, "text": "zzz", "weight": 0.7},
        {"label": "spam", "start": "x", "end": 3},
    ]
    html = str(highlight(body, reasons))
    assert html.startswith("a &lt;b&gt;<mark")
    assert html.count("<mark") == 2
    assert 'class="hl-tag">insult</span><span class="hl-tag">toxicity</span>' in html
    assert "&lt;/b&gt; &amp; <mark" in html
    assert str(highlight("<i>", [])) == "&lt;i&gt;"


def test_hostile_ids_and_parameters_are_400_pages(ws, maria):
    big = "9" * 30
    for url in (f"/moderate/news/comments/{big}", f"/moderate/news/authors/{big}",
                f"/moderate/news/authors/1?before={big}", f"/moderate/news/dashboard?story={big}",
                "/moderate/news/comments/abc"):
        response = maria.get(url)
        assert response.status_code == 400, url
        assert response.headers["content-type"].startswith("text/html")
    assert form(maria, f"/moderate/news/comments/{big}/decision", action="approve",
                version=big).status_code == 400
    assert form(maria, "/moderate/news/decisions", action="approve",
                items=f"1:{big}").status_code == 400
    assert maria.get("/moderate/news/comments/12345").status_code == 404
    assert maria.get(f"/moderate/news/queue?story={big}&q={'x' * 5000}").status_code == 200


def test_reply_card_shows_the_parent_for_context(ws, maria):
    parent = ws.post(ws.bob, "The *budget* is fine")
    reply = ws.post(ws.alice, "stupid take", parent_id=parent["id"],
                    story_id=parent["story_id"])
    page = maria.get("/moderate/news/queue").text
    assert card_ids(page) == [reply["id"]]
    assert f"In reply to #{parent['id']} (published)" in page
    assert "<p>The <em>budget</em> is fine</p>" in page  # the parent's sanitised HTML


def _summary(html, card_id):
    """{term: text} of the author summary on the card of ``card_id``."""
    card = html.split(f'id="c{card_id}"', 1)[1].split("</aside>", 1)[0]
    return {dt: re.sub(r"\s+", " ", dd).strip()
            for dt, dd in re.findall(r"<dt>([^<]+)</dt><dd[^>]*>(.*?)</dd>", card, re.S)}


def test_card_summarises_the_author_with_their_numbers_and_bans(ws, maria):
    ws.post(ws.alice, "a fine plan")
    fine = ws.post(ws.alice, "another fine plan")
    held = ws.post(ws.alice, "stupid plan")
    rude = ws.post(ws.alice, "you idiot")
    form(maria, f"/moderate/news/comments/{held['id']}/decision", action="approve",
         version=held["version"])
    form(maria, f"/moderate/news/comments/{rude['id']}/decision", action="reject",
         version=rude["version"])
    with TestClient(ws.app) as api:
        for reporter in (ws.bob, ws.alice):  # alice may not report herself: one report counts
            api.post(f"/api/v1/sites/news/comments/{fine['id']}/reports",
                     json={"reason": "spam"}, headers=reporter.headers)
    author = ws.alice.reader.author_id
    form(maria, f"/moderate/news/authors/{author}/ban", days="1", reason="cool off")
    form(maria, f"/moderate/news/authors/{author}/unban")
    form(maria, f"/moderate/news/authors/{author}/ban", days="7", reason="again & again")
    bobs = ws.post(ws.bob, "a stupid move")

    summary = _summary(maria.get(f"/moderate/news/comments/{held['id']}").text, held["id"])
    assert summary["Comments"] == "4"
    assert summary["Approved / rejected"] == "3 / 1 (75% approved)"
    assert summary["Reports"] == "1"
    assert summary["First seen"] == "2026-11-25 12:00"
    bans = summary["Bans"]
    assert re.fullmatch(r"2; current: \S+ \S+, until \S+ \S+ \(“again &amp; again”\)", bans)
    assert "cool off" not in bans and "lifted" not in bans
    assert summary["Banned"].startswith("until ")

    form(maria, f"/moderate/news/authors/{author}/unban")
    lifted = _summary(maria.get(f"/moderate/news/comments/{held['id']}").text, held["id"])
    assert re.fullmatch(r"2; last: .+, until .+, lifted .+ \(“again &amp; again”\)",
                        lifted["Bans"]) and "Banned" not in lifted
    queue = maria.get("/moderate/news/queue").text
    assert _summary(queue, bobs["id"])["Bans"] == "0"
