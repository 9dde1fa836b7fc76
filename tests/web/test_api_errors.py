"""Hostile and malformed requests get a 4xx problem object and change nothing."""

import pytest
from sqlalchemy import func, select
from tests.web.conftest import URL, post

from rostra.storage.tables import comments

COMMENTS = "/api/v1/sites/news/comments"


def assert_problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    data = response.json()
    assert data["status"] == status and data["code"] == code
    assert {"type", "title", "detail"} <= set(data)
    assert "Traceback" not in response.text
    return data


def count(db):
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(comments)).scalar_one()


def test_invalid_json(client, alice, db):
    response = client.post(COMMENTS, content=b'{"body": "x", ', headers={
        **alice.headers, "content-type": "application/json"})
    assert_problem(response, 400, "invalid_json")
    assert count(db) == 0


def test_invalid_utf8_bytes(client, alice, db):
    response = client.post(COMMENTS, content=b'{"body": "\xff\xfe caf\xe9", "url": "' +
                           URL.encode() + b'"}',
                           headers={**alice.headers, "content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_json", "invalid_input")
    assert count(db) == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"body": 123, "url": URL},
        {"body": ["a"], "url": URL},
        {"body": "x", "url": URL, "parent_id": "first"},
        {"body": "x", "url": URL, "story_id": {"$gt": 0}},
        {"body": "x", "url": URL, "unexpected": True},
        {"url": URL},
        [],
        "just a string",
    ],
)
def test_wrong_types_are_invalid_input(client, alice, db, payload):
    data = assert_problem(client.post(COMMENTS, json=payload, headers=alice.headers), 400,
                          "invalid_input")
    assert data["errors"]
    assert count(db) == 0


def test_lone_surrogate_in_json_is_refused(client, alice, db):
    response = client.post(COMMENTS, content=b'{"body": "bad \\ud800 half", "url": "' +
                           URL.encode() + b'"}',
                           headers={**alice.headers, "content-type": "application/json"})
    assert_problem(response, 400, "invalid_input")
    assert count(db) == 0


def test_oversized_body_is_413(client, alice, db, settings):
    response = client.post(COMMENTS, json={"body": "x" * (settings.max_body_bytes + 10),
                                           "url": URL}, headers=alice.headers)
    assert_problem(response, 413, "payload_too_large")
    assert count(db) == 0


def test_too_long_comment_is_400(client, alice, settings):
    data = assert_problem(post(client, alice, "x" * (settings.max_comment_chars + 1)), 400,
                          "invalid_input")
    assert data["field"] == "body"
    # the limit as a number, so that a client can say it in the reader's language
    assert data["max_chars"] == settings.max_comment_chars


def _elements(html):
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(html)
    return found


def test_script_payloads_are_stored_harmless(client, alice):
    payloads = [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        '<a href="https://x.example" onclick="alert(1)">x</a>',
        "<svg/onload=alert(1)>",
        "\"><iframe src=//evil.example>",
    ]
    for body in payloads:
        assert post(client, alice, body).status_code == 201
    page = client.get("/api/v1/sites/news/thread", params={"url": URL, "limit": 50}).json()
    html = " ".join(c["html"] for c in page["comments"])
    elements = _elements(html)
    assert {tag for tag, _ in elements} <= {"p", "a"}
    for _, attrs in elements:
        assert all(not name.startswith("on") for name, _ in attrs)
        assert all(not (value or "").lower().startswith("javascript:") for _, value in attrs)
    assert "&lt;script&gt;" in html


def test_sql_payloads_are_just_text(client, alice, db):
    body = "'; DROP TABLE comments; --"
    assert post(client, alice, body).status_code == 201
    response = client.get("/api/v1/sites/news/thread",
                          params={"url": URL + "' OR '1'='1", "sort": "oldest"})
    assert response.json()["story"] is None
    response = client.get("/api/v1/sites/news'--/thread", params={"url": URL})
    assert_problem(response, 404, "site_not_found")
    queue = client.get("/api/v1/sites/news/thread", params={"url": URL}).json()
    assert queue["comments"][0]["html"] == "<p>'; DROP TABLE comments; --</p>"
    assert count(db) == 1


def test_unknown_route_and_method(client, site):
    assert_problem(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_problem(client.put("/api/v1/sites/news/comments"), 405, "method_not_allowed")


def test_bad_query_parameters(client, site):
    assert_problem(client.get("/api/v1/sites/news/thread", params={"url": URL,
                                                                   "sort": "random"}),
                   400, "invalid_input")
    assert_problem(client.get("/api/v1/sites/news/thread", params={"url": URL, "limit": 0}),
                   400, "invalid_input")
    assert_problem(client.get("/api/v1/sites/news/thread"), 400, "invalid_input")
    assert_problem(client.get("/api/v1/sites/news/stories/abc/comments"), 400,
                   "invalid_input")


def test_unknown_story_for_a_post(client, alice):
    response = client.post(COMMENTS, json={"body": "x", "story_id": 424242},
                           headers=alice.headers)
    assert_problem(response, 404, "story_not_found")


def test_unexpected_error_is_a_500_problem_without_details(client, alice, app, word_engine):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    word_engine.moderate = explode
    data = assert_problem(post(client, alice), 500, "internal_error")
    assert "secret" not in str(data)


def test_bad_bearer_token_is_401(client, site):
    response = client.post(COMMENTS, json={"body": "x", "url": URL},
                           headers={"Authorization": "Bearer rdr_forged"})
    assert_problem(response, 401, "unauthenticated")


def test_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/sites/{site}/thread" in spec["paths"]
    assert "/api/v1/sites/{site}/moderation/comments/{comment_id}/decision" in spec["paths"]


HUGE = str(2**63)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/v1/sites/news/stories/{HUGE}/comments", None),
        ("GET", f"/api/v1/sites/news/comments/{HUGE}", None),
        ("POST", f"/api/v1/sites/news/comments/{HUGE}/reactions", None),
        ("POST", "/api/v1/sites/news/comments", {"body": "x", "story_id": 2**63}),
        ("POST", "/api/v1/sites/news/comments", {"body": "x", "url": URL, "parent_id": -1}),
        ("GET", "/api/v1/sites/news/stories/0/comments", None),
    ],
)
def test_ids_beyond_bigint_or_below_one_are_400(client, alice, method, path, body):
    response = client.request(method, path, json=body, headers=alice.headers)
    assert_problem(response, 400, "invalid_input")


def test_moderation_ids_beyond_bigint_are_400(client, maria):
    mod = "/api/v1/sites/news/moderation"
    for method, path, body in (
        ("GET", f"{mod}/comments/{HUGE}", None),
        ("GET", f"{mod}/queue?story_id={HUGE}", None),
        ("GET", f"{mod}/log?before_id={HUGE}", None),
        ("POST", f"{mod}/comments/1/decision", {"action": "approve", "version": 2**63}),
        ("POST", f"{mod}/authors/{HUGE}/ban", {"days": 1}),
        ("GET", f"{mod}/queue?min_score=nan", None),
    ):
        response = client.request(method, path, json=body, headers=maria.headers)
        assert_problem(response, 400, "invalid_input")
    # Python's JSON reader accepts NaN; the ban length must still be refused.
    response = client.post(f"{mod}/authors/1/ban", content=b'{"days": NaN}',
                           headers={**maria.headers, "content-type": "application/json"})
    assert_problem(response, 400, "invalid_input")


def test_deeply_nested_json_is_refused_cleanly(client, alice, db):
    body = b"[" * 60_000 + b"]" * 60_000
    response = client.post(COMMENTS, content=body,
                           headers={**alice.headers, "content-type": "application/json"})
    assert response.status_code in (400, 413)
    assert response.headers["content-type"] == "application/problem+json"
    assert count(db) == 0


def test_form_encoded_body_is_refused(client, alice, db):
    response = client.post(COMMENTS, content=b"body=hello&url=x",
                           headers={**alice.headers,
                                    "content-type": "application/x-www-form-urlencoded"})
    assert_problem(response, 400, "invalid_input")
    assert count(db) == 0
