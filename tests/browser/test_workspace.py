"""The moderators' workspace end to end: headless Chromium against a live ``rostra serve``.

One server for the module. It scores with a "quiet" fast model (every score near zero) and the
site's policy lists a suspect term, so exactly the comments with that term are held. Each test
posts its own comments on its own story and filters the queue (or the audit log) to them, so
the tests do not depend on each other's order. The test of a hold by the model starts a server
of its own with the shipped fast model.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
from tests.browser.conftest import LiveServer, free_port, serving

from rostra.actions.accounts import create_user
from rostra.actions.sites import create_site
from rostra.domain.comments import Role
from rostra.domain.labels import LABELS
from rostra.moderation.fast import FastModel, save_fast_model
from rostra.storage.database import make_engine, transaction
from rostra.storage.examples import ExampleStore
from rostra.storage.sites import SiteStore

pytestmark = pytest.mark.browser

SITE = "news"
SUSPECT = "numpty"  # the site's suspect term: comments with it are held for review
PASSWORD = "correct horse battery"
#: Set to a directory to keep a screenshot of the queue for a look.
SCREENSHOTS = os.environ.get("ROSTRA_TEST_SCREENSHOTS")


def write_quiet_model(out_dir: Path) -> None:
    """A valid fast-tier model whose scores are all ~0: only word lists hold a comment."""
    n_features = (1 << 8) + (1 << 8)
    labels = len(LABELS)
    save_fast_model(
        FastModel(
            char_orders=(3,), char_bits=8, word_bits=8,
            weights=np.zeros((n_features, labels), np.float32),
            bias=np.full(labels, -12.0, np.float32),
            idf=np.ones(n_features, np.float32),
            calib_a=np.ones(labels, np.float32), calib_b=np.zeros(labels, np.float32),
            meta={"name": "quiet test model"},
        ),
        out_dir / "fast",
    )


def live_server(tmp: Path, model_dir: Path | None) -> LiveServer:
    """A prepared (not yet started) server with site ``news``, moderator maria and admin ada;
    it scores with the fast tier of ``model_dir``, or of the shipped models without one."""
    port = free_port()
    env = {
        **os.environ,
        "ROSTRA_DATABASE_URL": f"sqlite:///{tmp}/rostra.db",
        "ROSTRA_SECRET_KEY": "test-secret-key-for-browser-tests",
        "ROSTRA_DEV_MODE": "1",
        "ROSTRA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ROSTRA_RATE_LIMITS_ENABLED": "0",
        "ROSTRA_MODERATION_TIER": "fast",
    }
    env.pop("ROSTRA_MODEL_DIR", None)
    if model_dir is not None:
        env["ROSTRA_MODEL_DIR"] = str(model_dir)
    live = LiveServer(url=f"http://127.0.0.1:{port}", database_url=env["ROSTRA_DATABASE_URL"],
                      env=env, process=None, log_path=tmp / "server.log")  # type: ignore[arg-type]
    live.rostra("db", "upgrade")
    engine = make_engine(live.database_url)
    try:
        create_site(engine, SITE, "News")
        create_user(engine, "maria", Role.MODERATOR, PASSWORD, site_slugs=[SITE])
        create_user(engine, "ada", Role.ADMIN, PASSWORD)
    finally:
        engine.dispose()
    return live


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The module's server: the quiet model, and the site's policy lists the suspect term."""
    tmp = tmp_path_factory.mktemp("workspace")
    write_quiet_model(tmp / "models")
    live = live_server(tmp, tmp / "models")
    engine = make_engine(live.database_url)
    try:
        with transaction(engine) as conn:
            site = SiteStore.get_by_slug(conn, SITE)
            SiteStore.update(conn, site.id, policy={**site.policy, "suspect_terms": [SUSPECT]})
    finally:
        engine.dispose()
    with serving(live):
        yield live


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own that scores with the shipped fast model (and its span explainer),
    and no word lists of the site's: what it holds, the model held."""
    with serving(live_server(tmp_path, None)) as live:
        yield live


# --- helpers --------------------------------------------------------------------------------


def guest_post(server: LiveServer, story: str, body: str, name: str | None = None,
               token: str | None = None) -> httpx.Response:
    payload = {"body": body, "url": f"https://news.example/{story}", "title": f"Story {story}"}
    if token is None:
        payload["name"] = name or f"guest-{uuid.uuid4().hex[:6]}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{server.url}/api/v1/sites/{SITE}/comments", json=payload,
                      headers=headers, timeout=10)


def seed(server: LiveServer, story: str, bodies: list[str]) -> list[dict]:
    posted = []
    for body in bodies:
        response = guest_post(server, story, body)
        assert response.status_code == 201, response.text
        posted.append(response.json())
    return posted


def api_session(server: LiveServer, username: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=10)
    response = client.post("/api/v1/auth/login",
                           json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


def log_in(page: object, server: LiveServer, username: str, next_path: str) -> None:
    page.goto(f"{server.url}/moderate/login?next={quote(next_path, safe='')}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path.split('?')[0]}**")


def shot(page: object, name: str) -> None:
    """Keep a screenshot when ROSTRA_TEST_SCREENSHOTS names a directory (to look at)."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1366, "height": 900})
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))


def queue_url(story_id: int, queue: str = "pending") -> str:
    return f"/moderate/{SITE}/queue?queue={queue}&story={story_id}"


AUDIT_COLUMNS = ("when", "who", "action", "comment", "author", "reason", "change")


def audit_rows(page: object, server: LiveServer, query: str) -> list[dict[str, str]]:
    """The rows of the site's audit log page filtered by ``query``, one dict per row."""
    page.goto(f"{server.url}/moderate/{SITE}/audit?{query}")
    cells = page.locator("table.log tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.textContent.trim()))")
    return [dict(zip(AUDIT_COLUMNS, row, strict=True)) for row in cells if len(row) > 1]


def comment_state(client: httpx.Client, comment_id: int) -> dict:
    response = client.get(f"/api/v1/sites/{SITE}/moderation/comments/{comment_id}")
    assert response.status_code == 200, response.text
    return response.json()


# --- the scenario -------------------------------------------------------------------------


def test_held_comment_highlighted_then_approved_and_bulk_rejected_by_keyboard(
        server, page):
    fine, held = seed(server, "kb", ["A fair point about the budget.",
                                     f"Only a {SUSPECT} would vote for this."])
    others = seed(server, "kb", [f"{SUSPECT} number {i}, and proud of it" for i in range(3)])
    story = held["story_id"]
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    log_in(page, server, "maria", queue_url(story))
    card = page.locator(f"#c{held['id']}")
    mark = card.locator("mark.hl")
    assert mark.count() == 1
    assert mark.inner_text().startswith(SUSPECT)
    assert card.locator(".hl-tag").inner_text().lower() == "suspect term"
    assert f"contains the suspect term “{SUSPECT}”" in card.inner_text()
    assert page.locator(f"#c{fine['id']}").count() == 0  # published: not in Pending
    pending_before = int(page.locator('[data-count="pending"]').inner_text())
    shot(page, "queue")

    # Newest first among equal severities: the card in focus is `held`, posted before others.
    card.focus()
    page.keyboard.press("a")
    card.wait_for(state="detached")
    assert page.locator('[data-count="pending"]').inner_text() == str(pending_before - 1)

    first = page.locator(".cards .card").first
    first.focus()
    page.keyboard.press("j")
    assert "current" in page.locator(".cards .card").nth(1).get_attribute("class")
    page.keyboard.press("k")
    assert "current" in first.get_attribute("class")
    for other in others:
        page.locator(f"#c{other['id']}").focus()
        page.keyboard.press("x")
    assert page.locator("[data-selected]").inner_text() == "3"
    page.keyboard.press("Shift+R")
    for other in others:
        page.locator(f"#c{other['id']}").wait_for(state="detached")
    assert page.errors == []
    assert requested and all(url.startswith((server.url + "/", "data:")) for url in requested)

    ada = api_session(server, "ada")
    assert comment_state(ada, held["id"])["status"] == "published"
    assert {comment_state(ada, o["id"])["status"] for o in others} == {"rejected"}
    reasons = {e["reason"] for o in others for e in comment_state(ada, o["id"])["log"]
               if e["action"] == "reject"}
    assert reasons == {"Abusive or insulting"}  # the first of the site's reasons


def test_ban_from_the_card_refuses_the_next_post_and_is_in_the_audit_log(server, page):
    first = guest_post(server, "ban", f"You {SUSPECT}, all of you", name="Troll")
    assert first.status_code == 201
    comment, token = first.json(), first.json()["reader_token"]
    log_in(page, server, "maria", queue_url(comment["story_id"]))
    card = page.locator(f"#c{comment['id']}")
    card.locator("details.ban summary").click()
    card.locator("select[name=days]").select_option("7")
    card.locator("input[name=reason]").fill("insults everyone")
    card.locator("button", has_text="Ban author").click()
    page.wait_for_load_state()
    assert "Banned" in page.locator(f"#c{comment['id']} .author").inner_text()

    refused = guest_post(server, "ban", "Let me back in", token=token)
    assert refused.status_code == 403 and refused.json()["code"] == "author_banned"

    page.locator(f"#c{comment['id']} .author-name").click()
    assert "Banned until" in page.locator("main").inner_text()
    shot(page, "author")
    author = api_session(server, "ada").get(
        f"/api/v1/sites/{SITE}/moderation/comments/{comment['id']}").json()["author"]["id"]
    (ban,) = audit_rows(page, server, f"author={author}&action=suspend")
    assert (ban["who"], ban["action"], ban["comment"], ban["author"]) == (
        "maria", "suspend", "", str(author))
    assert ban["reason"] == "insults everyone"
    csv = page.request.get(f"{server.url}/moderate/{SITE}/audit.csv?author={author}")
    assert csv.status == 200 and "insults everyone" in csv.text()
    assert page.errors == []


def test_audit_log_shows_each_decision_with_its_moderator_and_change(server, page):
    approved, rejected = seed(server, "audit", [f"A {SUSPECT} take, but fair",
                                                f"Every {SUSPECT} agrees"])
    log_in(page, server, "maria", queue_url(approved["story_id"]))
    card = page.locator(f"#c{approved['id']}")
    card.focus()
    page.keyboard.press("a")
    card.wait_for(state="detached")
    card = page.locator(f"#c{rejected['id']}")
    card.locator("input[name=note]").fill("off topic here")
    card.locator("button.reject").click()
    card.wait_for(state="detached")
    ada = api_session(server, "ada")
    published = comment_state(ada, approved["id"])
    response = ada.post(f"/api/v1/sites/{SITE}/moderation/comments/{approved['id']}/decision",
                        json={"action": "feature", "version": published["version"]})
    assert response.status_code == 200, response.text

    rows = audit_rows(page, server, f"comment={approved['id']}")  # newest first
    assert [(r["who"], r["action"], r["comment"]) for r in rows] == [
        ("ada", "feature", f"#{approved['id']}"),
        ("maria", "approve", f"#{approved['id']}"),
        ("system", "hold", f"#{approved['id']}"),
    ]
    feature, approve, hold = rows
    assert "featured: false → true" in feature["change"]
    assert "status: pending → published" in approve["change"]
    assert hold["reason"] == "suspect_term" and "status: pending" in hold["change"]
    assert "→" not in hold["change"]  # the first state of the comment: nothing before it

    (reject,) = audit_rows(page, server, f"comment={rejected['id']}&action=reject")
    assert (reject["who"], reject["comment"]) == ("maria", f"#{rejected['id']}")
    assert reject["reason"] == "Abusive or insulting: off topic here"
    assert "status: pending → rejected" in reject["change"]
    page.locator("table.log tbody tr").first.get_by_role(
        "link", name=f"#{rejected['id']}").click()
    page.wait_for_url(f"**/moderate/{SITE}/comments/{rejected['id']}")
    assert "status: pending → rejected" in page.locator("table.log").inner_text()
    shot(page, "audit")
    assert page.errors == []


def test_comment_held_by_the_model_shows_the_models_span(model_server, page):
    # The shipped fast model scores this between the review and reject thresholds of toxicity
    # and insult (about 0.84 and 0.62) and its explainer blames the one word "clown".
    body = "Honestly, the minister is a clown."
    held = guest_post(model_server, "model", body)
    assert held.status_code == 201 and held.json()["status"] == "pending", held.text
    comment = held.json()
    log_in(page, model_server, "maria", queue_url(comment["story_id"]))
    card = page.locator(f"#c{comment['id']}")
    assert "Engine decided: hold for review" in card.inner_text()
    assert card.locator("mark.hl-term").count() == 0  # no word list had a say
    mark = card.locator(".text mark.hl.hl-model")
    assert mark.count() == 1
    assert mark.evaluate("m => m.firstChild.textContent") == "clown"
    assert mark.evaluate("m => m.previousSibling.textContent") == "Honestly, the minister is a "
    assert mark.evaluate("m => m.nextSibling.textContent") == "."
    assert sorted(mark.locator(".hl-tag").all_text_contents()) == ["Insult", "Toxicity"]
    assert "Insult" in mark.get_attribute("title") and "Toxicity" in mark.get_attribute("title")
    ada = api_session(model_server, "ada")
    (signal,) = comment_state(ada, comment["id"])["signals"]
    spans = {(r["text"], r["source"]) for r in signal["reasons"] if r["text"]}
    assert spans == {("clown", "model")}
    shot(page, "model-span")
    assert page.errors == []


def test_spam_and_approving_a_selection_by_keyboard_stay_on_the_page(server, page):
    junk, first, second, left = seed(server, "keys", [
        f"Cheap {SUSPECT} watches at example dot com", f"A {SUSPECT}, but a kind one",
        f"Another {SUSPECT}, also kind", f"One more {SUSPECT} for later"])
    log_in(page, server, "maria", queue_url(junk["story_id"]))
    page.evaluate("window.stillThePageWeLoaded = true")
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    pending_before = int(page.locator('[data-count="pending"]').inner_text())

    page.locator(f"#c{junk['id']}").focus()
    page.keyboard.press("s")
    page.locator(f"#c{junk['id']}").wait_for(state="detached")
    for chosen in (first, second):
        page.locator(f"#c{chosen['id']}").focus()
        page.keyboard.press("x")
    assert page.locator("[data-selected]").inner_text() == "2"
    assert page.locator(f"#sel{left['id']}").is_checked() is False
    page.keyboard.press("Shift+A")
    for chosen in (first, second):
        page.locator(f"#c{chosen['id']}").wait_for(state="detached")

    assert page.evaluate("window.stillThePageWeLoaded") is True and loads == []
    assert page.locator(".cards .card").count() == 1
    assert page.locator(f"#c{left['id']}").is_visible()
    assert page.locator("[data-selected]").inner_text() == "0"
    page.wait_for_function(
        f"() => document.querySelector('[data-count=\"pending\"]').textContent"
        f" === '{pending_before - 3}'")
    ada = api_session(server, "ada")
    assert comment_state(ada, junk["id"])["status"] == "spam"
    assert [comment_state(ada, c["id"])["status"] for c in (first, second, left)] == [
        "published", "published", "pending"]
    (entry,) = [e for e in comment_state(ada, junk["id"])["log"] if e["action"] == "spam"]
    assert entry["username"] == "maria"
    assert page.errors == []


def test_dashboard_draws_its_charts_without_asking_any_other_host(server, page):
    calm, held = seed(server, "dashboard", ["A calm remark.", f"What a {SUSPECT} plan"])
    response = api_session(server, "ada").post(
        f"/api/v1/sites/{SITE}/moderation/comments/{held['id']}/decision",
        json={"action": "reject", "version": held["version"]})
    assert response.status_code == 200, response.text  # a decision, for the time it took
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    log_in(page, server, "maria", f"/moderate/{SITE}/dashboard?story={calm['story_id']}")
    page.wait_for_load_state("networkidle")
    for heading in ("Comments per day", "Held per label", "Time to decision"):
        box = page.locator("section.chart-box").filter(
            has=page.get_by_role("heading", name=heading))
        chart = box.locator("svg.chart").first
        assert chart.is_visible(), heading
        assert chart.locator("title").count() >= 1, heading
    assert page.locator("h1").inner_text() == "Dashboard: Story dashboard"
    assert page.locator(".tiles li").first.text_content() == "2 comments posted"
    shot(page, "dashboard")
    assert any(url.startswith(f"{server.url}/moderate/static/") for url in requested)
    foreign = [url for url in requested if not url.startswith((server.url + "/", "data:"))]
    assert foreign == []
    assert page.errors == []


def test_teaching_the_model_marks_the_selected_words_in_place(server, page):
    body = f"You {SUSPECT}, this is pure nonsense"
    (comment,) = seed(server, "teach", [body])
    ada = api_session(server, "ada")
    response = ada.post(f"/api/v1/sites/{SITE}/moderation/comments/{comment['id']}/decision",
                        json={"action": "reject", "version": comment["version"]})
    assert response.status_code == 200, response.text
    path = f"/moderate/{SITE}/comments/{comment['id']}"
    log_in(page, server, "maria", path)
    page.evaluate("window.stillThePageWeLoaded = true")
    card = page.locator(f"#c{comment['id']}")
    card.locator("summary", has_text="Teach this site's model").click()
    box = card.locator("form.adapt-marks")
    assert box.locator(".adapt-mark-words").is_visible()  # shown by the script that uses it
    # Select "nonsense", which comes after the suspect term's mark and its hidden label text.
    card.locator(".text").evaluate("""text => {
        const node = text.lastChild;
        const range = document.createRange();
        range.setStart(node, node.textContent.indexOf("nonsense"));
        range.setEnd(node, node.textContent.length);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
    }""")
    box.locator(".adapt-mark-words").click()
    assert box.locator(".adapt-spans").inner_text() == "Marked: “nonsense”"
    box.get_by_role("checkbox", name="Insult").check()
    box.get_by_role("button", name="Save for learning").click()
    status = box.locator(".adapt-status")
    page.wait_for_function("el => el.textContent !== ''", arg=status.element_handle())
    assert status.inner_text() == "Saved: the next training will use it."
    assert page.evaluate("window.stillThePageWeLoaded") is True
    engine = make_engine(server.database_url)
    try:
        with engine.connect() as conn:
            site = SiteStore.get_by_slug(conn, SITE)
            stored = ExampleStore.get(conn, site.id, comment["id"])
    finally:
        engine.dispose()
    start = body.index("nonsense")
    assert (stored.labels, stored.spans) == (["insult"], [(start, start + len("nonsense"))])
    assert page.errors == []


def test_threshold_preview_counts_change_live(server, page):
    seed(server, "preview", ["Plain agreement.", "Another calm remark."])
    log_in(page, server, "ada", f"/moderate/{SITE}/settings")
    preview = page.locator("#preview")
    page.fill("#t-toxicity-review", "0.49")
    page.wait_for_function(
        "() => /^[0-9]+ of [0-9]+ would change/.test(document.getElementById('preview')"
        ".textContent)")
    assert preview.inner_text().startswith("0 of ")
    page.fill("#t-toxicity-review", "0")
    page.wait_for_function(
        "() => /^[1-9][0-9]* of /.test(document.getElementById('preview').textContent)")
    assert "approve → review" in preview.inner_text()
    shot(page, "settings")
    assert page.errors == []


def test_stale_decision_shows_the_conflict(server, page):
    (held,) = seed(server, "conflict", [f"What a {SUSPECT} idea"])
    log_in(page, server, "maria", queue_url(held["story_id"]))
    card = page.locator(f"#c{held['id']}")
    ada = api_session(server, "ada")
    response = ada.post(f"/api/v1/sites/{SITE}/moderation/comments/{held['id']}/decision",
                        json={"action": "reject", "version": held["version"]})
    assert response.status_code == 200, response.text
    card.focus()
    page.keyboard.press("a")
    status = card.locator(".card-status.conflict")
    status.wait_for()
    assert "Another moderator already decided this" in status.inner_text()
    assert "rejected" in status.inner_text()
    shot(page, "conflict")
    assert comment_state(ada, held["id"])["status"] == "rejected"


def test_new_held_comments_are_announced_without_moving_the_queue(server, page):
    (first,) = seed(server, "arrivals", [f"What a {SUSPECT} idea"])
    page.add_init_script("window.rostraQueuePollMs = 250;")
    log_in(page, server, "maria", queue_url(first["story_id"]))
    assert page.locator(f"#c{first['id']}").is_visible()
    assert page.locator("#arrivals").count() == 0
    seed(server, "arrivals", [f"Another {SUSPECT} remark", f"And a third {SUSPECT} one"])
    notice = page.locator("#arrivals")
    notice.wait_for(timeout=10_000)
    page.wait_for_function(
        "() => /^2 new comments in this queue/.test(document.getElementById('arrivals')"
        ".textContent)", timeout=10_000)
    assert page.locator(".cards article").count() == 1  # nothing moved by itself
    notice.get_by_role("link", name="Show them").click()
    page.wait_for_function("() => document.querySelectorAll('.cards article').length === 3")
    assert page.errors == []


@pytest.fixture
def learning_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own with the quiet model, so the site model it trains stays there."""
    write_quiet_model(tmp_path / "models")
    with serving(live_server(tmp_path, tmp_path / "models")) as live:
        yield live


def test_learning_panel_trains_and_refuses_in_place(learning_server, page):
    server = learning_server
    ada = api_session(server, "ada")
    for comment, action in zip(
        seed(server, "learn", ["Calm words.", "Rude words.", "Kind words.", "Mean words."]),
        ["approve", "reject", "approve", "reject"],
        strict=True,
    ):
        response = ada.post(
            f"/api/v1/sites/{SITE}/moderation/comments/{comment['id']}/decision",
            json={"action": action, "version": comment["version"]},
        )
        assert response.status_code == 200, response.text
    log_in(page, server, "ada", f"/moderate/{SITE}/settings")
    panel = page.locator("#learning")
    summary, status = panel.locator(".adapt-summary"), panel.locator(".adapt-status")
    assert summary.inner_text() == "4 decisions so far. Active: the base engine"  # no waiting
    page.evaluate("window.stillThePageWeLoaded = true")

    def press(name: str) -> str:
        panel.get_by_role("button", name=name).click()
        page.wait_for_function(
            "el => !/^(|Working…)$/.test(el.textContent)", arg=status.element_handle()
        )
        return status.inner_text()

    trained = press("Train a new model (shadow)")
    assert trained.startswith("Model v1 was trained on 4 decisions and is in shadow")
    assert "It cannot be promoted: not enough recent decisions" in trained
    assert summary.inner_text() == "4 decisions so far. Active: the base engine; in shadow: v1"
    assert panel.locator("table.adapt-table tbody tr").count() == 2
    assert press("Promote the shadow model").startswith("Promotion refused: model v1 did not")
    assert "alert" in status.get_attribute("class")
    assert press("Roll back") == (
        "Nothing to roll back: no site model is active, the base engine decides."
    )
    assert page.evaluate("window.stillThePageWeLoaded") is True
    rows = audit_rows(page, server, "action=site.model.train")
    assert [(row["who"], row["action"]) for row in rows] == [("ada", "site.model.train")]
    assert page.errors == []
