"""Rebuilding and evaluating the shipped moderation models (needs the labelled data)."""
