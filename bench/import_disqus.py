"""Benchmark: import a generated Disqus export into SQLite and PostgreSQL.

    python bench/import_disqus.py                      # 1,000,000 comments, 50,000 stories
    python bench/import_disqus.py --comments 200000 --stories 10000 --db sqlite
    python bench/import_disqus.py --score-comments 20000   # also time --score on a smaller file

Each import runs as its own process (`rostra import disqus FILE --site bench`), so the numbers
are those of the real command: comments/s is comments created divided by the command's wall
time (parsing, sanitising, writing, linking and recounting included). Peak RSS is given for
the importing process, for its other processes (files of 8 MB and more are parsed in a reader
process; multiprocessing adds a small resource tracker) and for all of them together, each
process's own peak (VmHWM) sampled from /proc; CPU is all of them together. PostgreSQL runs
in a database created for the run on 127.0.0.1:5432 (``--pg-url``) and dropped afterwards.

The peer is Isso's own Disqus import (``isso import -t disqus``, SQLite), timed on a smaller
file (``--peer-comments``; it writes row by row, at tens of comments per second) next to
Rostra's import of the same file; the last line compares both with the issue's targets.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from processes import memory_kb, process_tree  # bench/ is on sys.path when this script runs
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from rostra.storage.database import make_engine
from rostra.storage.sites import SiteStore
from rostra.storage.tables import comments, metadata

WORDS = (  # noqa: SIM905 - a sentence is easier to edit than a list of words
    "the council vote budget road harbour school tax plan mayor report week people city "
    "really think why never always more less agree wrong right issue news story point fact "
    "résumé café naïve 東京 😀 👍"
).split()
START = datetime(2015, 1, 1, tzinfo=UTC)


def generate(path: Path, n_comments: int, n_stories: int, seed: int = 7) -> None:
    """A Disqus export: threads first, then posts in time order, ~30 % of them replies."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<disqus xmlns="http://disqus.com" '
            'xmlns:dsq="http://disqus.com/disqus-internals">\n'
            '<category dsq:id="1"><forum>bench</forum><title>General</title>'
            "<isDefault>true</isDefault></category>\n"
        )
        for t in range(n_stories):
            created = (START + timedelta(hours=t)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.write(
                f'<thread dsq:id="{t + 1}"><id>story-{t}</id><forum>bench</forum>'
                f"<link>https://bench.example/{t // 1000}/story-{t}</link>"
                f"<title>Story number {t}</title><createdAt>{created}</createdAt>"
                "<isClosed>false</isClosed><isDeleted>false</isDeleted></thread>\n"
            )
        recent: dict[int, list[int]] = {}
        chunk: list[str] = []
        for c in range(n_comments):
            thread = rng.randrange(n_stories) + 1
            post_id = 1_000_000 + c
            parent = ""
            siblings = recent.setdefault(thread, [])
            if siblings and rng.random() < 0.3:
                parent = f'<parent dsq:id="{rng.choice(siblings)}"/>'
            siblings.append(post_id)
            if len(siblings) > 20:
                del siblings[0]
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 60)))
            user = rng.randrange(100_000)
            created = (START + timedelta(seconds=c * 30)).strftime("%Y-%m-%dT%H:%M:%SZ")
            deleted = "true" if rng.random() < 0.02 else "false"
            spam = "true" if rng.random() < 0.01 else "false"
            chunk.append(
                f'<post dsq:id="{post_id}"><id/><message><![CDATA[<p>{words}</p>'
                f"<p>Reply <b>{c}</b> &amp; more</p>]]></message>"
                f"<createdAt>{created}</createdAt><isDeleted>{deleted}</isDeleted>"
                f"<isSpam>{spam}</isSpam><author><email>user{user}@example.org</email>"
                f"<name>User {user}</name><isAnonymous>false</isAnonymous></author>"
                f"<ipAddress>192.0.2.{user % 250}</ipAddress>"
                f'<thread dsq:id="{thread}"/>{parent}</post>\n'
            )
            if len(chunk) >= 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
        out.write("</disqus>\n")


def _prepare(url: str) -> None:
    engine = make_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        SiteStore.create(conn, "bench", "Bench", now=datetime.now(UTC))
    engine.dispose()


def _count(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(select(func.count()).select_from(comments)).scalar_one())
    engine.dispose()
    return n


# The real command, reporting its own peak RSS (ru_maxrss, KiB on Linux) as it exits.
_CHILD = (
    "import atexit, resource, sys\n"
    "def report():\n"
    "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    children = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "    cpu = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime\n"
    "    print('PEAK_RSS_KB', usage.ru_maxrss, 'CPU_S', cpu, file=sys.stderr)\n"
    "atexit.register(report)\n"
    "from rostra.cli import main\n"
    "main(sys.argv[1:], prog_name='rostra')\n"
)


class _TreePeak(threading.Thread):
    """Samples the peak resident memory (VmHWM) of a process and all its descendants.

    Each process's VmHWM belongs to its own address space since its last exec, so a child
    started by fork + exec (the archive reader) is not charged with the parent's pages it
    held for an instant before exec, as ``getrusage(RUSAGE_CHILDREN)`` charges them.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peaks, self.done = pid, {}, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            for pid in process_tree(self.root):
                peak = memory_kb(pid).get("VmHWM")
                if peak is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), peak)

    def stop(self) -> dict[int, int]:
        self.done.set()
        self.join()
        return self.peaks


def run_import(url: str, path: Path, score: bool) -> dict[str, float]:
    _prepare(url)
    env = {**os.environ, "ROSTRA_DATABASE_URL": url, "ROSTRA_DEV_MODE": "1"}
    args = ["import", "disqus", str(path), "--site", "bench"] + (["--score"] if score else [])
    command = [sys.executable, "-c", _CHILD, *args]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    sampler = _TreePeak(process.pid)
    sampler.start()
    _, stderr = process.communicate()
    wall = time.perf_counter() - started
    peaks = sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"import failed:\n{stderr[-3000:]}")
    usage = stderr.rsplit("PEAK_RSS_KB", 1)[1].split()
    peak_kb, cpu = int(usage[0]), float(usage[2])
    others_kb = sum(kb for pid, kb in peaks.items() if pid != process.pid)
    created = _count(url)
    return {"comments": created, "seconds": wall, "per_second": created / wall,
            "peak_rss_mb": peak_kb / 1024, "reader_rss_mb": others_kb / 1024,
            "total_rss_mb": (peak_kb + others_kb) / 1024, "cpu_seconds": cpu}  # fmt: skip


def run_isso(path: Path, workdir: Path) -> dict[str, float]:
    """Isso's Disqus import of ``path`` into a fresh SQLite file, as Isso's command runs it."""
    db_path = workdir / "isso.db"
    db_path.unlink(missing_ok=True)
    config = workdir / "isso.cfg"
    config.write_text(f"[general]\ndbpath = {db_path}\nhost = http://localhost/\n")
    command = [sys.executable, "-c", _ISSO_CHILD, "-c", str(config), "import", "-t", "disqus",
               "--empty-id", str(path)]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"isso import failed:\n{result.stderr[-3000:]}")
    peak_kb = int(result.stderr.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.connect() as conn:
        created = int(conn.execute(text("SELECT count(*) FROM comments")).scalar_one())
    engine.dispose()
    return {"comments": created, "seconds": wall, "per_second": created / wall,
            "peak_rss_mb": peak_kb / 1024}  # fmt: skip


_ISSO_CHILD = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: print('PEAK_RSS_KB',"
    " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))\n"
    "from isso import main\n"
    "sys.argv = ['isso', *sys.argv[1:]]\n"
    "main()\n"
)


def _pg_database(admin_url: str) -> tuple[str, str]:
    name = f"rostra_bench_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_pg(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def bench(backend: str, path: Path, workdir: Path, pg_url: str, score: bool) -> dict[str, float]:
    if backend == "sqlite":
        db_path = workdir / f"bench-{'score' if score else 'plain'}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        try:
            return run_import(f"sqlite:///{db_path}", path, score)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    name, url = _pg_database(pg_url)
    try:
        return run_import(url, path, score)
    finally:
        _drop_pg(pg_url, name)


def compare(n_comments: int, n_stories: int, workdir: Path) -> None:
    """Isso's import and ours (SQLite) of the same file, side by side."""
    path = workdir / f"peer-{n_comments}.xml"
    generate(path, n_comments, n_stories)
    isso = run_isso(path, workdir)
    ours = bench("sqlite", path, workdir, "", False)
    print(f"peer file {n_comments:,} comments: Isso {int(isso['comments']):,} comments in "
          f"{isso['seconds']:.1f} s = {isso['per_second']:,.0f} comments/s "
          f"(peak RSS {isso['peak_rss_mb']:.0f} MB); Rostra {int(ours['comments']):,} in "
          f"{ours['seconds']:.1f} s = {ours['per_second']:,.0f} comments/s "
          f"(peak RSS {ours['peak_rss_mb']:.0f} MB); "
          f"ratio {ours['per_second'] / isso['per_second']:.1f}x", flush=True)  # fmt: skip
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=1_000_000)
    parser.add_argument("--stories", type=int, default=50_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--score-comments", type=int, default=0,
                        help="also import a file this size with --score (0: skip)")  # fmt: skip
    parser.add_argument("--peer-comments", type=int, default=2000,
                        help="file size for the Isso comparison (0: skip)")  # fmt: skip
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        runs = [(args.comments, args.stories, False)]
        if args.score_comments:
            stories = max(1, args.stories * args.score_comments // args.comments)
            runs.append((args.score_comments, stories, True))
        for n_comments, n_stories, score in runs:
            path = workdir / f"disqus-{n_comments}.xml"
            started = time.perf_counter()
            generate(path, n_comments, n_stories)
            size = path.stat().st_size / 1e6
            print(f"generated {n_comments:,} comments / {n_stories:,} stories: {size:,.0f} MB "
                  f"in {time.perf_counter() - started:.0f} s")  # fmt: skip
            for backend in backends:
                r = bench(backend, path, workdir, args.pg_url, score)
                print(f"{backend:10} scoring {'on ' if score else 'off'} "
                      f"{int(r['comments']):>9,} comments in {r['seconds']:7.1f} s = "
                      f"{r['per_second']:8,.0f} comments/s, peak RSS {r['peak_rss_mb']:4.0f} MB "
                      f"+ others {r['reader_rss_mb']:3.0f} MB = {r['total_rss_mb']:4.0f} MB, "
                      f"CPU {r['cpu_seconds']:6.1f} s "
                      f"({r['comments'] / r['cpu_seconds']:,.0f} comments per CPU-second); "
                      f"target 5,000/s: {r['per_second'] / 5000:.2f}x, "
                      f"RSS target 500 MB (all processes): "
                      f"{'met' if r['total_rss_mb'] < 500 else 'missed'} "
                      f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
                      flush=True)  # fmt: skip
            path.unlink()
        if args.peer_comments:
            compare(args.peer_comments, max(1, args.stories * args.peer_comments // args.comments),
                    workdir)  # fmt: skip


if __name__ == "__main__":
    main()
