"""Body limit, rate limits, CORS allow-list and security headers, on a tiny app."""

import select
import socket
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel

from rostra.config import Settings
from rostra.domain.errors import RostraError
from rostra.storage.database import make_engine, transaction
from rostra.storage.ratelimits import RedisRateLimiter
from rostra.storage.sites import SiteStore
from rostra.storage.tables import metadata
from rostra.web.protection import (
    check_rate_limit,
    honeypot_tripped,
    install_protection,
    origin_cache,
    problem_content,
)

SECRET = "a-test-secret-key-that-is-long-enough"
REDIS_URL = "redis://127.0.0.1:6379/15"
WIDGET_ORIGIN = "https://herald.example"


class Echo(BaseModel):
    text: str


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: this module tests the web layer; the stores it uses run on both databases
    in tests/storage, and test_auth_flows.py runs the main flows on both."""
    url = f"sqlite:///{tmp_path}/rostra.db"
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    return url


def make_app(db, **overrides) -> FastAPI:
    values = {"database_url": str(db.url), "secret_key": SECRET, "max_body_bytes": 1024,
              **overrides}
    settings = Settings(**values)
    app = FastAPI()
    app.state.engine = db
    app.state.settings = settings
    install_protection(app, settings)

    @app.exception_handler(RostraError)
    def problem(request: Request, exc: RostraError) -> JSONResponse:
        return JSONResponse({**problem_content(exc), "handler": "app"},
                            status_code=exc.http_status, media_type="application/problem+json")

    @app.post("/api/v1/echo")
    def echo(body: Echo) -> dict:
        return {"length": len(body.text)}

    @app.post("/api/v1/raw")
    async def raw(request: Request) -> dict:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.post("/api/v1/limited")
    def limited(request: Request) -> dict:
        check_rate_limit(request, "test:limited", 2)
        return {"ok": True}

    @app.get("/api/v1/json")
    def json_route() -> dict:
        return {"ok": True}

    @app.get("/moderate", response_class=HTMLResponse)
    def page() -> str:
        return "<!doctype html><title>queue</title>"

    @app.get("/embed/frame", response_class=HTMLResponse)
    def frame() -> str:
        return "<!doctype html><title>widget</title>"

    @app.get("/embed.js")
    def script() -> Response:
        return Response("console.log(1)", media_type="text/javascript")

    @app.get("/custom", response_class=HTMLResponse)
    def custom() -> HTMLResponse:
        return HTMLResponse("<p>x</p>", headers={"Content-Security-Policy": "default-src *"})

    return app


@pytest.fixture
def site(db):
    with transaction(db) as conn:
        return SiteStore.create(conn, "herald", "The Herald", allowed_origins=[WIDGET_ORIGIN],
                                now=datetime.now(UTC))


@pytest.fixture
def client(db, site):
    with TestClient(make_app(db)) as client:
        yield client


# --- body size -------------------------------------------------------------------------------


def _is_413(response):
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"


def test_small_bodies_pass(client):
    assert client.post("/api/v1/echo", json={"text": "hi"}).json() == {"length": 2}


def test_oversized_body_with_content_length_is_413(client):
    _is_413(client.post("/api/v1/echo", json={"text": "x" * 2000}))


def test_oversized_chunked_body_is_413(client):
    def chunks():
        yield b'{"text": "'
        for _ in range(40):
            yield b"x" * 100
        yield b'"}'

    _is_413(client.post("/api/v1/echo", content=chunks(),
                        headers={"content-type": "application/json"}))
    _is_413(client.post("/api/v1/raw", content=chunks()))


def test_chunked_body_within_the_limit_passes(client):
    def chunks():
        yield b"a" * 500
        yield b"b" * 500

    assert client.post("/api/v1/raw", content=chunks()).json() == {"size": 1000}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_chunked_body_to_a_real_server_is_413(db, site):
    """Through uvicorn's HTTP parser: no Content-Length, the body arrives in pieces."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(db), host="127.0.0.1", port=port,
                                           log_level="error", lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"POST /api/v1/raw HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            reply = b""
            try:
                for _ in range(20):
                    conn.sendall(b"100\r\n" + b"z" * 256 + b"\r\n")
                    # The server answers 413 as soon as the limit is passed and closes;
                    # stop sending once the answer is there, or a write meets a reset.
                    if select.select([conn], [], [], 0.05)[0]:
                        break
                else:
                    conn.sendall(b"0\r\n\r\n")
                while chunk := conn.recv(65536):
                    reply += chunk
            except (BrokenPipeError, ConnectionResetError):
                pass
    finally:
        server.should_exit = True
        thread.join(5)
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"payload_too_large" in reply


# --- rate limits ----------------------------------------------------------------------------


def _hit_three_times(client):
    return [client.post("/api/v1/limited") for _ in range(3)]


def test_endpoint_limit_gives_429_with_retry_after(client):
    first, second, third = _hit_three_times(client)
    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 429
    assert 1 <= int(third.headers["retry-after"]) <= 60
    body = third.json()
    assert body["code"] == "rate_limited" and body["retry_after"] == int(
        third.headers["retry-after"])
    assert body["handler"] == "app"  # the app's own problem handler shaped it


def test_limits_can_be_switched_off(db, site):
    with TestClient(make_app(db, rate_limits_enabled=False)) as client:
        assert [r.status_code for r in _hit_three_times(client)] == [200, 200, 200]


@pytest.fixture
def redis_prefix():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis at 127.0.0.1:6379 is unreachable")
    prefix = f"rostra-test:{uuid.uuid4().hex}:"
    yield prefix
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


def test_two_apps_share_limits_through_redis(db, site, redis_prefix):
    apps = [make_app(db, redis_url=REDIS_URL) for _ in range(2)]
    for app in apps:
        app.state.rate_limiter = RedisRateLimiter.from_url(REDIS_URL)
        app.state.rate_limiter.prefix = redis_prefix
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        codes = [a.post("/api/v1/limited").status_code, b.post("/api/v1/limited").status_code,
                 b.post("/api/v1/limited")]
    assert codes[:2] == [200, 200]
    assert codes[2].status_code == 429 and int(codes[2].headers["retry-after"]) >= 1


def test_redis_is_used_when_configured(db, site):
    with TestClient(make_app(db, redis_url=REDIS_URL)) as client:
        client.get("/api/v1/json")
        assert isinstance(client.app.state.rate_limiter, RedisRateLimiter)


def test_requests_per_ip_are_limited_on_the_api_only(db, site):
    with TestClient(make_app(db, rate_limit_requests_per_minute=3)) as client:
        codes = [client.get("/api/v1/json").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/api/v1/json")
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/moderate").status_code == 200
        preflight = client.options("/api/v1/json", headers={
            "Origin": WIDGET_ORIGIN, "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 204


# --- CORS -------------------------------------------------------------------------------------


def test_allowed_origin_is_echoed(client):
    response = client.get("/api/v1/json", headers={"Origin": WIDGET_ORIGIN})
    assert response.headers["access-control-allow-origin"] == WIDGET_ORIGIN
    assert "Origin" in response.headers["vary"]
    assert "Retry-After" in response.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in response.headers


def test_responses_vary_by_origin_even_without_one(client):
    response = client.get("/api/v1/json")
    assert "Origin" in response.headers["vary"]
    assert "access-control-allow-origin" not in response.headers


def test_other_origins_get_no_cors_headers(client):
    for origin in ("https://evil.example", "https://herald.example.evil.example", "null",
                   WIDGET_ORIGIN + ":8443"):
        response = client.get("/api/v1/json", headers={"Origin": origin})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers


def test_preflight_for_an_allowed_origin(client):
    response = client.options("/api/v1/echo", headers={
        "Origin": WIDGET_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type, X-Evil"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == WIDGET_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "authorization, content-type"


def test_preflight_for_another_origin_is_refused(client):
    response = client.options("/api/v1/echo", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_errors_carry_cors_headers_so_the_widget_can_read_them(client):
    response = client.post("/api/v1/echo", json={"text": "x" * 5000},
                           headers={"Origin": WIDGET_ORIGIN})
    assert response.status_code == 413
    assert response.headers["access-control-allow-origin"] == WIDGET_ORIGIN


def test_new_origins_are_seen_after_the_cache_is_invalidated(client, db, site):
    new = "https://gazette.example"
    assert "access-control-allow-origin" not in client.get(
        "/api/v1/json", headers={"Origin": new}).headers
    with transaction(db) as conn:
        SiteStore.update(conn, site.id, allowed_origins=[WIDGET_ORIGIN, new])
    origin_cache(client.app).invalidate()
    response = client.get("/api/v1/json", headers={"Origin": new})
    assert response.headers["access-control-allow-origin"] == new


# --- security headers -------------------------------------------------------------------------


def test_json_responses_get_a_locked_down_csp(client):
    headers = client.get("/api/v1/json").headers
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in headers  # plain http


def test_moderator_pages_are_same_origin_and_unframeable(client):
    headers = client.get("/moderate").headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["x-frame-options"] == "DENY"


def test_embed_pages_may_be_framed_by_allowed_origins(client):
    headers = client.get("/embed/frame").headers
    assert f"frame-ancestors 'self' {WIDGET_ORIGIN}" in headers["content-security-policy"]
    assert "x-frame-options" not in headers


def test_widget_script_is_loadable_cross_origin(client):
    headers = client.get("/embed.js").headers
    assert headers["cross-origin-resource-policy"] == "cross-origin"
    assert headers["x-content-type-options"] == "nosniff"


def test_a_routes_own_csp_is_kept(client):
    assert client.get("/custom").headers["content-security-policy"] == "default-src *"


def test_hsts_over_https_unless_dev_mode(db, site):
    with TestClient(make_app(db), base_url="https://testserver") as client:
        assert client.get("/api/v1/json").headers["strict-transport-security"]
    with TestClient(make_app(db, dev_mode=True), base_url="https://testserver") as client:
        assert "strict-transport-security" not in client.get("/api/v1/json").headers


# --- honeypot ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "tripped"), [
    ({"text": "hi"}, False),
    ({"text": "hi", "website": ""}, False),
    ({"text": "hi", "website": "   "}, False),
    ({"text": "hi", "website": None}, False),
    ({"text": "hi", "website": "http://spam.example"}, True),
    ({"text": "hi", "website": 1}, True),
])
def test_honeypot(body, tripped):
    assert honeypot_tripped(body) is tripped


def test_honeypot_reads_models_too():
    class GuestPost(BaseModel):
        text: str
        website: str | None = None

    assert honeypot_tripped(GuestPost(text="x", website="buy")) is True
    assert honeypot_tripped(GuestPost(text="x")) is False
