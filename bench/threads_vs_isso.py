"""Rostra against Isso, side by side in one run: reading threads and posting comments.

Starts Isso 0.14 under gunicorn (as its docs recommend) and ``rostra serve`` on free ports of
127.0.0.1, seeds the same comments into both through their own HTTP APIs, then measures each
operation with wrk (2 and 32 connections, each run bounded in time) and prints requests/s,
p50/p99 latency, the Rostra/Isso ratio per row, and each server's resident memory. Posts are
also sent to a third server that only validates and scores them (``post_bound.py``): what one
process could reach if storing, signing and rendering a post cost nothing.

    python bench/threads_vs_isso.py            # N = 10, 100, 1000, 5000; 10 s per run
    python bench/threads_vs_isso.py --quick    # N = 10, 1000; 3 s per run

Rate limits are switched off on both servers for seeding and measuring (Isso: ``[guard]
enabled = false``; Rostra: ``ROSTRA_RATE_LIMITS_ENABLED=0``). Rostra keeps its moderation on:
every seeded and every measured post goes through the engine, as it does in production.
Not a test: it needs wrk (Debian package ``wrk``), ``isso`` and ``gunicorn``, and minutes. Isso
and gunicorn may live in a virtual environment of their own: the script runs the ``gunicorn``
it finds on PATH. ``--rostra-database-url`` runs Rostra on an empty PostgreSQL database instead
of SQLite (with ``--rostra-workers`` for more processes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from urllib.parse import quote

import httpx
from processes import memory_kb, process_tree  # bench/ is on sys.path when this script runs
from sample_comments import comment_text
from sqlalchemy import text
from wrk import WrkResult, post_script, run_wrk

ORIGIN = "http://news.example.test"  # the publisher's site: Isso's `host`, Rostra's origin
SITE = "bench"
BOUND = "post, engine only"
REPLY_SHARE = 0.2


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> list[int]:
        """The launched process and every descendant (gunicorn or uvicorn workers)."""
        return process_tree(self.process.pid)

    def memory_mb(self) -> tuple[float, float, int]:
        """(RSS now, sum of each process's peak RSS) in MB, and the number of processes."""
        pids = self.pids()
        usage = [memory_kb(pid) for pid in pids]
        rss = sum(u.get("VmRSS", 0) for u in usage)
        peak = sum(u.get("VmHWM", 0) for u in usage)
        return rss / 1024, peak / 1024, len(pids)

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
        return total / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, limit: float = 180.0) -> None:
        """Wait until requests that wrk abandoned at the end of a run are done."""
        deadline = time.monotonic() + limit
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.cpu_seconds()
            if now - last < 0.03:
                return
            last = now


# -- starting and stopping ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(server: Server, path: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text()[-3000:]
            sys.exit(f"{server.name} exited at start-up; the end of its log:\n{tail}")
        try:
            if httpx.get(server.base + path, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit(f"{server.name} did not answer within {timeout:.0f} s; log in {server.log}")


@contextmanager
def running(name: str, argv: list[str], env: dict[str, str], port: int, workdir: Path,
            ready_path: str) -> Iterator[Server]:
    log = workdir / f"{name.lower()}.log"
    with log.open("wb") as out:
        # A session of its own, so that stopping it stops all its workers and nothing else.
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=workdir, start_new_session=True)
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        wait_up(server, ready_path)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def isso_config(workdir: Path) -> Path:
    path = workdir / "isso.cfg"
    path.write_text(f"""[general]
dbpath = {workdir / 'isso.db'}
host = {ORIGIN}
max-age = 15m
notify = stdout
gravatar = false

[moderation]
enabled = false

[guard]
enabled = false

[markup]
renderer = mistune
""")
    return path


def start_isso(stack: ExitStack, workdir: Path, workers: int) -> Server:
    port = free_port()
    env = dict(os.environ, ISSO_SETTINGS=str(isso_config(workdir)))
    argv = [shutil.which("gunicorn") or "gunicorn", "-b", f"127.0.0.1:{port}", "-w",
            str(workers), "--preload", "--timeout", "600", "isso.run"]
    # --timeout 600: a 5,000-comment read takes seconds; gunicorn's default 30 s would kill
    # busy Isso workers and make Isso look worse than it is.
    return stack.enter_context(running("Isso", argv, env, port, workdir, "/info"))


def rostra_env(workdir: Path, model_dir: str | None, database_url: str | None) -> dict[str, str]:
    env = dict(os.environ,
               ROSTRA_DATABASE_URL=database_url or f"sqlite:///{workdir / 'rostra.db'}",
               ROSTRA_SECRET_KEY=secrets.token_urlsafe(32),
               ROSTRA_RATE_LIMITS_ENABLED="0",
               ROSTRA_DEV_MODE="1")
    env.pop("ROSTRA_CONFIG", None)
    if model_dir:
        env["ROSTRA_MODEL_DIR"] = model_dir
    return env


def start_rostra(stack: ExitStack, workdir: Path, workers: int, model_dir: str | None,
                 database_url: str | None) -> Server:
    port = free_port()
    env = rostra_env(workdir, model_dir, database_url)
    env["ROSTRA_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    rostra = [sys.executable, "-m", "rostra"]
    subprocess.run([*rostra, "db", "upgrade"], env=env, cwd=workdir, check=True,
                   capture_output=True)
    subprocess.run([*rostra, "site", "add", SITE, "--name", "Benchmark News", "--origin",
                    ORIGIN], env=env, cwd=workdir, check=True, capture_output=True)
    argv = [*rostra, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
            str(workers)]
    return stack.enter_context(running("Rostra", argv, env, port, workdir,
                                       f"/api/v1/sites/{SITE}/counts?url={quote(ORIGIN)}/"))


def start_bound(stack: ExitStack, workdir: Path, model_dir: str | None) -> Server:
    """bench/post_bound.py in one Uvicorn process: validate and score each post, store nothing."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent))
    if model_dir:
        env["ROSTRA_MODEL_DIR"] = model_dir
    argv = [sys.executable, "-m", "uvicorn", "post_bound:create_app", "--factory", "--host",
            "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return stack.enter_context(running("Engine-only", argv, env, port, workdir, "/ready"))


# -- seeding through each server's API ----------------------------------------------------


@dataclass
class Story:
    n: int
    path: str                 # "/bench/story-1000"
    rostra_id: int = 0
    published: int = 0        # Rostra: comments the engine let through

    @property
    def url(self) -> str:
        return ORIGIN + self.path


Post = Callable[[httpx.Client, Story, int, int | None], int | None]


def post_isso(client: httpx.Client, story: Story, i: int, parent: int | None) -> int | None:
    body = {"text": comment_text(story.n * 100_000 + i), "author": f"Reader {i}",
            "parent": parent, "title": f"Story with {story.n} comments"}
    r = client.post(f"/new?uri={quote(story.path)}", json=body)
    if r.status_code != 201:
        raise RuntimeError(f"Isso refused a comment: {r.status_code} {r.text[:200]}")
    return int(r.json()["id"])


def post_rostra(client: httpx.Client, story: Story, i: int, parent: int | None) -> int | None:
    """The new comment's id, or None when the engine held it (no replies to those)."""
    body = {"body": comment_text(story.n * 100_000 + i), "name": f"Reader {i}",
            "url": story.url, "title": f"Story with {story.n} comments", "parent_id": parent}
    r = client.post(f"/api/v1/sites/{SITE}/comments", json=body)
    if r.status_code != 201:
        raise RuntimeError(f"Rostra refused a comment: {r.status_code} {r.text[:200]}")
    out = r.json()
    story.rostra_id = out["story_id"]
    if out["status"] != "published":
        return None
    story.published += 1
    return int(out["id"])


def seed(server: Server, post: Post, story: Story, threads: int) -> float:
    """N comments: 80 % top-level, then replies in two waves (to top-level comments, then to
    any earlier comment) so that threads nest two levels deep. Parents are drawn the same way
    on both servers; a comment the engine held is replaced by the next shown one. Returns
    posts per second."""
    rng = random.Random(story.n)
    replies = round(story.n * REPLY_SHARE)
    tops = story.n - replies
    wave = replies // 2
    picks_1 = [rng.random() for _ in range(wave)]
    picks_2 = [rng.random() for _ in range(replies - wave)]

    def parent(ids: list[int | None], pick: float) -> int | None:
        shown = [i for i in ids if i is not None]
        return shown[int(pick * len(shown))] if shown else None

    start = time.perf_counter()
    # No cookie jar: every post is a new reader (Isso's cookies would pile up in the headers).
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    with httpx.Client(base_url=server.base, timeout=120, cookies=no_cookies) as client, \
            ThreadPoolExecutor(threads) as pool:
        # The first post alone: it creates the thread (Isso's workers race to create it).
        ids = [post(client, story, 0, None)]
        ids += pool.map(lambda i: post(client, story, i, None), range(1, tops))
        first = list(pool.map(lambda a: post(client, story, a[0], parent(ids, a[1])),
                              zip(range(tops, tops + wave), picks_1, strict=True)))
        earlier = ids + first
        list(pool.map(lambda a: post(client, story, a[0], parent(earlier, a[1])),
                      zip(range(tops + wave, story.n), picks_2, strict=True)))
    return story.n / (time.perf_counter() - start)


# -- measuring ----------------------------------------------------------------------------


@dataclass
class Row:
    operation: str
    n: int | None
    connections: int
    isso: WrkResult | None
    rostra: WrkResult | None

    @property
    def ratio(self) -> float | None:
        if not (self.isso and self.rostra and self.isso.rps > 0):
            return None
        return self.rostra.rps / self.isso.rps


def fmt_ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.2f}"


def fmt_result(result: WrkResult | None) -> str:
    if result is None:
        return f"{'skipped':>9} {'':>7} {'':>7} {'':>7}"
    rps = f"{result.rps:9.1f}" if result.rps >= 10 else f"{result.rps:9.2f}"
    return (f"{rps} {fmt_ms(result.p50):>7} {fmt_ms(result.p99):>7} "
            f"{fmt_ms(result.cpu_ms / 1000 if result.cpu_ms is not None else None):>7}")


def print_row(row: Row) -> None:
    ratio = f"{row.ratio:7.1f}x" if row.ratio is not None else f"{'-':>8}"
    n = "" if row.n is None else str(row.n)
    notes = "; ".join(f"{name}: {r.note}" for name, r in (("Isso", row.isso),
                                                           ("Rostra", row.rostra))
                      if r is not None and r.note)
    print(f"{row.operation:<19} {n:>5} {row.connections:>4} | {fmt_result(row.isso)} | "
          f"{fmt_result(row.rostra)} | {ratio}  {notes}", flush=True)


HEADER = (f"{'operation':<19} {'N':>5} {'conn':>4} | {'Isso r/s':>9} {'p50':>7} {'p99':>7}"
          f" {'cpu/req':>7} | {'Rostra r/s':>9} {'p50':>7} {'p99':>7} {'cpu/req':>7} |"
          f" {'R/I r/s':>8}")


def measure(server: Server, url: str, connections: int, duration: float,
            script: Path | None = None) -> WrkResult:
    """One wrk run; also the server's CPU time per finished request, which a busy shared
    machine distorts less than requests/s (work on requests cut off at the end counts too)."""
    server.wait_idle()
    cpu = server.cpu_seconds()
    result = run_wrk(url, connections=connections, duration=duration, script=script)
    if result.requests:
        result.cpu_ms = (server.cpu_seconds() - cpu) * 1000 / result.requests
    return result


def probe_seconds(url: str) -> float:
    start = time.perf_counter()
    r = httpx.get(url, timeout=600)
    r.raise_for_status()
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> int:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt install wrk)")
    sizes = args.sizes or ([10, 1000] if args.quick else [10, 100, 1000, 5000])
    duration = args.duration or (3.0 if args.quick else 10.0)
    conns = [2, 32]
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="rostra-vs-isso-"))
        if not args.keep:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        isso = start_isso(stack, workdir, args.isso_workers)
        rostra = start_rostra(stack, workdir, args.rostra_workers, args.model_dir,
                              args.rostra_database_url)
        load = os.getloadavg()
        print(f"# Rostra vs Isso on {platform.node()}: {os.cpu_count()} CPUs, "
              f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start")
        print(f"# Isso 0.14: gunicorn, {args.isso_workers} workers, SQLite, [guard] off, "
              f"moderation off. Rostra: rostra serve, {args.rostra_workers} worker(s), "
              f"{'PostgreSQL' if args.rostra_database_url else 'SQLite'}, "
              "ROSTRA_RATE_LIMITS_ENABLED=0, moderation engine on (default tier).")
        print(f"# Rate limits are OFF on both servers. wrk: {duration:g} s per run, "
              f"{min(conns)} threads; working files in {workdir}")

        stories = [Story(n, f"/bench/story-{n}") for n in sizes]
        for story in stories:
            isso_rate = seed(isso, post_isso, story, args.seed_threads)
            rostra_rate = seed(rostra, post_rostra, story, args.seed_threads)
            isso_count = httpx.get(f"{isso.base}/?uri={quote(story.path)}",
                                   timeout=600).json()["total_replies"]
            rostra_count = httpx.get(f"{rostra.base}/api/v1/sites/{SITE}/stories/"
                                     f"{story.rostra_id}/comments/all").json()["count"]
            print(f"# seeded N={story.n}: Isso {isso_rate:.0f} posts/s, shows {isso_count}; "
                  f"Rostra {rostra_rate:.0f} posts/s, shows {rostra_count} "
                  f"({story.n - story.published} held by the engine)", flush=True)

        print()
        print("# r/s: requests per second; p50, p99: latency in ms; cpu/req: the server's CPU "
              "ms per request")
        print(HEADER)
        print("-" * len(HEADER))
        rows: list[Row] = []

        def compare(operation: str, n: int | None, isso_url: str | None, rostra_url: str,
                    scripts: tuple[Path | None, Path | None] = (None, None)) -> None:
            isso_slow = 0.0
            if isso_url is not None and scripts[0] is None:
                isso_slow = probe_seconds(isso_url)
            for c in conns:
                isso_result = None
                if isso_url is not None and not (c > 2 and isso_slow > duration / 8):
                    # Slower than that, 32 connections only queue behind 4 workers and few
                    # requests would finish within the run. Slow runs get time for a few.
                    span = min(max(duration, 4 * isso_slow), 120.0)
                    isso_result = measure(isso, isso_url, c, span, scripts[0])
                rostra_result = measure(rostra, rostra_url, c, duration, scripts[1])
                row = Row(operation, n, c, isso_result, rostra_result)
                rows.append(row)
                print_row(row)

        for story in stories:
            compare("whole thread", story.n, f"{isso.base}/?uri={quote(story.path)}",
                    f"{rostra.base}/api/v1/sites/{SITE}/stories/{story.rostra_id}/comments/all")
        for story in stories:
            compare("first page", story.n,
                    f"{isso.base}/?uri={quote(story.path)}&nested_limit=5",
                    f"{rostra.base}/api/v1/sites/{SITE}/thread?url={quote(story.url, safe='')}")
        post_story = Story(0, "/bench/posts")
        for server, post in ((isso, post_isso), (rostra, post_rostra)):
            with httpx.Client(base_url=server.base, timeout=120) as client:
                post(client, post_story, 0, None)  # the story exists before the races begin
        isso_lua = post_script(workdir / "isso-post.lua", f"/new?uri={quote(post_story.path)}",
                               "text", {"author": "Reader", "title": "Posts"})
        rostra_lua = post_script(workdir / "rostra-post.lua", f"/api/v1/sites/{SITE}/comments",
                                 "body", {"name": "Reader", "url": post_story.url,
                                          "title": "Posts"})
        compare("post a comment", None, isso.base + "/", rostra.base + "/", (isso_lua, rostra_lua))
        bound = start_bound(stack, workdir, args.model_dir)
        for c in conns:
            isso_posts = next(r.isso for r in rows
                              if r.operation == "post a comment" and r.connections == c)
            row = Row(BOUND, None, c, isso_posts, measure(bound, bound.base + "/", c, duration,
                                                          rostra_lua))
            rows.append(row)
            print_row(row)
        print(f"# {BOUND}: one Uvicorn process that validates each post and scores it with "
              "Rostra's engine, storing nothing (bench/post_bound.py); its Isso column repeats "
              "Isso's post row")

        print()
        memory = {}
        for server in (isso, rostra, bound):
            rss, peak, count = server.memory_mb()
            memory[server.name] = rss
            print(f"# {server.name} memory: RSS {rss:.0f} MB now, peak {peak:.0f} MB "
                  f"(sum over {count} processes)")
        print(tier_share(args.rostra_database_url or f"sqlite:///{workdir / 'rostra.db'}"))
        print()
        for line in targets(rows, memory["Rostra"]):
            print(line)
        print(bound_line(rows, memory[bound.name]))
        load = os.getloadavg()
        print(f"# load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
        if args.json:
            Path(args.json).write_text(json.dumps([row_json(r) for r in rows], indent=1))
    return 0


def tier_share(database_url: str) -> str:
    """Which tier of Rostra's engine scored the posts (seeded and measured): with the default
    ``cascade``, the accurate tier only sees what the fast tier was unsure about."""
    from rostra.storage.database import make_engine  # the bench runs in Rostra's environment

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT tier, count(*) FROM signals WHERE NOT shadow "
                                     "GROUP BY tier")).all()
        counts: dict[str, int] = {tier: n for tier, n in rows}
    finally:
        engine.dispose()
    total = sum(counts.values())
    accurate = counts.get("accurate", 0)
    share = 100 * accurate / total if total else 0.0
    return (f"# Rostra's engine scored {total} posts: {counts.get('fast', 0)} by the fast tier "
            f"alone, {accurate} went on to the accurate tier ({share:.1f} %)")


def best(rows: list[Row], operation: str, n: int | None, server: str) -> float | None:
    """The server's best requests/s for an operation over the connection counts."""
    rates = [getattr(r, server).rps for r in rows
             if r.operation == operation and r.n == n and getattr(r, server) is not None]
    return max(rates) if rates else None


def targets(rows: list[Row], rostra_rss: float) -> list[str]:
    """The issue's targets, each server at its best connection count."""
    def check(label: str, rostra: float | None, isso: float | None, factor: float) -> str:
        if rostra is None or not isso:
            return f"# target {label}: not measured"
        ratio = rostra / isso
        verdict = "met" if ratio >= factor else "MISSED"
        return f"# target {label} >= {factor:g}x Isso: {ratio:.1f}x, {verdict}"

    lines = []
    for n in (1000, 5000):
        lines.append(check(f"whole thread N={n}", best(rows, "whole thread", n, "rostra"),
                           best(rows, "whole thread", n, "isso"), 20))
    lines.append(check("first page N=1000 vs Isso's whole thread",
                       best(rows, "first page", 1000, "rostra"),
                       best(rows, "whole thread", 1000, "isso"), 100))
    lines.append(check("posts", best(rows, "post a comment", None, "rostra"),
                       best(rows, "post a comment", None, "isso"), 4))
    verdict = "met" if rostra_rss < 250 else "MISSED"
    lines.append(f"# target Rostra RSS < 250 MB: {rostra_rss:.0f} MB, {verdict}")
    return lines


def bound_line(rows: list[Row], rss: float) -> str:
    """What one process could reach if a post did nothing but validate and score (issue 3:
    'if a target looks unreachable, say what bounds it')."""
    bound = best(rows, BOUND, None, "rostra")
    isso = best(rows, "post a comment", None, "isso")
    if not bound or not isso:
        return f"# bound: {BOUND} not measured"
    cpus = os.cpu_count() or 1
    budget = 1000 * cpus / (4 * isso)  # ms of CPU per post with every core busy
    spent = [r.rostra.cpu_ms for r in rows if r.operation == BOUND and r.rostra is not None
             and r.rostra.cpu_ms is not None]
    least = f"{min(spent):.1f} ms" if spent else "not measured"
    return (f"# bound: {BOUND} in one process: {bound:.0f} posts/s = {bound / isso:.1f}x Isso's "
            f"posts, holding {rss:.0f} MB. 4x Isso is {4 * isso:.0f} posts/s: at most "
            f"{budget:.2f} ms of CPU per post on all {cpus} cores together (server and load "
            f"tool); scoring alone took {least}")


def row_json(row: Row) -> dict[str, object]:
    def one(r: WrkResult | None) -> dict[str, object] | None:
        return None if r is None else {"rps": r.rps, "p50": r.p50, "p99": r.p99,
                                       "errors": r.errors}
    return {"operation": row.operation, "n": row.n, "connections": row.connections,
            "isso": one(row.isso), "rostra": one(row.rostra), "ratio": row.ratio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 10, 1000 and 3 s per run")
    parser.add_argument("--sizes", type=int, nargs="+", help="comments per story")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10)")
    parser.add_argument("--isso-workers", type=int, default=4)
    parser.add_argument("--rostra-workers", type=int, default=1,
                        help="rostra serve --workers (default 1: one process keeps the "
                             "memory target; SQLite has one writer anyway)")
    parser.add_argument("--rostra-database-url",
                        help="an empty database for Rostra (default: a new SQLite file); "
                             "PostgreSQL: postgresql://user@host/db")
    parser.add_argument("--model-dir", help="Rostra model files (default: the shipped ones)")
    parser.add_argument("--seed-threads", type=int, default=8)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    args = parser.parse_args()
    # Ctrl-C or a kill: unwind the ExitStack so that both servers stop and files go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
