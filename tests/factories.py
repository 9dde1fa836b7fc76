"""Plain factory functions with deterministic defaults, for storage, action and web tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from rostra.domain.comments import AuthorKind
from rostra.domain.identity import Reader, Role, Staff
from rostra.domain.moderation import AuthorContext, ModerationResult
from rostra.domain.sites import Site, SiteSettings
from rostra.moderation.engine import ModerationEngine
from rostra.storage.accounts import ModeratorStore, UserStore
from rostra.storage.database import transaction
from rostra.storage.identities import create_guest_author, upsert_sso_author
from rostra.storage.sites import SiteStore
from rostra.testing import FakeExplainer, FakeScorer

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

#: Words the test engine scores high, and the label they drive.
TRIGGERS: Mapping[str, Mapping[str, float]] = {
    "idiot": {"insult": 0.97, "toxicity": 0.97},  # past the reject threshold
    "stupid": {"insult": 0.7, "toxicity": 0.7},  # held for review
    "kill": {"threat": 0.8, "toxicity": 0.8},
}


def _scores(text: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for word, word_scores in TRIGGERS.items():
        if word in text.lower():
            for label, score in word_scores.items():
                scores[label] = max(scores.get(label, 0.0), score)
    return scores


class WordEngine(ModerationEngine):
    """The real engine on a fake scorer: fixed scores per trigger word, explained by
    FakeExplainer and decided by the real Policy. Records the contexts it was given."""

    version = "test-words-1"

    def __init__(self) -> None:
        super().__init__(
            fast=FakeScorer(_scores),
            explainer=FakeExplainer({w: tuple(s) for w, s in TRIGGERS.items()}),
        )
        self.load()
        self.calls: list[tuple[list[str], list[AuthorContext]]] = []

    def moderate(self, texts: Sequence[str], **kwargs: Any) -> list[ModerationResult]:
        self.calls.append((list(texts), list(kwargs.get("contexts") or [])))
        return super().moderate(texts, **kwargs)


def make_site(db: Engine, slug: str = "news", **settings: object) -> Site:
    with transaction(db) as conn:
        return SiteStore.create(
            conn, slug, slug.title(), settings=SiteSettings(**settings), now=NOW  # type: ignore[arg-type]
        )


def make_reader(db: Engine, site: Site, name: str = "alice", *, sso: bool = True) -> Reader:
    with transaction(db) as conn:
        if sso:
            author_id = upsert_sso_author(conn, site.id, f"sub-{name}", name, None, NOW)
        else:
            author_id = create_guest_author(conn, site.id, name, None, NOW)
    return Reader(
        author_id=author_id, site_id=site.id, name=name,
        kind=AuthorKind.SSO if sso else AuthorKind.GUEST,
    )


def make_staff(db: Engine, *sites: Site, name: str = "maria", admin: bool = False) -> Staff:
    """A moderator of ``sites`` (or an admin) with a user row; no password."""
    role = Role.ADMIN if admin else Role.MODERATOR
    with transaction(db) as conn:
        user = UserStore.create(conn, name, role, password_hash=None, now=NOW)
        for site in sites:
            ModeratorStore.add(conn, site.id, user.id)
    return Staff(user_id=user.id, username=name, role=role,
                 site_ids=frozenset(s.id for s in sites))
