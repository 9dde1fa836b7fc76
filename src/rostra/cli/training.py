"""``rostra train`` and ``rostra eval``: rebuild the shipped moderation models and measure them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rostra.cli import main
from rostra.domain.errors import RostraError

DATA_HELP = "Labelled data folder [default: ../shared/data or ROSTRA_DATA_DIR]."
PACKAGE_MODELS = Path(__file__).resolve().parent.parent / "moderation" / "models"


def _data_dir(value: str | None) -> Path:
    path = Path(value or os.environ.get("ROSTRA_DATA_DIR") or "../shared/data")
    if not path.is_dir():
        raise click.ClickException(
            f"data folder {path} not found; pass --data-dir or set ROSTRA_DATA_DIR"
        )
    return path


def _need_training_extra() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            "training needs scikit-learn: pip install 'rostra[train]'"
        ) from exc


@main.command()
@click.option(
    "--data-dir", help="Labelled data folder [default: ../shared/data or ROSTRA_DATA_DIR]."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=PACKAGE_MODELS,
    show_default="the package's models folder",
    help="Where to write fast/ and accurate/.",
)
@click.option(
    "--seed", default=0, show_default=True, help="Random seed (the build is deterministic)."
)
@click.option(
    "--tier", type=click.Choice(["fast", "accurate", "all"]), default="fast", show_default=True
)
@click.option("--no-eval", is_flag=True, help="Skip the evaluation table at the end.")
def train(data_dir: str | None, out_dir: Path, seed: int, tier: str, no_eval: bool) -> None:
    """Rebuild the moderation models from the labelled data, then print the evaluation table.

    The fast tier learns in part from the accurate tier's scores (the one in --out, else the
    shipped one), so --tier all builds the accurate tier first."""
    data = _data_dir(data_dir)
    _need_training_extra()
    console = Console(stderr=True)
    try:
        # The accurate tier first: the fast tier learns from its scores (distillation).
        if tier in ("accurate", "all"):
            try:
                import torch  # noqa: F401

                from rostra.moderation.training.finetune import train_accurate
            except ImportError as exc:
                click.echo(
                    f"the accurate tier needs torch ({exc}): pip install 'rostra[train]'", err=True
                )
                raise SystemExit(2) from exc
            train_accurate(data, out_dir / "accurate", seed=seed, progress=True)
        if tier in ("fast", "all"):
            from rostra.moderation.training.train_fast import train_fast
            from rostra.moderation.training.train_spans import train_spans

            train_fast(data, out_dir / "fast", seed=seed, progress=True)
            with console.status("fitting the span explainer"):
                config = train_spans(data, out_dir / "fast", seed=seed)
            console.print(
                f"span explainer: threshold {config['threshold']}, F1 {config['validation_f1']:.3f}"
                f" on {config['validation_posts']} held-out posts (trial split"
                f" {config['trial_f1']:.3f})"
            )
    except RostraError as exc:
        raise click.ClickException(exc.message) from exc
    if no_eval:
        return
    tiers = ["fast", "accurate"] if tier == "all" else [tier]
    for name in tiers:
        _print_report(
            _run(name, data, out_dir, None, compare=False, checks=True), Console(width=170)
        )


@main.command(name="eval")
@click.option(
    "--data-dir", help="Labelled data folder [default: ../shared/data or ROSTRA_DATA_DIR]."
)
@click.option("--dataset", "datasets", multiple=True, help="Only this dataset (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--tier", type=click.Choice(["fast", "accurate", "all"]), default="fast", show_default=True
)
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding fast/ and accurate/ [default: the shipped models].",
)
@click.option("--compare", is_flag=True, help="Add an alt-profanity-check column (if installed).")
@click.option("--no-checks", is_flag=True, help="Skip the evasion and fairness checks.")
@click.option(
    "--identity-weight",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Blend weight of the text as written for comments that name a group, as the engine "
    "scores them; 1 scores as written only [default: the engine's].",
)
def evaluate(
    data_dir: str | None,
    datasets: tuple[str, ...],
    as_json: bool,
    tier: str,
    model_dir: Path | None,
    compare: bool,
    no_checks: bool,
    identity_weight: float | None,
) -> None:
    """Score the held-out and evaluation-only sets: AUC, F1, calibration, spans, evasion, bias."""
    data = _data_dir(data_dir)
    tiers = ["fast", "accurate"] if tier == "all" else [tier]
    reports = [
        _run(t, data, model_dir, datasets, compare, not no_checks, identity_weight) for t in tiers
    ]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
        return
    for report in reports:
        _print_report(report, Console(width=170))


def _run(
    tier: str,
    data: Path,
    model_dir: Path | None,
    datasets: tuple[str, ...] | None,
    compare: bool,
    checks: bool,
    identity_weight: float | None = None,
) -> Any:
    from rostra.moderation.counterfactual import DEFAULT_WEIGHT
    from rostra.moderation.training.report import run_report

    with Progress(
        TextColumn(f"[bold]eval {tier}[/bold]" + " {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def step(what: str, done: int) -> None:
            bar.update(task, description=what, advance=done)

        try:
            return run_report(
                tier,
                data,
                model_dir=model_dir,
                datasets=list(datasets) if datasets else None,
                compare=compare,
                checks=checks,
                step=step,
                identity_weight=DEFAULT_WEIGHT if identity_weight is None else identity_weight,
            )
        except RostraError as exc:
            raise click.ClickException(exc.message) from exc


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _print_report(report: Any, console: Console) -> None:
    compare = any(r.compare_auc is not None for r in report.rows)
    table = Table(title=f"{report.tier} tier", show_lines=False)
    for column in ("dataset", "n", "pos"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    table.add_column("AUC", justify="right")
    table.add_column("AUC any", justify="right")
    if compare:
        table.add_column("APC AUC", justify="right")
    table.add_column("label AUCs")
    table.add_column("F1@review", justify="right")
    table.add_column("macro-F1", justify="right")
    table.add_column("ECE", justify="right")
    table.add_column("span F1", justify="right")
    for r in report.rows:
        name = r.dataset + (" *" if r.held_out_of_training_source else "")
        cells = [name, str(r.n), str(r.positives), _fmt(r.auc), _fmt(r.auc_any)]
        if compare:
            cells.append(_fmt(r.compare_auc))
        labels = " ".join(f"{k[:4]}={v:.3f}" for k, v in r.label_auc.items() if k != "toxicity")
        cells += [labels, _fmt(r.f1_review), _fmt(r.macro_f1), _fmt(r.ece), _fmt(r.span_f1)]
        table.add_row(*cells)
    console.print(table)
    console.print("* held-out split of a set the model trains on; the others are never trained on")
    if report.evasion:
        e = report.evasion
        console.print(
            f"evasion: recall at the review threshold {e['recall_clean']:.3f} clean, "
            f"{e['recall_perturbed']:.3f} obfuscated (drop {e['drop']:.3f}) "
            f"on {e['comments']} toxic comments"
        )
    if report.fairness:
        f = report.fairness
        term, worst = f["worst_fpr"]
        over = sorted(t for t, v in f["fpr"].items() if v > 0.05)
        console.print(
            f"fairness: worst false-positive rate on benign templates {worst:.3f} ({term}); "
            f"terms over 5 %: {', '.join(over) or 'none'}; "
            f"lowest subgroup AUC {min(f['subgroup_auc'].values(), default=0):.3f}; "
            f"wiki AUC {_fmt(f['wiki_auc'])} vs term-swapped {_fmt(f['wiki_fuzzed_auc'])}"
        )
    for note in report.notes:
        console.print(f"note: {note}")
