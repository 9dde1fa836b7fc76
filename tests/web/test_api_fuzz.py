"""Every operation of the REST API, fuzzed from its own OpenAPI schema: valid requests and
requests that break the schema (wrong types, missing and extra fields, NUL bytes, huge
numbers), as a moderator, as a reader and as nobody. None may end in a server error, and every
refusal is a JSON problem object. Generation is deterministic, so a failure here is a bug to
reproduce, not noise.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from tests.conftest import _empty_pg
from tests.factories import NOW, WordEngine, make_reader, make_site, make_staff

from rostra.actions.comments import post_comment
from rostra.config import Settings
from rostra.storage.accounts import TokenStore
from rostra.storage.database import make_engine, transaction
from rostra.storage.tables import metadata
from rostra.web.app import create_app
from rostra.web.auth import issue_reader_token

SECRET = "test-secret-key-0123456789abcdef"
EXAMPLES = 6  # per operation and mode: about 25 s per database for the whole API


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(request, tmp_path_factory):
    """The API on a database with one site, its moderator, a reader and a short thread."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/rostra.db"
        db = make_engine(url)
        metadata.create_all(db)
    else:
        db = request.getfixturevalue("_pg_engine")
        _empty_pg(db)
        url = db.url.render_as_string(hide_password=False)
    site = make_site(db, "news")
    staff = make_staff(db, site, name="maria", admin=True)
    reader = make_reader(db, site, "alice")
    with transaction(db) as conn:
        _, token = TokenStore.create(conn, staff.user_id, "fuzz", now=NOW)
    words = WordEngine()
    for i in range(3):
        post_comment(db, words, site=site, author_id=reader.author_id, body=f"comment {i}",
                     url="https://news.example/a", title="A", now=NOW)
    app = create_app(
        Settings(database_url=url, secret_key=SECRET, rate_limits_enabled=False, dev_mode=True),
        engine=db, moderation_engine=words,
    )
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], allow_x00=True,
        deterministic=True,
    )
    actors = {
        "moderator": {"Authorization": f"Token {token}"},
        "reader": {"Authorization": f"Bearer {issue_reader_token(SECRET, reader)}"},
        "nobody": {},
    }
    yield schema, actors
    if request.param == "sqlite":
        db.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzzed):
    return fuzzed[0]


# The live-update stream stays open by design (tests/web/test_live.py covers it).
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path_regex=r"/events$")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_ends_in_a_server_error(case, fuzzed):
    calls = [("moderator", fuzzed[1]["moderator"])]  # the generated site slug: mostly unknown
    if (case.path_parameters or {}).get("site") is not None:
        calls = [*calls, *fuzzed[1].items()]  # then the real site, to reach past the lookup
    for k, (actor, headers) in enumerate(calls):
        if k == 1:
            case.path_parameters = {**case.path_parameters, "site": "news"}
        where = f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"
        response = case.call(headers=headers)
        said = f"{where} as {actor} -> {response.status_code}"
        assert response.status_code < 500, f"{said} {response.text[:300]}"
        if response.status_code >= 400:
            content_type = response.headers.get("content-type", [""])[0]
            assert content_type == "application/problem+json", f"{said} {content_type}"
            assert response.json()["status"] == response.status_code, said
