"""Benchmark: first render of a 100-comment thread by the widget in headless Chromium.

    python bench/widget_render.py                  # 100 comments (20 % replies), 15 cold loads
    python bench/widget_render.py --comments 500 --runs 5 --page-size 20

A ``rostra serve`` on 127.0.0.1 with its own SQLite database gets a story seeded through the
API (guest posts of about 300 characters of Markdown, every one published: the server scores
with a model that never objects, so the thread really has N comments). Each run opens the
/demo article in a fresh browser context (no cache) and reads the widget's performance marks:

* page → painted: navigation start to the first frame after the widget's thread is built
  (HTML, embed.js, two API requests, DOM, style and layout) — what a reader waits for;
* script → painted: from embed.js starting to that frame;
* data → painted / DOM built: from the JSON arriving (the widget's own cost).

The page size defaults to 100 so that the first render really shows all N comments.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from sample_comments import comment_text  # noqa: E402

from rostra.domain.labels import LABELS  # noqa: E402
from rostra.moderation.fast import FastModel, save_fast_model  # noqa: E402

CHROMIUM = os.environ.get("ROSTRA_TEST_CHROMIUM", "/usr/bin/chromium")
TARGET_MS = 300.0


def write_quiet_model(out_dir: Path) -> None:
    """A fast-tier model whose scores are all ~0, so every seeded comment is published."""
    n_features = (1 << 8) + (1 << 8)
    save_fast_model(
        FastModel(
            char_orders=(3,), char_bits=8, word_bits=8,
            weights=np.zeros((n_features, len(LABELS)), np.float32),
            bias=np.full(len(LABELS), -12.0, np.float32),
            idf=np.ones(n_features, np.float32),
            calib_a=np.ones(len(LABELS), np.float32), calib_b=np.zeros(len(LABELS), np.float32),
            meta={"name": "quiet bench model"},
        ),
        out_dir / "fast",
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path, port: int, page_size: int) -> tuple[subprocess.Popen[bytes], dict]:
    write_quiet_model(workdir / "models")
    env = {
        **os.environ,
        "ROSTRA_DATABASE_URL": f"sqlite:///{workdir}/rostra.db",
        "ROSTRA_SECRET_KEY": "bench-secret-key-0123456789",
        "ROSTRA_DEV_MODE": "1",
        "ROSTRA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ROSTRA_RATE_LIMITS_ENABLED": "0",
        "ROSTRA_MODEL_DIR": str(workdir / "models"),
        "ROSTRA_MODERATION_TIER": "fast",
        "ROSTRA_PAGE_SIZE": str(page_size),
    }
    run = [sys.executable, "-m", "rostra"]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*run, "site", "add", "demo", "--name", "The Daily Demo", "--origin",
                    f"http://127.0.0.1:{port}"], env=env, check=True, capture_output=True)
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen([*run, "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json").status_code == 200:
                return server, env
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("rostra serve did not start; see " + str(workdir / "server.log"))


def seed(base: str, comments: int) -> None:
    """N comments on the demo story: every fifth a reply to an earlier top-level comment."""
    story_url = f"{base}/demo"
    top: list[int] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(comments):
            payload: dict[str, object] = {
                "body": comment_text(i), "url": story_url, "title": "Council budget",
                "name": f"Reader {i % 37}",
            }
            if i % 5 == 4 and top:
                payload["parent_id"] = top[(i * 7) % len(top)]
            response = client.post("/api/v1/sites/demo/comments", json=payload)
            response.raise_for_status()
            if response.json()["status"] != "published":
                raise SystemExit(f"comment {i} was held; the bench needs all published")
            if "parent_id" not in payload:
                top.append(response.json()["id"])


MARKS = """() => {
    const at = name => (performance.getEntriesByName(name)[0] || {}).startTime;
    return {start: at('rostra-start'), data: at('rostra-data'), rendered: at('rostra-rendered'),
            painted: at('rostra-painted'),
            articles: document.getElementById('rostra-comments').shadowRoot
                .querySelectorAll('article').length};
}"""


def measure(base: str, runs: int, expected: int) -> list[dict[str, float]]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        for run in range(runs + 1):  # the first run warms the server up and is not counted
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{base}/demo")
            page.wait_for_function(
                "() => performance.getEntriesByName('rostra-painted').length > 0",
                timeout=30_000)
            marks = page.evaluate(MARKS)
            context.close()
            if marks["articles"] < expected:
                raise SystemExit(f"only {marks['articles']} comments rendered, not {expected}")
            if run:
                results.append(marks)
        browser.close()
    return results


def summary(label: str, values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return (f"{label:<22} median {statistics.median(values):7.1f} ms   p90 {p90:7.1f} ms   "
            f"min {values[0]:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=100)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--page-size", type=int, default=100,
                        help="top-level comments in the first page (server setting)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rostra-widget-bench-") as tmp:
        port = free_port()
        server, _ = start_server(Path(tmp), port, args.page_size)
        base = f"http://127.0.0.1:{port}"
        try:
            seed(base, args.comments)
            top_level = args.comments - args.comments // 5
            shown = min(top_level, args.page_size) + (args.comments - top_level
                                                      if args.page_size >= top_level else 0)
            results = measure(base, args.runs, min(shown, args.comments))
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"widget first render: {args.comments} comments ({args.comments // 5} replies), "
          f"page size {args.page_size}, {args.runs} cold loads in headless Chromium")
    print(f"articles rendered: {int(results[0]['articles'])}")
    page_ms = [r["painted"] for r in results]
    print(summary("page -> painted", page_ms))
    print(summary("script -> painted", [r["painted"] - r["start"] for r in results]))
    print(summary("data -> painted", [r["painted"] - r["data"] for r in results]))
    print(summary("data -> DOM built", [r["rendered"] - r["data"] for r in results]))
    load = os.getloadavg()[0]
    verdict = "meets" if statistics.median(page_ms) < TARGET_MS else "misses"
    print(f"target < {TARGET_MS:.0f} ms (page -> painted, median): {verdict} "
          f"(load average {load:.1f} on {os.cpu_count()} CPUs during the run)")


if __name__ == "__main__":
    main()
