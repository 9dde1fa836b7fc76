"""``rostra adapt``: train, compare, promote and roll back a site's own model (per-site learning).

    rostra adapt --site S [--seed 0]     train a candidate, store it in shadow, print the table
    rostra adapt status --site S         decisions, versions and their held-out metrics
    rostra adapt promote --site S        make the shadow model active if it won the comparison
    rostra adapt rollback --site S       back to the previous active model (or the base engine)
    rostra adapt due [--every 100] [--promote]
                                         the schedule: a candidate for every site with enough
                                         new decisions (run it from cron, e.g. hourly)
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from rostra.actions import adaptation
from rostra.cli import main
from rostra.cli.archive import _database, _settings, _site
from rostra.cli.context import friendly, serving_engine
from rostra.storage.sites import SiteStore

out = Console(highlight=False)


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if percent else f"{value:.3f}"


def comparison_table(metrics: dict[str, Any]) -> Table:
    """The comparison of base, active and candidate on the held-out recent decisions."""
    table = Table(title=f"held out by time: {metrics.get('test_rows', 0)} most recent decisions "
                  f"(trained on {metrics.get('train_rows', 0)} earlier)")
    for column in ("model", "ROC-AUC", "agreement", "benign identity flagged", "span F1"):
        table.add_column(column, justify="left" if column == "model" else "right")
    rows = [("base engine", metrics.get("base"))]
    if metrics.get("active") is not None:
        rows.append((f"active (v{metrics.get('against')})", metrics["active"]))
    rows.append(("candidate", metrics.get("candidate")))
    for name, m in rows:
        m = m or {}
        table.add_row(name, _fmt(m.get("auc")), _fmt(m.get("agreement"), True),
                      _fmt(m.get("identity_fpr"), True), _fmt(m.get("span_f1")))
    return table


@main.group(invoke_without_command=True)
@click.option("--site", "site_slug", help="The site's slug.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.pass_context
@friendly
def adapt(ctx: click.Context, site_slug: str | None, seed: int) -> None:
    """Train a site model from the site's moderator decisions and compare it (in shadow)."""
    if ctx.invoked_subcommand is not None:
        return
    if not site_slug:
        raise click.UsageError("name the site: rostra adapt --site SLUG")
    settings = _settings()
    engine = serving_engine(settings)
    with _database(settings) as db:
        site = _site(db, site_slug)
        report = adaptation.adapt_site(db, engine, site=site, seed=seed)
    with _database(settings) as db, db.connect() as conn:
        status = adaptation.learning_status(conn, site.id)
    stored = next(m for m in status["models"] if m["version"] == report.version)
    out.print(comparison_table(stored["metrics"]))
    out.print(f"model v{report.version} trained on {report.examples} decisions, now in shadow.")
    out.print(f"It reads {reads(stored['metrics'])}.")
    if report.comparison.promotable:
        out.print(f"It beats the current model: `rostra adapt promote --site {site_slug}`.")
    else:
        out.print("Not promotable: " + "; ".join(report.comparison.refusals()))


def reads(metrics: dict[str, Any]) -> str:
    """What a site model learned from, in words (its stored metrics say)."""
    words = "the words and characters of each comment"
    embedding = metrics.get("embedding")
    return f"{words} and the accurate tier's reading of it ({embedding})" if embedding else words


@adapt.command("status")
@click.option("--site", "site_slug", required=True)
@friendly
def status(site_slug: str) -> None:
    """Decisions so far, the site's models and their held-out metrics."""
    settings = _settings()
    with _database(settings) as db:
        site = _site(db, site_slug)
        with db.connect() as conn:
            info = adaptation.learning_status(conn, site.id)
    out.print(f"{site_slug}: {info['decisions']} decisions; active model: "
              f"{'v' + str(info['active_version']) if info['active_version'] else 'base engine'}")
    table = Table()
    for column in ("version", "status", "decisions", "created", "ROC-AUC", "agreement"):
        table.add_column(column)
    for m in info["models"]:
        cand = m["metrics"].get("candidate") or {}
        table.add_row(f"v{m['version']}", m["status"], str(m["examples"]), m["created_at"][:19],
                      _fmt(cand.get("auc")), _fmt(cand.get("agreement"), True))
    if info["models"]:
        out.print(table)


def _reason(text: str | None) -> str | None:
    """An audit-log reason from the command line: one line, at most 2,000 characters."""
    if text is None:
        return None
    text = " ".join(text.split())
    if not text:
        return None
    if len(text) > 2000:
        raise click.BadParameter("at most 2,000 characters", param_hint="--reason")
    if "\x00" in text:
        raise click.BadParameter("must not contain NUL characters", param_hint="--reason")
    return text


@adapt.command("promote")
@click.option("--site", "site_slug", required=True)
@click.option("--version", type=int, default=None, help="Default: the model in shadow.")
@click.option("--reason", default=None, type=click.STRING,
              help="For the audit log (default: the comparison the model won).")
@friendly
def promote(site_slug: str, version: int | None, reason: str | None) -> None:
    """Make the shadow model active (refused unless it won the held-out comparison)."""
    settings = _settings()
    with _database(settings) as db:
        site = _site(db, site_slug)
        model = adaptation.promote(db, site=site, version=version, reason=_reason(reason))
    out.print(f"{site_slug}: model v{model.version} is active.")


@adapt.command("rollback")
@click.option("--site", "site_slug", required=True)
@click.option("--reason", default=None, type=click.STRING, help="For the audit log.")
@friendly
def rollback(site_slug: str, reason: str | None) -> None:
    """Retire the active model; the previous one (or the base engine) scores again."""
    settings = _settings()
    with _database(settings) as db:
        site = _site(db, site_slug)
        model = adaptation.rollback(db, site=site, reason=_reason(reason))
    now = "the base engine" if model is None else f"model v{model.version}"
    out.print(f"{site_slug}: {now} is active again.")


@adapt.command("due")
@click.option("--every", default=100, show_default=True, type=click.IntRange(min=1),
              help="Train a site's next model once it has this many new decisions.")
@click.option("--promote", "promote_winners", is_flag=True,
              help="Make each new model active if it won its held-out comparison.")
@click.option("--site", "site_slugs", multiple=True, help="Only these sites (default: all).")
@click.option("--seed", default=0, show_default=True, type=int)
@friendly
def due(every: int, promote_winners: bool, site_slugs: tuple[str, ...], seed: int) -> None:
    """The optional schedule: adapt every site with enough new decisions since its last model.

    Meant for cron (for example hourly: `rostra adapt due --every 100 --promote`). Sites that
    are not due cost one count query each; the engine loads only when one is due.
    """
    settings = _settings()
    with _database(settings) as db:
        if site_slugs:
            sites = [_site(db, slug) for slug in site_slugs]
        else:
            with db.connect() as conn:
                sites = SiteStore.list_all(conn)
        engine = _LazyEngine(settings)
        reports = adaptation.adapt_due(db, engine, sites=sites, every=every,
                                       promote_winners=promote_winners, seed=seed)
    for report in reports:
        version = "" if report.version is None else f" -> model v{report.version}"
        out.print(f"{report.site}: {report.new_decisions} new decisions{version}, {report.note}")


class _LazyEngine:
    """The moderation engine, loaded on first use (most schedule runs find nothing due)."""

    def __init__(self, settings: Any) -> None:
        self._settings = settings
        self._engine: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._engine is None:
            self._engine = serving_engine(self._settings)
        return getattr(self._engine, name)
