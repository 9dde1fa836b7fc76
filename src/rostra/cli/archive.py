"""Archive commands: ``rostra import``, ``rostra export``, ``rostra forget``, ``rostra rescore``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from sqlalchemy import Engine

from rostra.actions import archive
from rostra.actions.comments import ModerationEngineLike
from rostra.archive.background import read_file
from rostra.archive.disqus import read_disqus
from rostra.archive.isso import count_isso_records, read_isso
from rostra.archive.records import ArchiveRecord
from rostra.archive.rostra_jsonl import read_rostra
from rostra.archive.wordpress import read_wordpress
from rostra.cli import main
from rostra.cli.context import friendly
from rostra.config import Settings, load_settings
from rostra.domain.sites import Site
from rostra.storage.database import make_engine
from rostra.storage.imports import BATCH_SIZE, ImportStats
from rostra.storage.sites import SiteStore

F = TypeVar("F", bound=Callable[..., Any])
STREAM_READERS: dict[str, Callable[[IO[bytes]], Iterator[ArchiveRecord]]] = {
    "disqus": read_disqus,
    "wordpress": read_wordpress,
    "rostra": read_rostra,
}

err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise click.ClickException(f"invalid settings: {messages}") from None


@contextmanager
def _database(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _site(engine: Engine, slug: str) -> Site:
    with engine.connect() as conn:
        return SiteStore.get_by_slug(conn, slug)


def _load_engine(settings: Settings) -> ModerationEngineLike:
    try:
        from rostra.moderation.engine import ModerationEngine
    except ImportError:
        raise click.ClickException("the moderation engine is not available in this build") from None
    # Archives are scored by one tier (archive.ARCHIVE_TIER): only its model is loaded, which
    # keeps the other tier's ~80 MB out of an import that already holds large caches.
    engine: ModerationEngineLike = ModerationEngine.from_model_dir(
        settings.model_dir, tiers=(archive.ARCHIVE_TIER,)
    )
    return engine


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _print_summary(stats: ImportStats, scoring: archive.Scoring, scored: bool) -> None:
    err.print(
        f"Stories: {stats.stories_created} created, {stats.stories_existing} already there\n"
        f"Authors: {stats.authors_created} created\n"
        f"Comments: {stats.comments_created} created, {stats.comments_existing} already there"
    )
    if scored:
        err.print(f"Scored: {scoring.scored} comments; statuses changed: {scoring.changed}")
    for title, counter in (("Skipped", stats.skipped), ("Notes", stats.notes)):
        if counter:
            err.print(f"{title}: {sum(counter.values())}")
            for reason, count in counter.most_common():
                examples = ", ".join(stats.examples.get(reason, []))
                err.print(f"  {count} × {reason}" + (f"  (e.g. {examples})" if examples else ""))


@main.group(name="import")
def import_group() -> None:
    """Import comments from Disqus, WordPress, Isso or a Rostra export into a site."""


def _import_command(fmt: str) -> Callable[..., None]:
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--site", "site_slug", required=True, help="Slug of the site to import into.")
    @click.option("--score", is_flag=True, help="Score each imported comment and store signals.")
    @click.option(
        "--apply-policy", is_flag=True, help="With --score: let the site's policy set statuses."
    )
    @click.option(
        "--batch",
        "batch_size",
        default=BATCH_SIZE,
        show_default=True,
        type=click.IntRange(1),
        help="Comments written per transaction.",
    )
    @friendly
    def command(
        file: Path, site_slug: str, score: bool, apply_policy: bool, batch_size: int, **extra: Any
    ) -> None:
        if apply_policy and not score:
            raise click.UsageError("--apply-policy needs --score")
        settings = _settings()
        engine = _load_engine(settings) if score else None
        with _database(settings) as db:
            site = _site(db, site_slug)
            with _progress() as progress:
                if fmt == "isso":
                    task = progress.add_task("Reading", total=count_isso_records(file))
                    records: Iterator[ArchiveRecord] = _advancing(
                        read_isso(file, base_url=extra.get("base_url") or ""), progress, task
                    )
                    stats, scoring = archive.import_archive(
                        db, site=site, records=records, engine=engine,
                        apply_policy=apply_policy, batch_size=batch_size,
                    )  # fmt: skip
                else:
                    task = progress.add_task("Reading", total=file.stat().st_size)
                    # Big files are parsed and sanitised in a second process while this one
                    # writes (rostra.archive.background).
                    records = read_file(
                        STREAM_READERS[fmt], file,
                        on_progress=lambda done: progress.update(task, completed=done),
                    )  # fmt: skip
                    stats, scoring = archive.import_archive(
                        db, site=site, records=records, engine=engine,
                        apply_policy=apply_policy, batch_size=batch_size,
                    )  # fmt: skip
        _print_summary(stats, scoring, score)

    command.__doc__ = f"Import a {fmt.capitalize()} {'database' if fmt == 'isso' else 'export'}."
    return command


def _advancing(
    records: Iterator[ArchiveRecord], progress: Progress, task: TaskID
) -> Iterator[ArchiveRecord]:
    for record in records:
        progress.advance(task)
        yield record


import_group.command(name="disqus")(_import_command("disqus"))
import_group.command(name="wordpress")(_import_command("wordpress"))
import_group.command(name="rostra")(_import_command("rostra"))
import_group.command(name="isso")(
    click.option(
        "--base-url", default="", help="Prefix for Isso's thread paths, e.g. https://site"
    )(_import_command("isso"))
)


@contextmanager
def _output(path: Path | None) -> Iterator[IO[bytes]]:
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        yield out
    partial.replace(path)  # a complete file or none at all


@main.group(name="export")
def export_group() -> None:
    """Export a site, or everything about one commenter, as JSON Lines."""


@export_group.command(name="site")
@click.argument("site_slug")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output).")  # fmt: skip
@friendly
def export_site(site_slug: str, output: Path | None) -> None:
    """Export every story, author and comment of a site (docs/export.md)."""
    settings = _settings()
    with _database(settings) as db:
        site = _site(db, site_slug)
        with _output(output) as out:
            counts = archive.export_site(db, site=site, out=out)
    err.print(
        f"Exported {counts['story']} stories, {counts['author']} authors, "
        f"{counts['comment']} comments"
    )


@export_group.command(name="author")
@click.argument("site_slug")
@click.argument("author")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output).")  # fmt: skip
@friendly
def export_author(site_slug: str, author: str, output: Path | None) -> None:
    """Export everything stored about AUTHOR (an author id or an email address)."""
    settings = _settings()
    with _database(settings) as db:
        site = _site(db, site_slug)
        with _output(output) as out:
            counts = archive.export_author(db, site=site, ref=author, out=out)
    err.print("Exported " + ", ".join(f"{n} {kind} records" for kind, n in counts.items()))


@main.group(name="forget")
def forget_group() -> None:
    """Erase a commenter's personal data."""


@forget_group.command(name="author")
@click.argument("site_slug")
@click.argument("author")
@click.option(
    "--remove-comments",
    is_flag=True,
    help="Also delete the author's comments (default: keep them as 'Deleted user').",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")  # fmt: skip
@friendly
def forget_author(site_slug: str, author: str, remove_comments: bool, yes: bool) -> None:
    """Erase AUTHOR's name, email and IP addresses (an author id or an email address)."""
    settings = _settings()
    with _database(settings) as db:
        site = _site(db, site_slug)
        if not yes:
            what = "erase and delete the comments of" if remove_comments else "erase"
            click.confirm(f"This will {what} author {author} on {site.slug}. Go on?", abort=True)
        done = archive.forget_author(db, site=site, ref=author, remove_comments=remove_comments)
    err.print(
        f"Forgot {done['authors']} author(s): {done['comments']} comments "
        + (f"deleted ({done['removed']})" if remove_comments else "kept as 'Deleted user'")
    )


@main.command(name="rescore")
@click.option("--site", "site_slug", required=True, help="Slug of the site.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Only comments written on or after this date (UTC).",
)
@click.option("--apply-policy", is_flag=True, help="Let the site's policy change statuses.")
@click.option("--batch", "batch_size", default=500, show_default=True, type=click.IntRange(1))
@friendly
def rescore(
    site_slug: str, since: datetime | date | None, apply_policy: bool, batch_size: int
) -> None:
    """Score stored comments again with the current engine; resumes after an interruption."""
    settings = _settings()
    engine = _load_engine(settings)
    since_utc = since.replace(tzinfo=UTC) if isinstance(since, datetime) else None
    with _database(settings) as db:
        site = _site(db, site_slug)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=err) as progress:
            task = progress.add_task("Scoring", total=None)
            report = archive.rescore(
                db, engine, site=site, since=since_utc, apply_policy=apply_policy,
                batch_size=batch_size,
                on_start=lambda left: progress.update(task, total=left),
                on_batch=lambda n: progress.advance(task, n),
            )  # fmt: skip
    resumed = f" (resumed after comment {report.resumed_from})" if report.resumed_from else ""
    err.print(
        f"Scored {report.scored} comments{resumed}; {report.total_done} in this run in all; "
        f"statuses changed: {report.changed}"
    )
