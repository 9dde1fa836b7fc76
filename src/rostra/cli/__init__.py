"""The ``rostra`` command: a click group; each module of this package adds its commands."""

from __future__ import annotations

import click

from rostra import __version__


@click.group()
@click.version_option(__version__, prog_name="rostra")
def main() -> None:
    """Rostra: comments for news sites, with machine-assisted moderation."""


def _register() -> None:
    # Imported for their side effect of adding commands to ``main``.
    from rostra.cli import adapt, admin, archive, engine, notify, server, training  # noqa: F401


_register()
