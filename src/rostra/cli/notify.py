"""``rostra worker``: send queued e-mails and webhook calls from a process of its own.

``rostra serve`` already sends from a thread of each server process; run this instead (with
``ROSTRA_DELIVERY_WORKER_ENABLED=0`` for the servers) to keep sending apart from serving, or
with ``--once`` from cron.
"""

from __future__ import annotations

import contextlib
import signal
from types import FrameType

import click
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from rostra.actions.delivery import DeliveryConfig, DeliveryWorker, deliver_due
from rostra.cli import main
from rostra.config import Settings, load_settings
from rostra.storage.database import make_engine


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise click.ClickException(f"invalid settings: {messages}") from None


@main.command()
@click.option("--once", is_flag=True, help="Send everything that is due now, then exit.")
def worker(once: bool) -> None:
    """Send queued e-mails and webhook calls, retrying failures with backoff."""
    settings = _settings()
    engine = make_engine(settings.database_url)
    config = DeliveryConfig.from_settings(settings)
    if not config.smtp_host:
        click.echo("note: ROSTRA_SMTP_HOST is not set; e-mails wait in the outbox", err=True)
    try:
        if once:
            total = 0
            while claimed := deliver_due(engine, config):
                total += claimed
            click.echo(f"attempted {total} deliveries")
            return
        sender = DeliveryWorker(engine, config, poll_seconds=settings.delivery_poll_seconds)

        def _stop(signum: int, frame: FrameType | None) -> None:
            sender.stop()

        signal.signal(signal.SIGTERM, _stop)
        click.echo("sending queued e-mails and webhooks; Ctrl-C stops")
        with contextlib.suppress(KeyboardInterrupt):
            sender.run()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise click.ClickException(f"database error: {reason}") from None
    finally:
        engine.dispose()
