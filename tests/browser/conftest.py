"""Fixtures for end-to-end tests in a real headless Chromium against a live ``rostra serve``.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright; it is never downloaded.
Without it (or without Playwright) these tests skip, saying why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

CHROMIUM = os.environ.get("ROSTRA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A ``rostra serve`` process on 127.0.0.1 with its own SQLite database."""

    url: str
    database_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, object] = field(default_factory=dict)

    def rostra(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a ``rostra`` CLI command against this server's database."""
        return subprocess.run(
            [sys.executable, "-m", "rostra", *args],
            env=self.env, input=input, capture_output=True, text=True, check=True, timeout=120,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _wait_until_up(server: LiveServer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"rostra serve exited early:\n{server.log()}")
        try:
            if httpx.get(server.url + "/api/v1/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"rostra serve did not come up in {timeout} s:\n{server.log()}")


@contextmanager
def serving(server: LiveServer, *, strict_stop: bool = False) -> Iterator[LiveServer]:
    """Run ``rostra serve`` for a prepared ``server`` until the block ends, then stop it.

    With ``strict_stop``, a server that ignores SIGTERM for 10 s fails the test."""
    port = server.url.rsplit(":", 1)[1]
    with open(server.log_path, "wb") as log:
        server.process = subprocess.Popen(
            [sys.executable, "-m", "rostra", "serve", "--host", "127.0.0.1", "--port", port],
            env=server.env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(server)
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            if strict_stop:
                raise AssertionError("rostra serve did not stop within 10 s of SIGTERM") from None


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Factory: ``start_server(**env)`` migrates a fresh SQLite database, lets the caller seed
    it through ``prepare(server)``, then starts ``rostra serve`` and waits until it answers."""
    def start(prepare: Callable[[LiveServer], None] | None = None, **env: str) -> LiveServer:
        port = free_port()
        db_path = tmp_path / f"rostra-{port}.db"
        full_env = {
            **os.environ,
            "ROSTRA_DATABASE_URL": f"sqlite:///{db_path}",
            "ROSTRA_SECRET_KEY": "test-secret-key-for-browser-tests",
            "ROSTRA_DEV_MODE": "1",
            "ROSTRA_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ROSTRA_RATE_LIMITS_ENABLED": "0",
            **env,
        }
        log_path = tmp_path / f"server-{port}.log"
        server = LiveServer(
            url=f"http://127.0.0.1:{port}",
            database_url=full_env["ROSTRA_DATABASE_URL"],
            env=full_env,
            process=None,  # type: ignore[arg-type]
            log_path=log_path,
        )
        server.rostra("db", "upgrade")
        if prepare is not None:
            prepare(server)
        return stack.enter_context(serving(server))

    with ExitStack() as stack:
        yield start


# Module scope: Playwright's sync API keeps an event loop running in the main thread while it
# is open, which would break later tests that start an event loop of their own.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium shared by one module's browser tests."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is not installed"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh browser context and page; console errors are collected in ``page.errors``."""
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda msg: page.errors.append(msg.text) if msg.type == "error" else None,  # type: ignore[attr-defined]
    )
    yield page
    context.close()
