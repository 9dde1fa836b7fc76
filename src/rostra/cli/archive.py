"""archive commands of the rostra CLI."""

from rostra.cli import main  # noqa: F401
