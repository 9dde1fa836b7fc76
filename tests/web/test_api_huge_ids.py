"""Ids and cursors beyond what the database stores are client errors, never a 500.

Every operation of the JSON API with an integer path or query parameter is called with a
number past 2**63 in that parameter (the others valid), as a reader and as an admin; cursors
edited by the client (huge numbers, wrong types, naive or overflowing dates) are 400s.
"""

import base64

import pytest
from tests.web.conftest import post, staff_actor

HUGE = "99999999999999999999"


def _is_int(schema):
    return schema.get("type") == "integer" or any(
        s.get("type") == "integer" for s in schema.get("anyOf", []))


def _int_params(app):
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            for param in params:
                if param["in"] in ("path", "query") and _is_int(param["schema"]):
                    yield method.upper(), path, param, params


@pytest.fixture
def ada(db):
    return staff_actor(db, name="ada", admin=True)


@pytest.fixture
def posted(client, alice):
    response = post(client, alice)
    assert response.status_code == 201, response.text
    return response.json()


def test_every_integer_parameter_refuses_huge_numbers(app, client, alice, ada, posted):
    valid = {"site": "news", "story_id": str(posted["story_id"]),
             "comment_id": str(posted["id"]), "author_id": str(alice.reader.author_id)}
    seen = 0
    for method, path, param, params in _int_params(app):
        url = path
        for p in params:
            if p["in"] == "path":
                value = HUGE if p is param else valid.get(p["name"], "1")
                url = url.replace("{" + p["name"] + "}", value)
        query = {param["name"]: HUGE} if param["in"] == "query" else {}
        statuses = []
        for headers in ({}, alice.headers, ada.headers):
            response = client.request(method, url, params=query, json={}, headers=headers)
            where = f"{method} {url} {query} as {headers or 'anonymous'}"
            assert response.status_code < 500, where
            assert response.headers["content-type"] == "application/problem+json", where
            statuses.append(response.status_code)
        assert {400, 404, 422} & set(statuses), f"{method} {url} {query}: {statuses}"
        seen += 1
    assert seen >= 30  # the walk really covered the API


def _cursor(raw_json):
    return base64.urlsafe_b64encode(raw_json.encode()).decode().rstrip("=")


@pytest.mark.parametrize("values", [
    '{"dt": "2026-11-25T10:00:00+00:00"}, 100000000000000000000',
    '{"dt": "2026-11-25T10:00:00"}, 1',
    '{"dt": "9999-12-31T23:00:00-05:00"}, 1',
    '"not a date", "not an id"',
    '"not a date", 1',
])
def test_edited_thread_cursors_are_refused(client, posted, values):
    response = client.get(f"/api/v1/sites/news/stories/{posted['story_id']}/comments",
                          params={"cursor": _cursor(f'["t:oldest", [{values}]]')})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_input"


@pytest.mark.parametrize("values", ["1e999, 1", "0.5, 100000000000000000000", '"high", 1'])
def test_edited_queue_cursors_are_refused(client, site, ada, values):
    response = client.get("/api/v1/sites/news/moderation/queue",
                          params={"cursor": _cursor(f'["q:severity", [{values}]]')},
                          headers=ada.headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_input"
