"""The dashboard's numbers and charts, the audit log page and its CSV, and the aggregate
queries under them (on SQLite and PostgreSQL)."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from tests.factories import NOW, WordEngine
from tests.web.conftest import URL
from tests.web.workspace import form

from rostra.actions.accounts import update_user
from rostra.actions.comments import post_comment
from rostra.storage import dashboard
from rostra.storage.database import transaction
from rostra.storage.site_models import SiteModelStore
from rostra.storage.stories import StoryStore


@pytest.fixture
def busy(ws):
    """Four comments on two stories: published, held then approved, held, rejected; a report."""
    fine = ws.post(ws.alice, "a fine plan")
    held = ws.post(ws.alice, "stupid plan")
    ws.post(ws.bob, "I will kill the budget", url="https://news.example/other", title="Other")
    ws.post(ws.bob, "you idiot")
    maria = ws.client("maria")
    form(maria, f"/moderate/news/comments/{held['id']}/decision", action="approve",
         version=held["version"])
    with TestClient(ws.app) as api:
        api.post(f"/api/v1/sites/news/comments/{fine['id']}/reports", json={"reason": "spam"},
                 headers=ws.bob.headers)
    return maria


def test_dashboard_numbers_and_charts(ws, busy):
    page = busy.get("/moderate/news/dashboard").text
    tiles = re.findall(r'<span class="big">([^<]+)</span>', page)
    assert tiles[:4] == ["4", "50%", "25%", "25%"]
    assert "(1 decided)" in page
    assert page.count('<svg class="chart"') == 4
    assert '<rect class="series-held"' in page
    assert "<title>Share of comments held by the engine per label" in page
    assert "Insult" in page and "Threat" in page
    assert "City budget" in page.split("Busiest stories")[1]
    reported = page.split("Most reported authors")[1]
    assert re.search(r'>alice</a>.*?<td>1</td>', reported, re.S)
    assert "src=\"http" not in page and "href=\"//" not in page  # nothing from elsewhere


def test_dashboard_of_one_story_and_bad_parameters(ws, busy):
    with ws.db.connect() as conn:
        (other_story,) = [s for s, t in dashboard.recent_stories(conn, ws.site.id)
                          if t == "Other"]
    page = busy.get(f"/moderate/news/dashboard?story={other_story}&days=7").text
    assert "Dashboard: Other" in page
    assert re.findall(r'<span class="big">([^<]+)</span>', page)[0] == "1"
    assert busy.get("/moderate/news/dashboard?story=999").status_code == 404
    assert busy.get("/moderate/news/dashboard?days=abc").status_code == 400
    assert busy.get("/moderate/news/dashboard?days=12").status_code == 200  # falls back to 30


def test_aggregates(ws, busy, db):
    since = datetime.now(UTC) - timedelta(days=1)
    with db.connect() as conn:
        (today,) = dashboard.daily_counts(conn, ws.site.id, since)
        assert (today.posted, today.published, today.held, today.rejected) == (4, 2, 1, 1)
        # "you idiot" was rejected by the engine, not held; "stupid plan" was held, then approved.
        held = dashboard.held_by_label(conn, ws.site.id, since)
        assert held == {today.day: {"insult": 1, "threat": 1, "toxicity": 2}}
        delays = dashboard.decision_delays(conn, ws.site.id, since)
        assert len(delays) == 1 and 0 <= delays[0][1] < 60
        stories = dashboard.busiest_stories(conn, ws.site.id, since)
        assert [(s.title, s.posted, s.held) for s in stories] == [("City budget", 3, 0),
                                                                  ("Other", 1, 1)]
        (author,) = dashboard.most_reported_authors(conn, ws.site.id, since)
        assert author.name == "alice" and author.reports == 1
        assert len(dashboard.recent_signals(conn, ws.site.id, 3)) == 3
        assert dashboard.daily_counts(conn, ws.other.id, since) == []


def test_audit_log_filters_and_csv(ws, busy):
    held = ws.post(ws.bob, "stupid again")
    form(busy, f"/moderate/news/comments/{held['id']}/decision", action="reject",
         version=held["version"], reason="Off topic", note="=HYPERLINK(\"http://x\")")
    page = busy.get("/moderate/news/audit").text
    assert "Off topic: =HYPERLINK" in page and "maria" in page
    assert "status: pending → rejected" in page
    assert busy.get("/moderate/news/audit?action=reject").text.count("<tr><td>") == 2
    maria_id = re.search(r'<option value="(\d+)">maria</option>', page).group(1)
    only = busy.get(f"/moderate/news/audit?action=reject&user={maria_id}").text
    assert only.count("<tr><td>") == 1 and "Off topic" in only
    response = busy.get("/moderate/news/audit.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="rostra-audit-news.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["action"] for r in rows} >= {"approve", "reject", "hold"}
    (rejected,) = [r for r in rows if r["action"] == "reject" and r["username"] == "maria"]
    assert rejected["reason"].startswith("Off topic")
    assert busy.get(f"/moderate/news/audit.csv?action=reject&user={maria_id}").text.count(
        "\n") == 2
    formula = form(busy, f"/moderate/news/authors/{ws.bob.reader.author_id}/ban",
                   reason="=cmd|' /C calc'!A0")
    assert formula.status_code == 303
    exported = busy.get("/moderate/news/audit.csv?action=ban").text
    assert "'=cmd|" in exported
    assert busy.get("/moderate/news/audit?user=abc&author=-1&before=x").status_code == 200


def test_audit_log_filters_by_day(ws, busy):
    held = ws.post(ws.bob, "stupid again")
    form(busy, f"/moderate/news/comments/{held['id']}/decision", action="reject",
         version=held["version"], reason="Off topic")
    today = datetime.now(UTC).date()
    page = busy.get(f"/moderate/news/audit?action=reject&from={today}&to={today}").text
    assert page.count("<tr><td>") >= 1 and f'value="{today}"' in page
    tomorrow = today + timedelta(days=1)
    assert busy.get(f"/moderate/news/audit?from={tomorrow}").text.count("<tr><td>") == 0
    yesterday = today - timedelta(days=1)
    assert busy.get(f"/moderate/news/audit?to={yesterday}").text.count("<tr><td>") == 0
    exported = busy.get(f"/moderate/news/audit.csv?action=reject&from={tomorrow}").text
    assert exported.count("\n") == 1  # the header only
    # A malformed day is no filter, never an error.
    assert busy.get("/moderate/news/audit?from=2026-13-45&to=';drop").status_code == 200


def test_site_model_changes_show_in_the_audit_log(ws, busy):
    with transaction(ws.db) as conn:
        SiteModelStore.add(conn, site_id=ws.site.id, artifact=b"", examples=12, now=NOW,
                           metrics={"promotable": True, "refusals": [], "against": None,
                                    "base": {"auc": 0.61}, "candidate": {"auc": 0.83}})
    csrf = {"X-CSRF-Token": busy.csrf}
    assert busy.post("/api/v1/sites/news/adaptation/promote", headers=csrf).status_code == 200
    assert busy.post("/api/v1/sites/news/adaptation/rollback", headers=csrf).status_code == 200
    page = busy.get("/moderate/news/audit?action=site.model.promote").text
    (row,) = re.findall(r"<tr><td>.*?</tr>", page, re.S)
    assert "<td>maria</td>" in row and "<code>site.model.promote</code>" in row
    assert "active: null → 1; shadow: 1 → null" in row
    assert "held-out ROC-AUC 0.830 above 0.610 (the base engine)" in row
    rolled = busy.get("/moderate/news/audit?action=site.model.rollback").text
    assert "active: 1 → null; rejected: 1" in rolled
    assert "site.model" not in ws.client("olga").get("/moderate/other/audit").text


def test_account_changes_from_the_command_line_show_in_the_sites_audit_log(ws):
    update_user(ws.db, "maria", disabled=True)
    ada = ws.client("ada")
    added = ada.get("/moderate/news/audit?action=site.moderator.add").text
    assert "username: maria" in added  # given the site when the account was made
    (row,) = re.findall(r"<tr><td>.*?</tr>",
                        ada.get("/moderate/news/audit?action=user.update").text, re.S)
    assert "disabled: false → true; username: maria" in row
    assert "maria" not in ada.get("/moderate/other/audit").text.split("<table", 1)[1]


def test_share_held_per_label_by_day(ws, db):
    """Two days ago: 4 comments, two held for insult (one approved later), one rejected by
    the engine, one premoderated; yesterday: 2 comments, one held for a threat."""
    engine = WordEngine()
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    two_ago, yesterday = now - timedelta(days=2), now - timedelta(days=1)
    closed = "https://news.example/premoderated"
    with transaction(db) as conn:
        story = StoryStore.get_or_create(conn, ws.site.id, closed, "Checked", now=two_ago)
        StoryStore.update(conn, story.id, premoderation=True)

    def posted(reader, body, at, url=URL):
        return post_comment(db, engine, site=ws.site, author_id=reader.reader.author_id,
                            body=body, url=url, title="Budget", now=at).comment

    held = posted(ws.alice, "stupid plan", two_ago)
    posted(ws.bob, "a stupid idea", two_ago + timedelta(hours=1))
    posted(ws.alice, "you idiot", two_ago + timedelta(hours=2))
    posted(ws.bob, "a fine plan", two_ago + timedelta(hours=3), url=closed)
    posted(ws.alice, "I will kill the budget", yesterday)
    posted(ws.bob, "good idea", yesterday + timedelta(hours=1))
    maria = ws.client("maria")
    form(maria, f"/moderate/news/comments/{held.id}/decision", action="approve",
         version=held.version)

    with db.connect() as conn:
        found = dashboard.held_by_label(conn, ws.site.id, now - timedelta(days=7))
    assert found == {two_ago.date(): {"insult": 2, "toxicity": 2},
                     yesterday.date(): {"threat": 1, "toxicity": 1}}

    page = maria.get("/moderate/news/dashboard?days=7").text
    bars = page.split("<h2>Held per label</h2>")[1].split("</details>")[0]
    assert re.findall(r'<th scope="row">([^<]+)</th><td>([^<]+)</td>', bars) == [
        ("Toxicity", "3 of 6 (50.0%)"), ("Threat", "1 of 6 (16.7%)"),
        ("Insult", "2 of 6 (33.3%)")]
    daily = page.split('<table class="held-daily">')[1].split("</table>")[0]
    assert re.findall(r"<th scope=\"col\">([^<]+)</th>", daily) == [
        "Day", "Posted", "Toxicity", "Threat", "Insult"]
    rows = [re.findall(r"<td>([^<]+)</td>", row) for row in daily.split("<tr>")[2:]]
    assert rows == [[str(two_ago.date()), "4", "2 (50%)", "0 (0%)", "2 (50%)"],
                    [str(yesterday.date()), "2", "1 (50%)", "1 (50%)", "0 (0%)"]]
    chart = page.split("<title>Share of comments held per label")[1].split("</svg>")[0]
    assert chart.count("<polyline") == 3
    assert f"<title>{two_ago:%m-%d}: Insult 50%</title>" in chart
    assert f"<title>{yesterday:%m-%d}: Insult 0%</title>" in chart
    assert f"<title>{yesterday:%m-%d}: Threat 50%</title>" in chart
    assert f"{now:%m-%d}: Threat" not in chart  # no comments today: no point
