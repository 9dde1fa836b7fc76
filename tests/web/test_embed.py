"""The widget's assets, its per-site configuration and the /demo article, through TestClient."""

from __future__ import annotations

import gzip
import json
import re

from tests.factories import make_site
from tests.web.conftest import URL, post

from rostra.web.embed.views import STATIC, embed_js, languages

EMBED_JS_BUDGET = 30 * 1024  # embed.js (with its CSS inlined), gzipped


def test_embed_js_inlines_css_and_english_strings(client):
    response = client.get("/embed.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "__ROSTRA_" not in response.text
    assert ":host" in response.text and "Post comment" in response.text


def test_assets_are_gzipped_cached_and_revalidated(client):
    response = client.get("/embed.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "max-age" in response.headers["cache-control"]
    etag = response.headers["etag"]
    again = client.get("/embed.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    plain = client.get("/embed.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_widget_script_and_css_stay_under_30_kb_gzipped():
    assert len(embed_js().gzipped) < EMBED_JS_BUDGET


def test_embed_css_and_count_js_are_served(client):
    css = client.get("/embed.css")
    assert css.headers["content-type"].startswith("text/css") and ":host" in css.text
    count = client.get("/count.js")
    assert count.status_code == 200 and "__ROSTRA_" not in count.text
    assert '"de"' in count.text and "{n} comments" in count.text


def test_every_language_table_has_exactly_the_english_keys():
    english = json.loads((STATIC / "i18n" / "en.json").read_text(encoding="utf-8"))
    for path in (STATIC / "i18n").glob("*.json"):
        table = json.loads(path.read_text(encoding="utf-8"))
        assert table.keys() == english.keys(), path.name


def test_embed_js_says_loading_in_every_language_before_the_config_arrives():
    source = embed_js().body.decode("utf-8")
    for table in languages().values():
        assert json.dumps(table["loading"], ensure_ascii=False) in source


def test_every_string_the_widget_uses_is_in_the_english_table():
    source = (STATIC / "embed.js").read_text(encoding="utf-8")
    used = set(re.findall(r'\.s\("([a-z_]+)"[,)]', source))
    used |= {f"sort_{k}" for k in ("oldest", "newest", "reacted")}
    used |= {f"reason_{k}" for k in ("abuse", "spam", "off_topic", "other")}
    assert used and used <= languages()["en"].keys()


def test_widget_config_gives_the_site_settings_and_strings(client, site):
    data = client.get("/api/v1/sites/news/widget").json()
    assert data["language"] == "en" and data["strings"]["post"] == "Post comment"
    assert data["guests_allowed"] is True
    assert data["edit_window_seconds"] == 15 * 60
    assert data["max_comment_chars"] == 10_000
    assert data["report_reasons"] == ["abuse", "spam", "off_topic", "other"]


def test_widget_config_language_from_site_or_page(client, db):
    make_site(db, "zeitung", language="de")
    assert client.get("/api/v1/sites/zeitung/widget").json()["strings"]["reply"] == "Antworten"
    page_choice = client.get("/api/v1/sites/zeitung/widget?lang=en-GB").json()
    assert page_choice["language"] == "en" and page_choice["strings"]["reply"] == "Reply"
    assert client.get("/api/v1/sites/zeitung/widget?lang=xx").json()["language"] == "en"


def test_widget_first_request_brings_the_first_page_of_the_thread(client, alice, bob):
    top = post(client, alice, "The levy is fair").json()
    post(client, bob, "Not for landlords", parent_id=top["id"])
    held = post(client, bob, "stupid take").json()
    for_bob = client.get("/api/v1/sites/news/widget", params={"url": URL, "sort": "newest"},
                         headers=bob.headers)
    assert for_bob.headers["cache-control"] == "no-store"  # live, and the reader's own
    data = for_bob.json()
    assert data["strings"]["post"] == "Post comment" and data["guests_allowed"] is True
    thread = client.get("/api/v1/sites/news/thread", params={"url": URL, "sort": "newest"},
                        headers=bob.headers).json()
    assert data["thread"] == thread
    assert [c["id"] for c in data["thread"]["comments"]] == [held["id"], top["id"]]
    anonymous = client.get("/api/v1/sites/news/widget", params={"url": URL}).json()["thread"]
    assert [c["id"] for c in anonymous["comments"]] == [top["id"]]
    assert anonymous["comments"][0]["replies"][0]["html"] == "<p>Not for landlords</p>"


def test_widget_first_request_for_a_story_nobody_commented_on(client, site):
    data = client.get("/api/v1/sites/news/widget", params={"url": URL}).json()
    assert data["thread"] == {"story": None, "count": 0, "sort": "oldest", "comments": [],
                              "featured": [], "next_cursor": None}
    assert "thread" not in client.get("/api/v1/sites/news/widget").json()
    expired = client.get("/api/v1/sites/news/widget", params={"url": URL},
                         headers={"Authorization": "Bearer rdr_forged"})
    assert expired.status_code == 401  # the widget then retries without the token


def test_widget_config_refuses_unknown_site_and_odd_language(client, site):
    missing = client.get("/api/v1/sites/nope/widget")
    assert missing.status_code == 404 and missing.json()["code"] == "site_not_found"
    odd = client.get("/api/v1/sites/news/widget", params={"lang": "<script>"})
    assert odd.status_code == 400 and odd.json()["code"] == "invalid_input"


def test_demo_page_embeds_the_publisher_snippet(client, settings):
    response = client.get("/demo")
    assert response.status_code == 200
    html = response.text
    assert '<div id="rostra-comments"></div>' in html
    assert '<script src="/embed.js" data-site="demo" async></script>' in html
    assert f'<link rel="canonical" href="{settings.public_url}/demo">' in html
    assert 'data-rostra-count' in html and 'src="/count.js"' in html
    # Nothing inline: the page runs under a strict Content-Security-Policy.
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "<style" not in html and "style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None


def test_demo_page_language_parameter_cannot_inject(client):
    html = client.get("/demo", params={"lang": 'de"><script>alert(1)</script>'}).text
    assert "alert(1)" not in html
    assert 'data-lang="de"' in client.get("/demo?lang=de").text


def test_author_gets_the_markdown_source_of_their_comment(client, alice, bob):
    comment = post(client, alice, "The **levy** is fair").json()
    mine = client.get(f"/api/v1/sites/news/comments/{comment['id']}", headers=alice.headers)
    assert mine.json()["body"] == "The **levy** is fair"
    theirs = client.get(f"/api/v1/sites/news/comments/{comment['id']}", headers=bob.headers)
    assert "body" not in theirs.json()


def test_gzip_of_embed_js_decompresses_to_the_plain_script():
    asset = embed_js()
    assert gzip.decompress(asset.gzipped) == asset.body
