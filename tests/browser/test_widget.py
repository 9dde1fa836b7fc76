"""The widget end to end: headless Chromium, a host page on one 127.0.0.1 port, Rostra on
another, exactly the snippet a publisher pastes.

The server scores with a "quiet" fast model (every score near zero) written by the fixture,
and the site's policy lists a suspect term, so which comment is held is deterministic.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import numpy as np
import pytest
from sqlalchemy import Engine
from tests.browser.conftest import LiveServer, free_port, serving

from rostra.actions.accounts import add_site_key, create_user, staff_for
from rostra.actions.moderation import ban_author, moderate
from rostra.actions.sites import create_site
from rostra.actions.stories import configure_story
from rostra.domain.accounts import KeyAlgorithm
from rostra.domain.comments import Role
from rostra.domain.labels import LABELS
from rostra.domain.moderation import ModerationAction
from rostra.domain.sites import Site
from rostra.moderation.fast import FastModel, save_fast_model
from rostra.moderation.policy import Policy
from rostra.storage import migrations
from rostra.storage.comments import CommentStore
from rostra.storage.database import make_engine, transaction
from rostra.storage.sites import SiteStore
from rostra.storage.stories import StoryStore
from rostra.web.embed.views import languages

pytestmark = pytest.mark.browser

SITE = "news"
SUSPECT = "flibbertigibbet"  # a made-up word the site's policy holds for review
STORY_PATH = "/2026/11/council-budget.html"
TITLE = "Council passes budget"


def write_quiet_model(out_dir: Path) -> None:
    """A valid fast-tier model whose scores are all ~0: only word lists can hold a comment."""
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


# --- the publisher's page, served from another origin --------------------------------------

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="canonical" href="{canonical}"><link rel="icon" href="data:,">
{extra_head}
</head><body>
<h1>{title}</h1><p>The council voted last night.</p>
<div id="rostra-comments"{container_attrs}></div>
<script src="{rostra}/embed.js" data-site="{site}" async></script>
</body></html>
"""


class HostSite:
    """A tiny static web server on its own port: the news site that embeds the widget."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = partial(_QuietHandler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def page(self, name: str, rostra: str, *, extra_head: str = "", container_attrs: str = "",
             path: str = STORY_PATH, title: str = TITLE) -> str:
        file = self.root / name
        canonical = self.origin + path
        file.write_text(HOST_PAGE.format(title=title, canonical=canonical, rostra=rostra,
                                         site=SITE, extra_head=extra_head,
                                         container_attrs=container_attrs), encoding="utf-8")
        return f"{self.origin}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def host_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostSite]:
    site = HostSite(tmp_path_factory.mktemp("host"))
    yield site
    site.close()


def sso_token(secret: str, name: str, sub: str | None = None) -> str:
    now = datetime.now(UTC)
    claims = {"sub": sub or name.lower(), "name": name, "email": f"{name.lower()}@example.org",
              "exp": int((now + timedelta(hours=1)).timestamp())}
    return jwt.encode(claims, secret, algorithm="HS256")


def prepare_rostra(tmp: Path, host_site: HostSite, **settings: str) -> LiveServer:
    """A ``rostra serve`` ready to start (with ``serving``) on a fresh database: site ``news``
    allows the host page's origin and holds comments with the suspect term;
    ``server.extra["secret"]`` signs SSO tokens, ``server.extra["staff"]`` is an admin.
    ``settings`` are ROSTRA_ environment variables. Built like ``start_server``."""
    write_quiet_model(tmp / "models")
    port = free_port()
    env = {
        **os.environ,
        "ROSTRA_DATABASE_URL": f"sqlite:///{tmp}/rostra.db",
        "ROSTRA_SECRET_KEY": "test-secret-key-for-browser-tests",
        "ROSTRA_DEV_MODE": "1",
        "ROSTRA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ROSTRA_RATE_LIMITS_ENABLED": "0",
        "ROSTRA_MODEL_DIR": str(tmp / "models"),
        "ROSTRA_MODERATION_TIER": "fast",
        **settings,
    }
    server = LiveServer(url=f"http://127.0.0.1:{port}", database_url=env["ROSTRA_DATABASE_URL"],
                        env=env, process=None, log_path=tmp / "server.log")  # type: ignore[arg-type]
    engine = make_engine(server.database_url)
    try:
        migrations.ensure_schema(engine)  # what `rostra db upgrade` does, without a process
        create_site(engine, SITE, "News", origins=[host_site.origin])
        _, server.extra["secret"] = add_site_key(engine, SITE, KeyAlgorithm.HS256)
        with transaction(engine) as conn:
            site = SiteStore.get_by_slug(conn, SITE)
            policy = Policy.from_dict(site.policy).to_dict()
            policy["suspect_terms"] = [SUSPECT]
            SiteStore.update(conn, site.id, policy=policy)
        ada = create_user(engine, "ada", Role.ADMIN, "correct horse battery staple")
        with engine.connect() as conn:
            server.extra["staff"] = staff_for(conn, ada)
    finally:
        engine.dispose()
    return server


@pytest.fixture(scope="module")
def rostra(host_site: HostSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live ``rostra serve`` for the module (starting one costs seconds; each test uses
    its own story)."""
    with serving(prepare_rostra(tmp_path_factory.mktemp("rostra"), host_site),
                 strict_stop=True) as server:
        yield server


@contextmanager
def database(server: LiveServer) -> Iterator[tuple[Engine, Site]]:
    """The server's database and site ``news``, for what a moderator would do meanwhile."""
    engine = make_engine(server.database_url)
    try:
        with engine.connect() as conn:
            yield engine, SiteStore.get_by_slug(conn, SITE)
    finally:
        engine.dispose()


# --- helpers --------------------------------------------------------------------------------


def widget(page: object) -> object:
    """The widget's root inside its shadow DOM (Playwright's CSS selectors pierce it)."""
    return page.locator("#rostra-comments .r")


def load(page: object, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#rostra-comments .head h2")


def post(page: object, text: str) -> None:
    page.locator("#rostra-comments form.compose textarea").first.fill(text)
    page.locator("#rostra-comments form.compose button[type=submit]").first.click()


def post_as_guest(server: LiveServer, host: HostSite, path: str, body: str, name: str,
                  **fields: object) -> dict:
    response = httpx.post(f"{server.url}/api/v1/sites/{SITE}/comments", json={
        "body": body, "url": host.origin + path, "title": TITLE, "name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def active_id(page: object) -> str | None:
    """The id of the element focused inside the widget's shadow root."""
    return page.evaluate(
        "() => { const r = document.getElementById('rostra-comments').shadowRoot;"
        " return r.activeElement && r.activeElement.id; }"
    )


def thread_texts(server: LiveServer, url: str, token: str | None = None) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    page = httpx.get(f"{server.url}/api/v1/sites/{SITE}/thread", params={"url": url},
                     headers=headers).json()
    return [c["html"] for c in page["comments"]]


# --- tests ----------------------------------------------------------------------------------


def test_sso_reader_posts_and_sees_the_comment(rostra, host_site, page) -> None:
    token = sso_token(rostra.extra["secret"], "Alice Adams")
    url = host_site.page("sso.html", rostra.url, path="/sso-story",
                         container_attrs=f' data-sso-token="{token}"')
    load(page, url)
    w = widget(page)
    assert "No comments yet" in w.inner_text()
    assert "Commenting as Alice Adams" in w.inner_text()
    post(page, "The **bus cuts** hit night workers hardest.")
    mine = page.locator("#rostra-comments article").first
    mine.wait_for()
    assert mine.locator(".text strong").inner_text() == "bus cuts"
    assert "Alice Adams" in mine.inner_text()
    assert "Your comment is published." in w.inner_text()
    assert active_id(page) == mine.get_attribute("id")  # focus moved to the new comment
    # The story is the page's canonical URL, titled with the page title.
    assert thread_texts(rostra, host_site.origin + "/sso-story") == [
        "<p>The <strong>bus cuts</strong> hit night workers hardest.</p>"]
    page.reload()
    page.wait_for_selector("#rostra-comments article")
    assert "bus cuts" in widget(page).inner_text()
    assert page.errors == []


def test_held_comment_is_marked_for_its_author_and_absent_for_others(
    rostra, host_site, page, browser
) -> None:
    url = host_site.page("held.html", rostra.url, path="/held-story")
    post_as_guest(rostra, host_site, "/held-story", "A calm first comment.", "Bob")
    load(page, url)
    page.locator("#rostra-comments input[name=name]").fill("Tess")
    post(page, f"You are a {SUSPECT} and everyone knows it.")
    held = page.locator("#rostra-comments article.pending")
    held.wait_for()
    assert "Awaiting moderation" in held.text_content()
    assert "awaiting moderation" in widget(page).locator("form.compose .msg").inner_text()
    page.reload()  # the guest's reader token was kept: the author still sees it, marked
    page.locator("#rostra-comments article.pending").wait_for()
    assert "Commenting as Tess" in widget(page).inner_text()

    other = browser.new_context()
    try:
        stranger = other.new_page()
        load(stranger, url)
        text = widget(stranger).inner_text()
        assert "A calm first comment." in text
        assert SUSPECT not in text and "Awaiting moderation" not in text
    finally:
        other.close()
    shown = thread_texts(rostra, host_site.origin + "/held-story")
    assert shown == ["<p>A calm first comment.</p>"]


def test_published_comment_arrives_live_in_another_browser(
    rostra, host_site, page, browser
) -> None:
    url = host_site.page("live.html", rostra.url, path="/live-story")
    post_as_guest(rostra, host_site, "/live-story", "First!", "Early Bird")
    load(page, url)
    watcher_context = browser.new_context()
    try:
        watcher = watcher_context.new_page()
        streams: list[str] = []
        watcher.on("request", lambda r: streams.append(r.url) if "/events" in r.url else None)
        load(watcher, url)
        watcher.wait_for_timeout(300)  # let its event stream connect
        page.locator("#rostra-comments input[name=name]").fill("Carol")
        post(page, "Has anyone read the appendix on ridership?")
        page.locator("#rostra-comments article:has-text('appendix')").wait_for()
        button = watcher.locator("#rostra-comments button.new")
        button.wait_for(state="visible", timeout=10_000)
        assert button.inner_text() == "1 new comment"
        assert "appendix" not in widget(watcher).inner_text()  # nothing moved by itself
        button.click()
        arrived = watcher.locator("#rostra-comments article:has-text('appendix')")
        arrived.wait_for()
        assert "Carol" in arrived.inner_text()
        assert active_id(watcher) == arrived.get_attribute("id")
        assert button.is_hidden()
        assert len(streams) == 1  # one stream served both comments
    finally:
        watcher_context.close()


PAYLOADS = [
    "<script>alert('script')</script>",
    '<img src=x onerror="alert(\'img\')">',
    '<svg onload="alert(\'svg\')"></svg>',
    "[click me](javascript:alert('link'))",
    '"><iframe src="javascript:alert(\'frame\')"></iframe>',
    "<a href=\"#\" onclick=\"alert('a')\">x</a> `<b onmouseover=alert('code')>`",
]


def test_script_payloads_render_as_text_and_run_nothing(rostra, host_site, page) -> None:
    body = "\n\n".join(PAYLOADS)
    post_as_guest(rostra, host_site, "/xss-story", body, "<img src=x onerror=alert('name')>")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    load(page, host_site.page("xss.html", rostra.url, path="/xss-story"))
    comment = page.locator("#rostra-comments article").first
    comment.wait_for()
    text = comment.inner_text()
    for fragment in ("<script>alert('script')</script>", "onerror=\"alert('img')\"",
                     "<svg onload", "<iframe src", "<img src=x onerror=alert('name')>"):
        assert fragment in text
    for tag in ("script", "img", "svg", "iframe"):
        assert comment.locator(tag).count() == 0
    assert page.evaluate("""() => [...document.getElementById('rostra-comments').shadowRoot
        .querySelectorAll('.text *')].flatMap(e => [...e.attributes].map(a => a.name))
        .filter(n => n.startsWith('on'))""") == []
    hrefs = comment.locator(".text a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert all(h is None or not h.lower().startswith("javascript") for h in hrefs)
    comment.hover()
    comment.locator(".text").click()
    page.wait_for_timeout(200)
    assert dialogs == []
    assert page.errors == []


HOSTILE_CSS = """<style>
* { color: red !important; font-family: "Comic Sans MS", cursive !important;
    font-size: 31px !important; line-height: 4 !important; letter-spacing: 3px !important; }
div, section, article, button, textarea, form, p, span, h2 { display: none !important; }
#rostra-comments { display: none !important; visibility: hidden !important; opacity: 0 !important;
    transform: scale(0.1) !important; }
body { text-transform: uppercase; text-align: right; }
</style>"""


def _look(page: object) -> dict:
    return page.evaluate("""() => {
        const r = document.getElementById('rostra-comments');
        const root = r.shadowRoot;
        const pick = sel => { const e = root.querySelector(sel); const s = getComputedStyle(e);
            const b = e.getBoundingClientRect();
            return [s.display, s.color, s.fontFamily, s.fontSize, s.lineHeight, s.letterSpacing,
                    s.textTransform, s.textAlign, s.visibility, Math.round(b.width),
                    Math.round(b.height)]; };
        return {host: [getComputedStyle(r).display, getComputedStyle(r).visibility,
                       getComputedStyle(r).opacity, r.getBoundingClientRect().height > 100],
                heading: pick('.head h2'), text: pick('article .text p'),
                button: pick('form.compose button[type=submit]'), box: pick('textarea'),
                name: pick('article .name')};
    }""")


def test_hostile_host_stylesheet_does_not_change_the_widget(rostra, host_site, page) -> None:
    post_as_guest(rostra, host_site, "/css-story", "Styled as it should be.", "Dana")
    load(page, host_site.page("plain.html", rostra.url, path="/css-story"))
    page.locator("#rostra-comments article").wait_for()
    plain = _look(page)
    load(page, host_site.page("hostile.html", rostra.url, path="/css-story",
                              extra_head=HOSTILE_CSS))
    page.locator("#rostra-comments article").wait_for()
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).color") == "rgb(255, 0, 0)"
    assert _look(page) == plain
    assert plain["host"] == ["block", "visible", "1", True]


def test_keyboard_only_posting(rostra, host_site, page) -> None:
    load(page, host_site.page("keys.html", rostra.url, path="/keys-story"))

    def tab_to(selector: str, limit: int = 25) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(
                "(sel) => { const r = document.getElementById('rostra-comments').shadowRoot;"
                " return !!r.activeElement && r.activeElement.matches(sel); }", selector
            ):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("input[name=name]")
    page.keyboard.type("Eve Keys")
    tab_to("textarea")
    page.keyboard.type("Posted without touching the mouse.")
    page.keyboard.press("Control+Enter")
    mine = page.locator("#rostra-comments article:has-text('without touching')")
    mine.wait_for()
    assert active_id(page) == mine.get_attribute("id")
    # Reply with the keyboard too: Tab to the comment's Reply button, Enter, type, submit.
    tab_to("article .tools button:nth-of-type(2)")
    page.keyboard.press("Enter")
    page.keyboard.type("And a reply, also by keyboard.")
    page.keyboard.press("Control+Enter")
    reply = page.locator("#rostra-comments .replies article:has-text('also by keyboard')")
    reply.wait_for()
    assert active_id(page) == reply.get_attribute("id")
    assert page.errors == []


def test_reader_previews_likes_reports_edits_and_deletes(rostra, host_site, page) -> None:
    post_as_guest(rostra, host_site, "/tools-story", "The levy is long overdue.", "Bob")
    load(page, host_site.page("tools.html", rostra.url, path="/tools-story"))
    # The host page signs its reader in from JS, with a token that has already expired, and
    # hands over a fresh one when the widget asks.
    secret = rostra.extra["secret"]
    expired = jwt.encode({"sub": "zoe", "name": "Zoe Ng", "email": "zoe@example.org",
                          "exp": int(time.time()) - 3600}, secret, algorithm="HS256")
    page.evaluate("([old, fresh]) => { Rostra.onTokenExpired(() => fresh); Rostra.setToken(old); }",
                  [expired, sso_token(secret, "Zoe Ng", sub="zoe")])
    page.locator("#rostra-comments .who:has-text('Zoe Ng')").wait_for()
    w = widget(page)

    box = w.locator("form.compose textarea").first
    box.fill("**bold** <b>raw</b> and [a link](https://example.org)")
    w.locator("form.compose [role=tab]:has-text('Preview')").click()
    preview = w.locator("form.compose .preview")
    assert preview.locator("strong").inner_text() == "bold"
    assert "<b>raw</b>" in preview.inner_text() and preview.locator("b").count() == 0
    assert preview.locator("a").get_attribute("href") == "https://example.org"
    w.locator("form.compose [role=tab]:has-text('Write')").click()
    box.fill("x" * 10_001)
    w.locator("form.compose button[type=submit]").click()
    assert "too long" in w.locator("form.compose .msg").inner_text()

    bobs = w.locator("article:has-text('long overdue')")
    like = bobs.locator(".tools button[aria-pressed]")
    like.click()
    page.wait_for_function("() => document.getElementById('rostra-comments').shadowRoot"
                           ".querySelector('.tools button[aria-pressed=\"true\"]')")
    assert like.inner_text().endswith("1")
    bobs.locator(".tools button:has-text('Report')").click()
    bobs.locator("input[value=spam]").check()
    bobs.locator("button:has-text('Send report')").click()
    bobs.locator("text=Moderators will review this comment").wait_for()

    post(page, "Frist thoughts")
    mine = w.locator("article:has-text('Frist thoughts')")
    mine.wait_for()
    mine.locator(".tools button:has-text('Edit')").click()
    editor = mine.locator(".slot textarea")
    assert editor.input_value() == "Frist thoughts"
    editor.fill("First thoughts")
    mine.locator(".slot button:has-text('Save')").click()
    edited = w.locator("article:has-text('First thoughts')")
    edited.locator("text=edited").wait_for()
    edited.locator(".tools button:has-text('Delete')").click()
    edited.locator(".panel button:has-text('Delete')").click()
    w.locator("article:has-text('First thoughts')").wait_for(state="detached")
    assert thread_texts(rostra, host_site.origin + "/tools-story") == [
        "<p>The levy is long overdue.</p>"]
    # Chromium logs the refused expired token (once); nothing else went wrong.
    assert [e for e in page.errors if "401" not in e] == []


def test_load_more_and_the_count_snippet(rostra, host_site, page) -> None:
    for i in range(22):
        post_as_guest(rostra, host_site, "/long-story", f"Comment number {i}.", f"Reader {i}")
    load(page, host_site.page("long.html", rostra.url, path="/long-story"))
    w = widget(page)
    assert w.locator(".feed > article").count() == 20  # the server's page size
    more = w.locator("button.more")
    more.click()
    w.locator("article:has-text('Comment number 21.')").wait_for()
    assert w.locator(".feed > article").count() == 22 and more.is_hidden()
    assert active_id(page) == w.locator(".feed > article").nth(20).get_attribute("id")
    assert "(22)" in w.locator(".head h2").inner_text()

    listing = host_site.root / "list.html"
    listing.write_text(f"""<!doctype html><html lang="en"><head><link rel="icon" href="data:,">
        </head><body><ul>
        <li><a href="/long-story" data-rostra-count="append">Long story</a></li>
        <li><span id="n" data-rostra-count data-url="{host_site.origin}/long-story"></span></li>
        <li><a href="/quiet-story" data-rostra-count>Quiet story</a></li></ul>
        <script src="{rostra.url}/count.js" data-site="{SITE}" async></script></body></html>""")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/counts" in r.url else None)
    page.goto(f"{host_site.origin}/list.html")
    page.wait_for_selector("[data-count]")
    page.wait_for_function("document.querySelectorAll('[data-count]').length === 3")
    assert page.locator("a[href='/long-story']").inner_text() == "Long story (22 comments)"
    assert page.locator("#n").inner_text() == "22 comments"
    assert page.locator("a[href='/quiet-story']").inner_text() == "No comments yet"
    assert len(requests) == 1  # every count on the page in one request
    assert page.errors == []


def test_first_render_is_one_request_and_the_live_stream_follows_it(
    rostra, host_site, page
) -> None:
    for i in range(3):
        post_as_guest(rostra, host_site, "/one-request", f"Early comment {i}.", f"Reader {i}")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/" in r.url else None)
    load(page, host_site.page("one.html", rostra.url, path="/one-request"))
    page.wait_for_function("performance.getEntriesByName('rostra-painted').length > 0")
    for _ in range(50):
        if any("/events" in url for url in asked):
            break
        page.wait_for_timeout(100)
    paths = [url.split("/sites/news", 1)[1].split("?", 1)[0] for url in asked]
    assert paths[0] == "/widget" and "url=" in asked[0]  # settings, strings and the thread
    assert "/thread" not in paths and paths.count("/widget") == 1
    assert paths[1:] == [f"/stories/{paths[1].split('/')[2]}/events"]
    w = widget(page)
    assert w.locator(".feed > article").count() == 3
    first = w.locator(".feed > article time").first
    assert first.inner_text() == "just now" and first.get_attribute("title") is None
    first.hover()
    assert str(datetime.now(UTC).year) in first.get_attribute("title")  # the full date
    assert page.errors == []


def test_signed_in_reader_opts_in_to_reply_emails(rostra, host_site, page) -> None:
    token = sso_token(rostra.extra["secret"], "Nora Quinn")
    url = host_site.page("notify.html", rostra.url, path="/notify-story",
                         container_attrs=f' data-sso-token="{token}"')
    load(page, url)
    box = page.locator("#rostra-comments form.compose label.notify input[type=checkbox]")
    assert page.locator("#rostra-comments label.notify").inner_text().strip() == (
        "Email me replies")
    page.wait_for_function(
        "() => !document.getElementById('rostra-comments').shadowRoot"
        ".querySelector('label.notify input').disabled")
    assert not box.is_checked()
    box.focus()
    page.keyboard.press("Space")  # keyboard-operable like any checkbox
    page.wait_for_function(
        "() => !document.getElementById('rostra-comments').shadowRoot"
        ".querySelector('label.notify input').disabled")
    api = f"{rostra.url}/api/v1/sites/{SITE}/notifications"
    assert httpx.get(api, headers={"Authorization": f"Bearer {token}"}).json() == {
        "replies": True}
    page.reload()
    page.wait_for_function(
        "() => { const i = document.getElementById('rostra-comments').shadowRoot"
        ".querySelector('label.notify input'); return i && !i.disabled && i.checked; }")
    guest = host_site.page("notify-guest.html", rostra.url, path="/notify-story")
    load(page, guest)  # a reader who is not signed in gets no box
    assert page.locator("#rostra-comments label.notify").count() == 0
    assert page.errors == []


# --- the reader's own comment, the live stream and refusals ----------------------------------

# Records what every EventSource of the page receives, before the widget's own listeners run.
EVENT_SPY = """(() => {
    const Native = window.EventSource;
    window.rostraSeen = [];
    window.EventSource = class extends Native {
        constructor(url, init) {
            super(url, init);
            this.addEventListener("open", () => window.rostraSeen.push("open"));
            this.addEventListener("comment", e => window.rostraSeen.push(e.data));
        }
    };
})();"""


def test_own_comment_arriving_live_before_the_post_answers_is_shown_once(
    rostra, host_site, page
) -> None:
    post_as_guest(rostra, host_site, "/race-story", "Already here.", "Bob")
    page.add_init_script(EVENT_SPY)
    held: list[tuple[object, object]] = []

    def hold_post(route: object) -> None:  # the server answers; the widget hears it later
        if route.request.method == "POST":
            held.append((route, route.fetch()))
        else:
            route.fallback()

    page.route(f"{rostra.url}/api/v1/sites/{SITE}/comments", hold_post)
    load(page, host_site.page("race.html", rostra.url, path="/race-story"))
    page.wait_for_function("window.rostraSeen.includes('open')")
    page.locator("#rostra-comments input[name=name]").fill("Rita")
    post(page, "My own words, heard twice?")
    page.wait_for_function("window.rostraSeen.some(d => d.includes('heard twice'))")
    assert len(held) == 1
    route, response = held[0]
    route.fulfill(response=response)
    w = widget(page)
    mine = w.locator("article:has-text('heard twice')")
    mine.wait_for()
    assert "Your comment is published." in w.locator("form.compose .msg").inner_text()
    page.wait_for_timeout(100)  # any stray live insertion would land by now
    assert mine.count() == 1
    assert w.locator("button.new").is_hidden()
    assert w.locator(".head h2").inner_text().endswith("(2)")
    assert page.errors == []


def string(key: str, **values: object) -> str:
    """The English string table's entry, filled in as the widget fills it."""
    entry = languages()["en"][key]
    if isinstance(entry, dict):
        entry = entry["one"] if values.get("n") == 1 else entry["other"]
    for name, value in values.items():
        entry = entry.replace("{" + name + "}", str(value))
    return entry


def composer_message(page: object) -> str:
    return widget(page).locator("form.compose .msg").first.inner_text()


def test_server_refusals_read_as_the_string_table_says(rostra, host_site, page, browser) -> None:
    post_as_guest(rostra, host_site, "/refused-story", "Open for now.", "Bob")
    url = host_site.page("refused.html", rostra.url, path="/refused-story",
                         container_attrs=' data-sso-token="{}"'.format(
                             sso_token(rostra.extra["secret"], "Bea Black")))

    def stale_config(route: object) -> None:  # a page loaded before the limit was lowered
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "max_comment_chars": 20_000})

    page.route(f"{rostra.url}/api/v1/sites/{SITE}/widget?*", stale_config)
    load(page, url)
    post(page, "x" * 10_001)  # the widget lets it go; the server refuses it
    page.wait_for_function("() => document.getElementById('rostra-comments').shadowRoot"
                           ".querySelector('form.compose .msg').textContent !== ''")
    assert composer_message(page) == string("err_too_long", max=10_000)

    post(page, "Before the ban.")
    mine = widget(page).locator("article:has-text('Before the ban.')")
    mine.wait_for()
    with database(rostra) as (engine, site), engine.connect() as conn:
        comment = CommentStore.get(conn, int(mine.get_attribute("data-id")))
        ban_author(engine, site=site, staff=rostra.extra["staff"], author_id=comment.author_id,
                   days=None)
    post(page, "After the ban.")
    widget(page).locator(f"form.compose .msg:text-is('{string('err_banned')}')").wait_for()

    guest_context = browser.new_context()
    try:
        guest = guest_context.new_page()
        load(guest, host_site.page("refused-guest.html", rostra.url, path="/refused-story"))
        with database(rostra) as (engine, site):
            configure_story(engine, site=site, staff=rostra.extra["staff"],
                            story_id=comment.story_id, closed=True)
        guest.locator("#rostra-comments input[name=name]").fill("Gil")
        post(guest, "Closed while I was typing?")
        widget(guest).locator(f"form.compose .msg:text-is('{string('err_closed')}')").wait_for()
    finally:
        guest_context.close()
    # Chromium logs the two refused requests (400, 403); nothing else went wrong.
    assert [e for e in page.errors if "status of 40" not in e] == []


def test_rate_limited_post_says_how_long_to_wait(host_site, page, tmp_path) -> None:
    limited = prepare_rostra(tmp_path, host_site, ROSTRA_RATE_LIMITS_ENABLED="1",
                             ROSTRA_RATE_LIMIT_POSTS_PER_MINUTE="1")
    with serving(limited):
        load(page, host_site.page("limited.html", limited.url, path="/limited-story"))
        page.locator("#rostra-comments input[name=name]").fill("Hasty Hal")
        post(page, "One comment a minute is plenty.")
        widget(page).locator("article:has-text('plenty')").wait_for()
        with page.expect_response(lambda r: r.request.method == "POST") as refused:
            post(page, "And another one right away.")
        assert refused.value.status == 429
        wait = max(1, refused.value.json()["retry_after"])
        expected = string("err_rate", wait=string("seconds", n=wait))
        widget(page).locator(f"form.compose .msg:text-is('{expected}')").wait_for()


def test_live_comments_arrive_again_after_the_stream_drops(host_site, page, tmp_path) -> None:
    server = prepare_rostra(tmp_path, host_site)
    page.add_init_script(EVENT_SPY)
    opened = "n => window.rostraSeen.filter(x => x === 'open').length >= n"
    with serving(server):
        post_as_guest(server, host_site, "/restart-story", "Before the restart.", "Bob")
        load(page, host_site.page("restart.html", server.url, path="/restart-story"))
        page.wait_for_function(opened, arg=1)
    # The server is gone and its stream with it. When it is back, the first reconnection
    # meets an error page (as from a proxy while the app starts), which makes the browser
    # give up: the widget must open a new stream itself.
    refused: list[str] = []

    def error_page_once(route: object) -> None:
        if refused:
            route.fallback()
        else:
            refused.append(route.request.url)
            route.fulfill(status=503, body="starting up")

    page.route(f"{server.url}/api/v1/sites/{SITE}/stories/*/events*", error_page_once)
    with serving(server):
        page.wait_for_function(opened, arg=2, timeout=20_000)
        assert refused
        post_as_guest(server, host_site, "/restart-story", "After the restart.", "Cleo")
        button = widget(page).locator("button.new")
        button.wait_for(state="visible", timeout=10_000)
        assert button.inner_text() == "1 new comment"
        button.click()
        widget(page).locator("article:has-text('After the restart.')").wait_for()
    assert widget(page).locator(".feed > article").count() == 2


# --- reading --------------------------------------------------------------------------------


def feed_order(page: object) -> list[str]:
    return widget(page).locator(".feed > article > .card .text").all_inner_texts()


def test_reading_nested_replies_collapsing_sorting_and_the_featured_pick(
    rostra, host_site, page
) -> None:
    path = "/reading-story"
    ann = post_as_guest(rostra, host_site, path, "Oldest root.", "Ann")
    ben = post_as_guest(rostra, host_site, path, "Most liked root.", "Ben")
    cy = post_as_guest(rostra, host_site, path, "Newest root.", "Cy")
    first = post_as_guest(rostra, host_site, path, "A reply.", "Ben", parent_id=ann["id"])
    post_as_guest(rostra, host_site, path, "A reply to the reply.", "Cy", parent_id=first["id"])
    for liker, liked in ((ann, ben), (cy, ben), (ann, cy)):
        httpx.post(f"{rostra.url}/api/v1/sites/{SITE}/comments/{liked['id']}/reactions",
                   headers={"Authorization": f"Bearer {liker['reader_token']}"}).raise_for_status()
    with database(rostra) as (engine, site), engine.connect() as conn:
        version = CommentStore.get(conn, cy["id"]).version
        moderate(engine, site=site, staff=rostra.extra["staff"], comment_id=cy["id"],
                 action=ModerationAction.FEATURE, version=version)
    load(page, host_site.page("reading.html", rostra.url, path=path))
    w = widget(page)

    # The editors' pick comes first, above the thread, which keeps its own order.
    picks = w.locator("section.feat")
    assert picks.locator("h3").text_content() == string("featured")
    assert picks.locator("article .text").all_inner_texts() == ["Newest root."]
    assert w.locator("section.feat + .feed").count() == 1
    assert feed_order(page) == ["Oldest root.", "Most liked root.", "Newest root."]

    # Two levels of replies under the oldest comment.
    oldest = w.locator(f".feed > article[data-id='{ann['id']}']")
    nested = oldest.locator(":scope > .replies > article > .replies > article .text")
    assert nested.inner_text() == "A reply to the reply."
    collapse = oldest.locator(":scope > .card .tools button.collapse")
    assert collapse.inner_text() == string("hide_replies", n=1)
    collapse.click()
    assert oldest.locator(":scope > .replies").is_hidden()
    assert collapse.get_attribute("aria-expanded") == "false"
    assert collapse.inner_text() == string("show_replies", n=1)
    collapse.click()
    assert nested.is_visible() and collapse.get_attribute("aria-expanded") == "true"

    for sort, order in (("newest", ["Newest root.", "Most liked root.", "Oldest root."]),
                        ("reacted", ["Most liked root.", "Newest root.", "Oldest root."]),
                        ("oldest", ["Oldest root.", "Most liked root.", "Newest root."])):
        w.locator("select#rostra-sort").select_option(sort)
        page.wait_for_function(
            "first => document.getElementById('rostra-comments').shadowRoot"
            ".querySelector('.feed > article .text').textContent === first", arg=order[0])
        assert feed_order(page) == order, sort
    assert page.errors == []


def test_show_more_replies_brings_the_rest_of_a_long_subthread(rostra, host_site, page) -> None:
    path = "/busy-subthread"
    root = post_as_guest(rostra, host_site, path, "Start of a long argument.", "Ann")
    with httpx.Client(base_url=f"{rostra.url}/api/v1/sites/{SITE}") as client:
        for i in range(101):  # one more than a page of the thread carries under a comment
            client.post("/comments", json={"body": f"Reply number {i}.", "name": "Ben",
                                           "story_id": root["story_id"],
                                           "parent_id": root["id"]}).raise_for_status()
    load(page, host_site.page("busy.html", rostra.url, path=path))
    top = widget(page).locator(f".feed > article[data-id='{root['id']}']")
    replies = top.locator(":scope > .replies > article")
    assert replies.count() == 100
    more = top.locator(":scope > button.toggle")
    assert more.inner_text() == string("more_replies")
    more.click()
    top.locator("article:has-text('Reply number 100.')").wait_for()
    assert replies.count() == 101 and more.count() == 0
    assert page.errors == []


def story_at(server: LiveServer, url: str) -> tuple[str, str] | None:
    """The (url, title) of the server's story at ``url``, if there is one."""
    with database(server) as (engine, site), engine.connect() as conn:
        story = StoryStore.find(conn, site.id, url)
    return None if story is None else (story.url, story.title)


def test_story_is_the_canonical_url_titled_like_the_page_unless_the_snippet_says(
    rostra, host_site, page
) -> None:
    page_url = host_site.page("named.html", rostra.url, path="/2026/named-story",
                              title="Tram line reopens")
    load(page, page_url + "?utm_source=newsletter#top")
    page.locator("#rostra-comments input[name=name]").fill("Ida")
    post(page, "Good news for the east side.")
    widget(page).locator("article:has-text('east side')").wait_for()
    canonical = host_site.origin + "/2026/named-story"
    assert story_at(rostra, canonical) == (canonical, "Tram line reopens")
    assert story_at(rostra, page_url) is None

    elsewhere = host_site.origin + "/2026/the-real-story"
    load(page, host_site.page("override.html", rostra.url, path="/2026/named-story",
                              container_attrs=f' data-url="{elsewhere}"'
                                              ' data-title="Tram line reopens, finally"'))
    assert widget(page).locator(".feed > article").count() == 0  # another story's thread
    post(page, "Said on the other story.")
    widget(page).locator("article:has-text('other story')").wait_for()
    assert story_at(rostra, elsewhere) == (elsewhere, "Tram line reopens, finally")
    assert page.errors == []


# --- accessibility and languages ------------------------------------------------------------


def test_feed_form_and_status_region_have_their_roles_and_names(rostra, host_site, page) -> None:
    post_as_guest(rostra, host_site, "/a11y-story", "Readable by everyone.", "Bob")
    load(page, host_site.page("a11y.html", rostra.url, path="/a11y-story"))
    host = page.locator("#rostra-comments")
    feed = host.get_by_role("feed", name=string("comments") + " (1)", exact=True)
    bobs = feed.get_by_role("article", name="Bob")
    assert bobs.get_by_role("button", name=string("like"), exact=True).count() == 1  # 0 likes
    assert bobs.get_by_role("group").count() == 0  # no replies, no empty group
    form = host.get_by_role("form", name=string("your_comment"))
    assert form.get_by_role("textbox", name=string("your_comment")).count() == 1
    assert form.get_by_role("textbox", name=string("guest_name")).count() == 1
    assert form.get_by_role("textbox", name=string("guest_email")).count() == 1
    assert form.get_by_role("textbox", name=string("guest_website")).count() == 0  # the trap
    assert form.get_by_role("tablist").get_by_role("tab", selected=True).inner_text() == (
        string("write"))
    assert host.get_by_role("combobox", name=string("sort")).count() == 1
    status = host.get_by_role("status").first
    assert status.get_attribute("aria-live") == "polite"
    form.get_by_role("textbox", name=string("guest_name")).fill("Una")
    form.get_by_role("textbox", name=string("your_comment")).fill("Heard, too.")
    form.get_by_role("button", name=string("post")).click()
    page.wait_for_function(
        "text => document.getElementById('rostra-comments').shadowRoot"
        ".querySelector('[role=status]').textContent === text", arg=string("published"))
    feed = host.get_by_role("feed", name=string("comments") + " (2)", exact=True)
    assert feed.get_by_role("article", name="Una").count() == 1
    assert page.errors == []


LOOK = """() => { const root = document.getElementById('rostra-comments').shadowRoot;
    const r = getComputedStyle(root.querySelector('.r'));
    const art = root.querySelector('.feed > article'), feed = root.querySelector('.feed');
    art.classList.add('flash'); feed.classList.add('busy');
    const look = {bg: r.backgroundColor, fg: r.color,
                  animation: getComputedStyle(art).animationName,
                  transition: getComputedStyle(feed).transitionDuration};
    art.classList.remove('flash'); feed.classList.remove('busy');
    return look; }"""


def test_dark_scheme_and_reduced_motion_follow_the_reader(rostra, host_site, page) -> None:
    post_as_guest(rostra, host_site, "/dark-story", "Easy on the eyes.", "Bob")
    load(page, host_site.page("dark.html", rostra.url, path="/dark-story"))
    page.locator("#rostra-comments article").wait_for()
    assert page.evaluate(LOOK) == {"bg": "rgb(255, 255, 255)", "fg": "rgb(28, 28, 30)",
                                   "animation": "flash", "transition": "0.2s"}
    page.emulate_media(color_scheme="dark", reduced_motion="reduce")
    assert page.evaluate(LOOK) == {"bg": "rgb(22, 22, 24)", "fg": "rgb(236, 236, 239)",
                                   "animation": "none", "transition": "0s"}


def test_german_page_gets_german_strings_from_the_first_word(rostra, host_site, page) -> None:
    german = languages()["de"]
    waiting: list[object] = []
    page.route(f"{rostra.url}/api/v1/sites/{SITE}/widget?*", lambda route: waiting.append(route))
    page.goto(host_site.page("de.html", rostra.url, path="/de-story",
                             container_attrs=' data-lang="de"'))
    loading = widget(page).locator("p.empty")
    loading.wait_for()
    assert loading.inner_text() == german["loading"]
    while not waiting:
        page.wait_for_timeout(50)
    waiting[0].continue_()
    w = widget(page)
    w.locator(".head h2").wait_for()
    assert w.get_attribute("lang") == "de"
    assert w.locator(".head h2").inner_text() == german["comments"]
    assert w.locator(".empty").inner_text() == german["empty"]
    assert w.locator("form.compose button[type=submit]").inner_text() == german["post"]
    assert w.locator("label.trap").text_content() == german["guest_website"]
    assert w.locator("textarea").get_attribute("aria-label") == german["your_comment"]
    assert page.errors == []


def test_publisher_hides_the_widget_with_the_hidden_attribute(rostra, host_site, page) -> None:
    page.goto(host_site.page("hidden.html", rostra.url, path="/hidden-story",
                             container_attrs=" hidden", extra_head=HOSTILE_CSS))
    page.wait_for_selector("#rostra-comments .head h2", state="attached")
    box = page.locator("#rostra-comments")
    assert box.is_hidden() and widget(page).is_hidden()
    box.evaluate("e => e.hidden = false")  # e.g. behind a "Show comments" button
    widget(page).wait_for(state="visible")
    assert box.evaluate("e => e.getBoundingClientRect().height") > 100  # the hostile CSS lost
    box.evaluate("e => e.hidden = true")
    widget(page).wait_for(state="hidden")
    assert page.errors == []
