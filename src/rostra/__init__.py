"""Rostra: comments for news sites, with machine-assisted moderation."""

__version__ = "0.1.0"
