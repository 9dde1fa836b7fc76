"""Benchmark: first render of a 100-comment thread by the widget in headless Chromium.

    python bench/widget_render.py                  # 100 comments (20 % replies), 15 cold loads
    python bench/widget_render.py --page-size 100  # the first page holds every comment
    python bench/widget_render.py --profile        # plus where the time goes, for one load

A ``rostra serve`` on 127.0.0.1 with its own SQLite database gets a story seeded through the
API (guest posts of about 300 characters of Markdown, every one published: the server scores
with a model that never objects, so the thread really has N comments). The publisher is a
static web server on another port, so another origin: it serves the /demo news article and
its stylesheet, with the comment-count script and the publisher snippet pointing at Rostra,
exactly as a newspaper would embed the widget. Each load is a fresh browser context (no HTTP
cache, no open connections) and reads the page's performance entries:

* page -> painted: the host page's navigation start to the first frame after the widget's
  thread is in the DOM (the widget marks ``rostra-painted`` in a task queued from
  requestAnimationFrame, i.e. after that frame's style, layout and paint) — what a reader
  waits for before the comments are on screen;
* script -> painted: from embed.js starting to run to that frame;
* data -> painted: from the first page's JSON in hand to that frame (the widget's own cost).

Side by side, the same article without the snippet: its first contentful paint is the floor
no widget can beat (navigation, HTML, the publisher's stylesheet).
"""

from __future__ import annotations

import argparse
import json
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
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
TARGET_MS = 300.0
SITE = "demo"
STORY_PATH = "/2026/11/council-budget.html"


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


class Publisher:
    """The newspaper: a static web server of its own (another process, port and origin)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.origin = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
             "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.origin + "/")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("the publisher's web server did not start") from None
                time.sleep(0.1)

    def publish(self, rostra: str) -> tuple[str, str]:
        """The /demo article with its stylesheet, its scripts pointing at ``rostra``: with the
        comments snippet, and without it."""
        html = httpx.get(f"{rostra}/demo").text
        (self.root / "demo.css").write_bytes(httpx.get(f"{rostra}/embed/demo.css").content)
        for old, new in ((f'"{rostra}/demo"', f'"{self.origin}{STORY_PATH}"'),
                         ('"/embed/demo.css"', '"/demo.css"'),
                         ('"/embed.js"', f'"{rostra}/embed.js"'),
                         ('"/count.js"', f'"{rostra}/count.js"')):
            if old not in html:
                raise SystemExit(f"the demo page no longer has {old}; update the bench")
            html = html.replace(old, new)
        start = html.index("<!-- The publisher's snippet: -->")
        end = html.index("</script>", start) + len("</script>")
        article = self.root / STORY_PATH.lstrip("/")
        article.parent.mkdir(parents=True, exist_ok=True)
        article.write_text(html, encoding="utf-8")
        (article.parent / "without-comments.html").write_text(html[:start] + html[end:],
                                                              encoding="utf-8")
        base = self.origin + STORY_PATH.rsplit("/", 1)[0]
        return f"{self.origin}{STORY_PATH}", f"{base}/without-comments.html"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


def start_server(workdir: Path, port: int, page_size: int | None,
                 publisher: str) -> subprocess.Popen[bytes]:
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
    }
    if page_size is not None:
        env["ROSTRA_PAGE_SIZE"] = str(page_size)
    run = [sys.executable, "-m", "rostra"]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*run, "site", "add", SITE, "--name", "The Daily Demo", "--origin",
                    publisher], env=env, check=True, capture_output=True)
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen([*run, "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json").status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("rostra serve did not start; see " + str(workdir / "server.log"))


def seed(base: str, story_url: str, comments: int) -> None:
    """N comments on the story: every fifth a reply to an earlier top-level comment."""
    top: list[int] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(comments):
            payload: dict[str, object] = {
                "body": comment_text(i), "url": story_url, "title": "Council budget",
                "name": f"Reader {i % 37}",
            }
            if i % 5 == 4 and top:
                payload["parent_id"] = top[(i * 7) % len(top)]
            response = client.post(f"/api/v1/sites/{SITE}/comments", json=payload)
            response.raise_for_status()
            if response.json()["status"] != "published":
                raise SystemExit(f"comment {i} was held; the bench needs all published")
            if "parent_id" not in payload:
                top.append(response.json()["id"])


MARKS = """() => {
    const at = name => (performance.getEntriesByName(name)[0] || {}).startTime;
    const root = document.getElementById('rostra-comments').shadowRoot;
    return {start: at('rostra-start'), data: at('rostra-data'), rendered: at('rostra-rendered'),
            painted: at('rostra-painted'), fcp: at('first-contentful-paint'),
            articles: root.querySelectorAll('article').length};
}"""
PAINTED = ("() => performance.getEntriesByName('rostra-painted').length > 0"
           " && performance.getEntriesByName('first-contentful-paint').length > 0")
FCP = "() => performance.getEntriesByName('first-contentful-paint').length > 0"


def measure(article: str, reference: str, runs: int) -> tuple[list[dict], list[float]]:
    """``runs`` cold loads of the article and of the article without comments, alternated."""
    from playwright.sync_api import sync_playwright

    results, reference_fcp = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for run in range(runs + 1):  # the first round warms the servers up and is not counted
            context = browser.new_context()
            page = context.new_page()
            page.goto(article)
            page.wait_for_function(PAINTED, timeout=30_000)
            marks = page.evaluate(MARKS)
            context.close()
            context = browser.new_context()
            page = context.new_page()
            page.goto(reference)
            page.wait_for_function(FCP, timeout=30_000)
            fcp = page.evaluate("() => performance.getEntriesByName('first-contentful-paint')"
                                "[0].startTime")
            context.close()
            if run:
                results.append(marks)
                reference_fcp.append(fcp)
        browser.close()
    return results, reference_fcp


# --- --profile: where the time of one load goes ---------------------------------------------

MAIN_THREAD_EVENTS = {
    "EvaluateScript": "script (compile and run embed.js)",
    "v8.compile": "script (compile and run embed.js)",
    "FunctionCall": "callbacks (fetch, timers, frames)",
    "RunMicrotasks": "promise callbacks (JSON, building the DOM)",
    "ParseHTML": "HTML parsing",
    "UpdateLayoutTree": "style",
    "Layout": "layout",
    "PrePaint": "paint",
    "Paint": "paint",
    "Layerize": "paint",
    "MinorGC": "garbage collection",
    "MajorGC": "garbage collection",
}


def profile(article: str) -> None:
    """One cold load with the network and a DevTools timeline trace recorded."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        requests: dict[str, dict] = {}
        cdp.on("Network.requestWillBeSent", lambda e: requests.setdefault(
            e["requestId"], {"url": e["request"]["url"], "method": e["request"]["method"],
                             "sent": e["timestamp"]}))
        cdp.on("Network.responseReceived", lambda e: requests.get(e["requestId"], {}).update(
            timing=e["response"].get("timing"), status=e["response"]["status"]))
        cdp.on("Network.loadingFinished", lambda e: requests.get(e["requestId"], {}).update(
            done=e["timestamp"], size=e["encodedDataLength"]))
        trace = Path(tmp) / "trace.json"
        browser.start_tracing(page=page, path=str(trace),
                              categories=["devtools.timeline", "blink.user_timing", "v8.execute"])
        page.goto(article)
        page.wait_for_function(PAINTED, timeout=30_000)
        time.sleep(0.3)  # let the network events of the load arrive
        marks = page.evaluate(MARKS)
        browser.stop_tracing()
        events = json.loads(trace.read_text())
        context.close()
        browser.close()
    print("\nprofile of one cold load (ms from the host page's navigation start):")
    for name in ("fcp", "start", "data", "rendered", "painted"):
        print(f"  {name:<10} {marks[name]:7.1f}")
    # CDP timestamps are monotonic seconds; the navigation request is the zero.
    nav = min(r["sent"] for r in requests.values())
    print("  requests: asked, connected, sent, answer starts, done (ms); bytes on the wire")
    for r in sorted(requests.values(), key=lambda r: r["sent"]):
        timing = r.get("timing") or {}
        at = (timing.get("requestTime", r["sent"]) - nav) * 1000

        def step(name: str, timing: dict = timing, at: float = at) -> str:
            value = timing.get(name, -1)
            return f"{at + value:7.1f}" if value >= 0 else "      -"

        done = f"{(r['done'] - nav) * 1000:7.1f}" if "done" in r else "      -"
        print(f"    {(r['sent'] - nav) * 1000:7.1f} {step('connectEnd')} {step('sendEnd')} "
              f"{step('receiveHeadersEnd')} {done} {r.get('size', 0):7.0f}  "
              f"{r['method']} {r['url'][:90]}")
    trace_events = events["traceEvents"] if isinstance(events, dict) else events
    print("  renderer main thread, ms of work by phase (outermost events only):")
    for line in main_thread_table(trace_events, marks):
        print("    " + line)


def main_thread_table(trace_events: list[dict], marks: dict[str, float]) -> list[str]:
    """The page's main-thread work by kind, split at the widget's marks into phases."""
    threads = {(e["pid"], e["tid"]) for e in trace_events
               if e.get("ph") == "M" and e.get("args", {}).get("name") == "CrRendererMain"}
    starts = [e["ts"] for e in trace_events
              if e.get("name") == "rostra-start" and (e.get("pid"), e.get("tid")) in threads]
    if not starts:
        return ["(no rostra-start mark in the trace)"]
    zero = starts[0] / 1000 - marks["start"]  # trace time (ms) of the navigation start
    phases = [("until embed.js", 0.0, marks["start"]),
              ("waiting data", marks["start"], marks["data"]),
              ("building DOM", marks["data"], marks["rendered"]),
              ("to the frame", marks["rendered"], marks["painted"])]
    table: dict[str, list[float]] = {}
    covered_until = -1.0
    for e in sorted((e for e in trace_events if (e.get("pid"), e.get("tid")) in threads
                     and e.get("ph") == "X" and e["name"] in MAIN_THREAD_EVENTS),
                    key=lambda e: e["ts"]):
        begin = e["ts"] / 1000 - zero
        end = begin + e.get("dur", 0) / 1000
        if begin < covered_until:
            continue  # nested in an event already counted
        covered_until = end
        row = table.setdefault(MAIN_THREAD_EVENTS[e["name"]], [0.0] * len(phases))
        for i, (_, low, high) in enumerate(phases):
            row[i] += max(0.0, min(end, high) - max(begin, low))
    lines = [f"{'':<45}" + "".join(f"{name:>15}" for name, _, _ in phases)]
    for kind, row in sorted(table.items(), key=lambda item: -sum(item[1])):
        lines.append(f"{kind:<45}" + "".join(f"{ms:15.1f}" for ms in row))
    lines.append(f"{'phase length':<45}" + "".join(f"{high - low:15.1f}"
                                                   for _, low, high in phases))
    return lines


def summary(label: str, values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return (f"{label:<28} median {statistics.median(values):7.1f} ms   p90 {p90:7.1f} ms   "
            f"min {values[0]:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=100)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--page-size", type=int, default=None,
                        help="top-level comments in the first page (server setting; "
                             "default: the server's default)")
    parser.add_argument("--at-comments", action="store_true",
                        help="open the article scrolled to the comments (#rostra-comments)")
    parser.add_argument("--profile", action="store_true",
                        help="also print the requests and main-thread time of one load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rostra-widget-bench-") as tmp:
        publisher = Publisher(Path(tmp) / "publisher")
        try:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_server(Path(tmp), port, args.page_size, publisher.origin)
            try:
                article, reference = publisher.publish(base)
                seed(base, article, args.comments)
                page_size = httpx.get(f"{base}/api/v1/sites/{SITE}/widget").json()["page_size"]
                if args.at_comments:
                    article += "#rostra-comments"
                results, reference_fcp = measure(article, reference, args.runs)
                if args.profile:
                    profile(article)
            finally:
                server.terminate()
                server.wait(timeout=15)
        finally:
            publisher.close()
    default = "" if args.page_size else " (the server's default)"
    print(f"widget first render: {args.comments} comments ({args.comments // 5} replies), "
          f"first page of {page_size} top-level comments{default}, {args.runs} cold loads in "
          f"headless Chromium (fresh context each: no cache, no open connections)")
    where = "scrolled to the comments" if args.at_comments else "at its top"
    print(f"host page on another origin (the /demo article with the publisher snippet), opened "
          f"{where}; times from its navigation start")
    print(f"comments on screen after the first render: {int(results[0]['articles'])} "
          f"of {args.comments}")
    page_ms = [r["painted"] for r in results]
    print(summary("page -> thread painted", page_ms))
    print(summary("script -> thread painted", [r["painted"] - r["start"] for r in results]))
    print(summary("data -> thread painted", [r["painted"] - r["data"] for r in results]))
    print(summary("data -> DOM built", [r["rendered"] - r["data"] for r in results]))
    print(summary("page -> article painted (FCP)", [r["fcp"] for r in results]))
    print(summary("reference: article alone, FCP", reference_fcp))
    ratio = statistics.median(page_ms) / statistics.median(reference_fcp)
    print(f"thread painted / article alone painted (medians): {ratio:.2f}x")
    load = os.getloadavg()[0]
    verdict = "meets" if statistics.median(page_ms) < TARGET_MS else "misses"
    print(f"target < {TARGET_MS:.0f} ms (page -> thread painted, median): {verdict} "
          f"(load average {load:.1f} on {os.cpu_count()} CPUs during the run)")


if __name__ == "__main__":
    main()
