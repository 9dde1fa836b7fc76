"""Readers (SSO JWTs, reader tokens) and staff (sessions, CSRF, API tokens) through a tiny app."""

import hashlib
import hmac
import json
import time
from base64 import urlsafe_b64encode
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import insert, select

from rostra.actions import accounts
from rostra.actions.accounts import add_site_key, create_api_token, create_user, revoke_site_key
from rostra.config import Settings
from rostra.domain.accounts import KeyAlgorithm
from rostra.domain.comments import AuthorKind, Role
from rostra.domain.errors import NotAllowed, RostraError
from rostra.domain.identity import Reader, Staff
from rostra.storage.accounts import UserStore
from rostra.storage.database import make_engine, transaction
from rostra.storage.identities import create_guest_author
from rostra.storage.sites import SiteStore
from rostra.storage.tables import authors, metadata, stories
from rostra.web.auth import (
    _SESSION_SALT,
    CSRF_HEADER,
    SESSION_COOKIE,
    ReaderDep,
    StaffDep,
    csrf_token_for,
    issue_reader_token,
    require_moderator,
    router,
)
from rostra.web.protection import install_protection, problem_content

SECRET = "a-test-secret-key-that-is-long-enough"
PASSWORD = "correct horse battery"


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: this module tests the web layer; the stores it uses run on both databases
    in tests/storage, and test_auth_flows.py runs the main flows on both."""
    url = f"sqlite:///{tmp_path}/rostra.db"
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """Real argon2id, at test-sized cost (the production cost is ~0.3 s a hash here)."""
    monkeypatch.setattr(accounts, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def make_app(db, **overrides) -> FastAPI:
    values = {"database_url": str(db.url), "secret_key": SECRET, "dev_mode": False, **overrides}
    settings = Settings(**values)
    app = FastAPI()
    app.state.engine = db
    app.state.settings = settings
    install_protection(app, settings)
    app.include_router(router)

    @app.exception_handler(RostraError)
    def problem(request: Request, exc: RostraError) -> JSONResponse:
        return JSONResponse(problem_content(exc), status_code=exc.http_status,
                            media_type="application/problem+json")

    def reader_out(reader: Reader | None) -> dict:
        if reader is None:
            return {"reader": None}
        return {"reader": {"author_id": reader.author_id, "site_id": reader.site_id,
                           "name": reader.name, "kind": reader.kind.value}}

    @app.get("/api/v1/sites/{site}/whoami")
    def site_whoami(reader: ReaderDep) -> dict:
        return reader_out(reader)

    @app.get("/api/v1/stories/{story_id}/whoami")
    def story_whoami(reader: ReaderDep) -> dict:
        return reader_out(reader)

    @app.get("/api/v1/whoami")
    def whoami(reader: ReaderDep) -> dict:
        return reader_out(reader)

    @app.post("/api/v1/staff-action")
    def staff_action(staff: StaffDep) -> dict:
        return {"user": staff.username}

    @app.get("/api/v1/staff-page")
    def staff_page(staff: StaffDep, request: Request) -> dict:
        return {"user": staff.username, "csrf": csrf_token_for(request)}

    @app.post("/api/v1/staff-form")
    def staff_form(staff: StaffDep, note: Annotated[str, Form()]) -> dict:
        return {"user": staff.username, "note": note}

    return app


@pytest.fixture
def site(db):
    with transaction(db) as conn:
        return SiteStore.create(conn, "herald", "The Herald", now=datetime.now(UTC))


@pytest.fixture
def client(db, site):
    with TestClient(make_app(db), base_url="https://testserver") as client:
        yield client


def claims(**overrides):
    base = {"sub": "reader-1", "name": "Alice", "email": "alice@example.com",
            "exp": int(time.time()) + 300}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hs256_key(db, slug="herald", rotate=False):
    key, secret = add_site_key(db, slug, KeyAlgorithm.HS256, rotate=rotate)
    return key.kid, secret


@pytest.fixture(scope="module")
def rsa_private():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_private():
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(private) -> str:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


# --- SSO ---------------------------------------------------------------------------------


def test_no_credentials_is_an_anonymous_reader(client):
    assert client.get("/api/v1/sites/herald/whoami").json() == {"reader": None}


def test_hs256_sso_token_is_accepted_and_creates_the_author(client, db):
    kid, secret = hs256_key(db)
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": kid})
    response = client.get("/api/v1/sites/herald/whoami", headers=bearer(token))
    assert response.status_code == 200
    reader = response.json()["reader"]
    assert (reader["name"], reader["kind"]) == ("Alice", "sso")
    with db.connect() as conn:
        row = conn.execute(select(authors)).one()
    assert (row.id, row.external_id, row.email) == (reader["author_id"], "reader-1",
                                                    "alice@example.com")


def test_sso_token_without_kid_is_tried_against_the_sites_keys(client, db):
    _, secret = hs256_key(db)
    token = jwt.encode(claims(), secret, algorithm="HS256")
    assert client.get("/api/v1/sites/herald/whoami", headers=bearer(token)).status_code == 200


def test_rs256_sso_token_is_accepted(client, db, rsa_private):
    key, _ = add_site_key(db, "herald", KeyAlgorithm.RS256, public_key=public_pem(rsa_private))
    token = jwt.encode(claims(), rsa_private, algorithm="RS256", headers={"kid": key.kid})
    response = client.get("/api/v1/sites/herald/whoami", headers=bearer(token))
    assert response.json()["reader"]["name"] == "Alice"


def test_es256_sso_token_is_accepted(client, db, ec_private):
    key, _ = add_site_key(db, "herald", KeyAlgorithm.ES256, public_key=public_pem(ec_private))
    token = jwt.encode(claims(name="Eve"), ec_private, algorithm="ES256",
                       headers={"kid": key.kid})
    response = client.get("/api/v1/sites/herald/whoami", headers=bearer(token))
    assert response.json()["reader"]["name"] == "Eve"


def test_sso_name_and_email_changes_update_the_author(client, db):
    kid, secret = hs256_key(db)
    for name in ("Alice", "Alice Liddell"):
        token = jwt.encode(claims(name=name), secret, algorithm="HS256", headers={"kid": kid})
        client.get("/api/v1/sites/herald/whoami", headers=bearer(token))
    with db.connect() as conn:
        assert conn.execute(select(authors.c.name)).scalars().all() == ["Alice Liddell"]


def _refused(client, token, path="/api/v1/sites/herald/whoami"):
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthenticated"
    return response.json()["detail"]


def test_expired_sso_token_is_refused(client, db):
    kid, secret = hs256_key(db)
    token = jwt.encode(claims(exp=int(time.time()) - 120), secret, algorithm="HS256",
                       headers={"kid": kid})
    assert "expired" in _refused(client, token)


def test_long_lived_sso_token_is_refused(client, db):
    kid, secret = hs256_key(db)
    token = jwt.encode(claims(exp=int(time.time()) + 30 * 86400), secret, algorithm="HS256",
                       headers={"kid": kid})
    _refused(client, token)


def test_sso_token_with_wrong_signature_is_refused(client, db):
    kid, _ = hs256_key(db)
    token = jwt.encode(claims(), "some-other-secret-of-sufficient-length!", algorithm="HS256",
                       headers={"kid": kid})
    assert "signature" in _refused(client, token)


def test_sso_token_of_another_site_is_refused(client, db):
    with transaction(db) as conn:
        SiteStore.create(conn, "gazette", "Gazette", now=datetime.now(UTC))
    kid, secret = hs256_key(db, "gazette")
    hs256_key(db, "herald")
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": kid})
    _refused(client, token)
    assert client.get("/api/v1/sites/gazette/whoami", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("missing", ["sub", "name", "email", "exp"])
def test_sso_token_missing_a_claim_is_refused(client, db, missing):
    kid, secret = hs256_key(db)
    token = jwt.encode(claims(**{missing: None}), secret, algorithm="HS256",
                       headers={"kid": kid})
    _refused(client, token)


@pytest.mark.parametrize("bad", [
    {"sub": 42}, {"name": ""}, {"name": ["x"]}, {"email": None},
    # Texts no database column takes: a NUL character (PostgreSQL), a lone surrogate (UTF-8).
    {"sub": "reader\x00-1"}, {"name": "Al\x00ice"}, {"email": "a\x00@example.com"},
    {"sub": "reader-\udc00"}, {"name": "Al\ud800ice"},
])
def test_sso_token_with_bad_claims_is_refused(client, db, bad):
    kid, secret = hs256_key(db)
    payload = claims()
    payload.update(bad)
    token = jwt.encode(payload, secret, algorithm="HS256", headers={"kid": kid})
    _refused(client, token)


def test_unsigned_alg_none_token_is_refused(client, db):
    kid, _ = hs256_key(db)
    token = jwt.encode(claims(), None, algorithm="none", headers={"kid": kid})
    _refused(client, token)
    _refused(client, jwt.encode(claims(), None, algorithm="none"))


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def test_hs256_token_signed_with_the_public_key_is_refused(client, db, rsa_private):
    """The classic algorithm confusion: HMAC keyed with the site's public RSA key."""
    pem = public_pem(rsa_private)
    key, _ = add_site_key(db, "herald", KeyAlgorithm.RS256, public_key=pem)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    body = _b64(json.dumps(claims()).encode())
    signature = hmac.new(pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    _refused(client, f"{header}.{body}.{_b64(signature)}")


def test_unknown_kid_is_refused(client, db):
    _, secret = hs256_key(db)
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": "nope"})
    assert "unknown" in _refused(client, token)


def test_garbage_tokens_are_refused(client, db):
    hs256_key(db)
    for token in ("x", "a.b.c", "rdr_garbage", "a" * 10_000):
        _refused(client, token)
    latin = client.get("/api/v1/sites/herald/whoami",
                       headers={"Authorization": "Bearer \xe9t\xe9".encode("latin-1")})
    assert latin.status_code == 401
    response = client.get("/api/v1/sites/herald/whoami", headers={"Authorization": "Basic Zm9v"})
    assert response.status_code == 401


def test_rotation_keeps_old_and_new_keys_valid_until_revoked(client, db):
    old_kid, old_secret = hs256_key(db)
    new_kid, new_secret = hs256_key(db, rotate=True)
    old = jwt.encode(claims(), old_secret, algorithm="HS256", headers={"kid": old_kid})
    new = jwt.encode(claims(), new_secret, algorithm="HS256", headers={"kid": new_kid})
    for token in (old, new):
        assert client.get("/api/v1/sites/herald/whoami", headers=bearer(token)).status_code == 200
    revoke_site_key(db, "herald", old_kid)
    _refused(client, old)
    assert client.get("/api/v1/sites/herald/whoami", headers=bearer(new)).status_code == 200


def test_a_third_rotation_retires_the_oldest_key(client, db):
    first_kid, first_secret = hs256_key(db)
    hs256_key(db, rotate=True)
    hs256_key(db, rotate=True)
    token = jwt.encode(claims(), first_secret, algorithm="HS256", headers={"kid": first_kid})
    _refused(client, token)


def test_sso_token_without_a_site_in_the_request_is_refused(client, db):
    kid, secret = hs256_key(db)
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": kid})
    assert "site" in _refused(client, token, "/api/v1/whoami")
    assert client.get("/api/v1/whoami?site=herald", headers=bearer(token)).status_code == 200


def test_unknown_site_is_a_404(client, db):
    response = client.get("/api/v1/sites/nope/whoami", headers=bearer("x.y.z"))
    assert response.status_code == 404


# --- reader tokens (guests) ---------------------------------------------------------------


def _guest(db, site):
    with transaction(db) as conn:
        author_id = create_guest_author(conn, site.id, "Bob", None, datetime.now(UTC))
    return Reader(author_id=author_id, site_id=site.id, name="Bob", kind=AuthorKind.GUEST)


def _story(db, site):
    with transaction(db) as conn:
        return conn.execute(
            insert(stories).values(site_id=site.id, url="https://herald.example/a", title="A",
                                   closed=False, premoderation=False, comment_count=0,
                                   top_level_count=0, created_at=datetime.now(UTC))
            .returning(stories.c.id)
        ).scalar_one()


def test_guest_reader_token_identifies_the_guest(client, db, site):
    guest = _guest(db, site)
    token = issue_reader_token(SECRET, guest)
    story_id = _story(db, site)
    for path in ("/api/v1/sites/herald/whoami", f"/api/v1/stories/{story_id}/whoami",
                 "/api/v1/whoami"):
        reader = client.get(path, headers=bearer(token)).json()["reader"]
        assert reader == {"author_id": guest.author_id, "site_id": site.id, "name": "Bob",
                          "kind": "guest"}


def test_reader_token_is_refused_on_another_site(client, db, site):
    with transaction(db) as conn:
        SiteStore.create(conn, "gazette", "Gazette", now=datetime.now(UTC))
    token = issue_reader_token(SECRET, _guest(db, site))
    _refused(client, token, "/api/v1/sites/gazette/whoami")


def test_tampered_or_foreign_reader_tokens_are_refused(client, db, site):
    guest = _guest(db, site)
    token = issue_reader_token(SECRET, guest)
    _refused(client, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    _refused(client, issue_reader_token("another-secret-key-entirely", guest))
    forged = issue_reader_token(SECRET, Reader(999, site.id, "ghost", AuthorKind.GUEST))
    _refused(client, forged)


# --- staff: sessions, CSRF, tokens ---------------------------------------------------------


@pytest.fixture
def maria(db, site):
    return create_user(db, "maria", Role.MODERATOR, PASSWORD, site_slugs=["herald"])


def login(client, username="maria", password=PASSWORD):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_login_sets_a_secure_httponly_lax_cookie(client, maria, site):
    response = login(client)
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {"id": maria.id, "username": "maria", "role": "moderator",
                            "site_ids": [site.id]}
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
    assert "max-age=28800" in cookie
    me = client.get("/api/v1/auth/me").json()
    assert me["username"] == "maria" and me["csrf_token"] == body["csrf_token"]


def test_dev_mode_cookies_work_over_plain_http(db, maria):
    with TestClient(make_app(db, dev_mode=True)) as client:
        response = login(client)
        assert "secure" not in response.headers["set-cookie"].lower()
        assert client.get("/api/v1/auth/me").status_code == 200


@pytest.mark.parametrize(("username", "password"), [("maria", "wrong password!"),
                                                    ("nobody", PASSWORD)])
def test_wrong_credentials_are_refused_alike(client, maria, username, password):
    response = login(client, username, password)
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong username or password"
    assert "set-cookie" not in response.headers


def test_disabled_user_cannot_log_in_or_use_a_session(client, db, maria):
    login(client)
    with transaction(db) as conn:
        UserStore.set_disabled(conn, maria.id, True)
    assert client.get("/api/v1/auth/me").status_code == 401
    assert login(client).status_code == 401


def test_login_input_is_validated(client):
    assert client.post("/api/v1/auth/login", json={"username": "x"}).status_code == 422
    assert client.post("/api/v1/auth/login", content=b"\xff\xfe",
                       headers={"content-type": "application/json"}).status_code in (400, 422)


def test_login_needs_an_explicit_json_content_type(client, maria):
    """A cross-site page can POST a typeless body; it cannot set application/json."""
    body = f'{{"username": "maria", "password": "{PASSWORD}"}}'.encode()
    for headers in ({}, {"content-type": "text/plain"}):
        response = client.post("/api/v1/auth/login", content=body, headers=headers)
        assert response.status_code in (400, 422)
        assert "set-cookie" not in response.headers


def test_login_attempts_are_rate_limited(client, maria):
    codes = [login(client, "maria", "wrong password!").status_code for _ in range(10)]
    assert codes == [401] * 10
    response = login(client)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["code"] == "rate_limited"


def test_without_credentials_staff_routes_are_401(client):
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.post("/api/v1/staff-action").status_code == 401


def test_tampered_session_cookie_is_refused(client, maria):
    login(client)
    value = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value[:-3] + "xyz", domain="testserver")
    assert client.get("/api/v1/auth/me").status_code == 401


class _AnHourAgoSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


def test_expired_session_is_refused(db, maria):
    payload = {"u": maria.id, "v": maria.session_version, "n": "nonce"}
    with TestClient(make_app(db, session_max_age_seconds=1800),
                    base_url="https://testserver") as client:
        for signer, status in ((TimestampSigner, 200), (_AnHourAgoSigner, 401)):
            value = URLSafeTimedSerializer(SECRET, salt=_SESSION_SALT, signer=signer).dumps(payload)
            response = client.get("/api/v1/auth/me",
                                  headers={"Cookie": f"{SESSION_COOKIE}={value}"})
            assert response.status_code == status


def test_logout_ends_the_session_even_for_a_copied_cookie(client, maria):
    csrf = login(client).json()["csrf_token"]
    copied = client.cookies[SESSION_COOKIE]
    response = client.post("/api/v1/auth/logout", headers={CSRF_HEADER: csrf})
    assert response.status_code == 204
    assert SESSION_COOKIE not in client.cookies
    replay = client.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={copied}"})
    assert replay.status_code == 401


def test_session_version_bump_logs_out(client, db, maria):
    login(client)
    with transaction(db) as conn:
        UserStore.end_sessions(conn, maria.id)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_cookie_post_without_csrf_token_is_403(client, maria):
    login(client)
    response = client.post("/api/v1/staff-action")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "csrf_failed"
    assert client.post("/api/v1/staff-action", headers={CSRF_HEADER: "0" * 64}).status_code == 403


def test_cookie_post_with_csrf_header_or_form_field_passes(client, maria):
    csrf = login(client).json()["csrf_token"]
    assert client.get("/api/v1/staff-page").json()["csrf"] == csrf
    assert client.post("/api/v1/staff-action", headers={CSRF_HEADER: csrf}).status_code == 200
    response = client.post("/api/v1/staff-form", data={"note": "hi", "csrf_token": csrf})
    assert response.json() == {"user": "maria", "note": "hi"}
    assert client.post("/api/v1/staff-form", data={"note": "hi"}).status_code == 403


def test_csrf_token_changes_with_each_login(client, maria):
    first = login(client).json()["csrf_token"]
    second = login(client).json()["csrf_token"]
    assert first != second
    assert client.post("/api/v1/staff-action", headers={CSRF_HEADER: first}).status_code == 403


def test_api_token_authenticates_without_csrf(client, db, maria):
    token = create_api_token(db, "maria", "ci")
    headers = {"Authorization": f"Token {token}"}
    assert client.post("/api/v1/staff-action", headers=headers).json() == {"user": "maria"}
    assert client.get("/api/v1/auth/me", headers=headers).json()["csrf_token"] == ""
    bad = client.post("/api/v1/staff-action", headers={"Authorization": f"Token {token}x"})
    assert bad.status_code == 401


def test_reader_bearer_token_is_not_a_staff_credential(client, db, site):
    token = issue_reader_token(SECRET, _guest(db, site))
    assert client.post("/api/v1/staff-action", headers=bearer(token)).status_code == 401


def test_require_moderator_checks_the_site():
    maria = Staff(user_id=1, username="maria", role=Role.MODERATOR, site_ids=frozenset({1}))
    ada = Staff(user_id=2, username="ada", role=Role.ADMIN)
    require_moderator(maria, 1)
    require_moderator(ada, 2)
    with pytest.raises(NotAllowed):
        require_moderator(maria, 2)


def test_sessions_expire_time_is_from_settings(db, maria):
    with TestClient(make_app(db, session_max_age_seconds=600),
                    base_url="https://testserver") as client:
        assert "max-age=600" in login(client).headers["set-cookie"].lower()


def test_expired_reader_token_age_is_a_year():
    # The constant is part of the contract with the widget (it stores the token).
    from rostra.web.auth import READER_TOKEN_MAX_AGE_SECONDS

    assert timedelta(seconds=READER_TOKEN_MAX_AGE_SECONDS) == timedelta(days=365)
