"""What site admins change from the moderators' workspace, each change audited with its author;
and the threshold preview, which re-decides stored signals under proposed thresholds.

Settings that ``rostra.actions.sites.update_site`` already covers (name, guests,
premoderation, origins, thresholds) go through it; word lists, rejection reasons, the site's
moderators and SSO keys are changed here, in one transaction each, with a log entry naming the
admin who made the change.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from rostra.actions.accounts import KID_PATTERN, check_public_key
from rostra.domain.accounts import KeyAlgorithm, SiteKey
from rostra.domain.comments import Role
from rostra.domain.errors import InvalidInput, NotAllowed
from rostra.domain.identity import Staff
from rostra.domain.moderation import Reason
from rostra.domain.sites import Site
from rostra.moderation.policy import Policy
from rostra.storage.accounts import ModeratorStore, SiteKeyStore, UserStore
from rostra.storage.dashboard import recent_signals
from rostra.storage.database import transaction
from rostra.storage.reviews import ReviewStore
from rostra.storage.sites import SiteStore

MAX_REASONS = 30
MAX_REASON_LENGTH = 200
MAX_PREVIEW = 5000


def _now() -> datetime:
    return datetime.now(UTC)


def require_admin(staff: Staff) -> None:
    """Site settings are for admins; moderators decide on comments only."""
    if not staff.is_admin:
        raise NotAllowed("Only admins change site settings")


def _log(conn: Connection, site: Site, staff: Staff, action: str, now: datetime,
         before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    ReviewStore.log(conn, site_id=site.id, action=action, actor="admin", user_id=staff.user_id,
                    before=before, after=after, now=now)


# -- policy -------------------------------------------------------------------------------


def set_word_lists(
    engine: Engine, site: Site, staff: Staff, *, banned: Iterable[str], suspect: Iterable[str],
    now: datetime | None = None,
) -> Site:
    """Replace the site's own banned and suspect terms (the shipped lists stay on)."""
    require_admin(staff)
    now = now or _now()
    with transaction(engine) as conn:
        current = SiteStore.get(conn, site.id)
        changed = {**current.policy, "banned_terms": list(banned), "suspect_terms": list(suspect)}
        policy = Policy.from_dict(changed)  # validates and normalises the terms
        changed["banned_terms"] = list(policy.banned_terms)
        changed["suspect_terms"] = list(policy.suspect_terms)
        before = {k: current.policy.get(k, []) for k in ("banned_terms", "suspect_terms")}
        after = {k: changed[k] for k in ("banned_terms", "suspect_terms")}
        updated = SiteStore.update(conn, site.id, policy=changed)
        if before != after:
            _log(conn, site, staff, "site.words", now, before, after)
        return updated


def set_rejection_reasons(
    engine: Engine, site: Site, staff: Staff, reasons: Iterable[str],
    now: datetime | None = None,
) -> Site:
    """The reasons moderators pick from when they reject, one per entry, in order."""
    require_admin(staff)
    cleaned = list(dict.fromkeys(" ".join(r.split()) for r in reasons if r.strip()))
    if not cleaned:
        raise InvalidInput("give at least one rejection reason", field="rejection_reasons")
    if len(cleaned) > MAX_REASONS or any(len(r) > MAX_REASON_LENGTH for r in cleaned):
        raise InvalidInput(f"at most {MAX_REASONS} reasons of {MAX_REASON_LENGTH} characters",
                           field="rejection_reasons")
    now = now or _now()
    with transaction(engine) as conn:
        current = SiteStore.get(conn, site.id)
        settings = replace(current.settings, rejection_reasons=tuple(cleaned))
        updated = SiteStore.update(conn, site.id, settings=settings)
        if settings != current.settings:
            _log(conn, site, staff, "site.reasons", now,
                 {"rejection_reasons": list(current.settings.rejection_reasons)},
                 {"rejection_reasons": cleaned})
        return updated


# -- moderators ---------------------------------------------------------------------------


def add_moderator(engine: Engine, site: Site, staff: Staff, username: str,
                  now: datetime | None = None) -> None:
    require_admin(staff)
    now = now or _now()
    with transaction(engine) as conn:
        user = UserStore.get_by_username(conn, username.strip())
        if user.role is not Role.MODERATOR:
            raise InvalidInput(f"{user.username} is an admin and moderates every site already",
                               field="username")
        if site.id in ModeratorStore.site_ids(conn, user.id):
            return
        ModeratorStore.add(conn, site.id, user.id)
        _log(conn, site, staff, "site.moderator.add", now, after={"username": user.username})


def remove_moderator(engine: Engine, site: Site, staff: Staff, user_id: int,
                     now: datetime | None = None) -> None:
    require_admin(staff)
    now = now or _now()
    with transaction(engine) as conn:
        user = UserStore.get(conn, user_id)
        if site.id not in ModeratorStore.site_ids(conn, user.id):
            raise InvalidInput(f"{user.username} does not moderate this site", field="user_id")
        ModeratorStore.remove(conn, site.id, user.id)
        UserStore.end_sessions(conn, user.id)  # an open tab must not keep the old rights
        _log(conn, site, staff, "site.moderator.remove", now, before={"username": user.username})


# -- SSO keys -----------------------------------------------------------------------------


def add_key(
    engine: Engine, site: Site, staff: Staff, algorithm: KeyAlgorithm, *,
    public_key: str | None = None, kid: str | None = None, rotate: bool = False,
    now: datetime | None = None,
) -> tuple[SiteKey, str | None]:
    """Add or rotate in an SSO key; returns it and the HS256 secret to show once (else None)."""
    require_admin(staff)
    if kid is not None and not KID_PATTERN.match(kid):
        raise InvalidInput("a key id is 1-64 letters, digits or _.-", field="kid")
    shown: str | None = None
    if algorithm is KeyAlgorithm.HS256:
        stored = shown = secrets.token_urlsafe(48)
    elif public_key:
        stored = check_public_key(algorithm, public_key)
    else:
        raise InvalidInput(f"{algorithm.value} needs the site's public key (PEM)",
                           field="public_key")
    now = now or _now()
    with transaction(engine) as conn:
        store = SiteKeyStore.rotate if rotate else SiteKeyStore.add
        key = store(conn, site.id, algorithm, stored, now=now, kid=kid)
        _log(conn, site, staff, "site.key.rotate" if rotate else "site.key.add", now,
             after={"kid": key.kid, "algorithm": key.algorithm.value})
        return key, shown


def revoke_key(engine: Engine, site: Site, staff: Staff, kid: str,
               now: datetime | None = None) -> None:
    require_admin(staff)
    now = now or _now()
    with transaction(engine) as conn:
        SiteKeyStore.revoke(conn, site.id, kid, now=now)
        _log(conn, site, staff, "site.key.revoke", now, before={"kid": kid})


# -- threshold preview --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThresholdPreview:
    """How the last ``considered`` scored comments would be decided now and under new
    thresholds; ``changes`` counts (decision now, decision then) pairs that differ."""

    considered: int
    now: dict[str, int] = field(default_factory=dict)
    proposed: dict[str, int] = field(default_factory=dict)
    changes: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(self.changes.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "considered": self.considered,
            "changed": self.changed,
            "now": self.now,
            "proposed": self.proposed,
            "changes": [{"from": a, "to": b, "count": n}
                        for (a, b), n in sorted(self.changes.items())],
        }


def _evidence(stored: list[dict[str, Any]]) -> list[Reason]:
    """The engine's reasons without the policy's own (``decide`` adds those again)."""
    reasons = []
    for item in stored:
        if not isinstance(item, Mapping) or item.get("source") == "policy":
            continue
        try:
            reasons.append(Reason(label=str(item["label"]), start=int(item.get("start", 0)),
                                  end=int(item.get("end", 0)), text=str(item.get("text", "")),
                                  weight=float(item.get("weight", 0.0)),
                                  source=str(item.get("source", "model"))))
        except (KeyError, TypeError, ValueError):
            continue
    return reasons


def preview_thresholds(
    engine: Engine, site: Site, thresholds: Mapping[str, tuple[float, float]], *, last: int = 500,
) -> ThresholdPreview:
    """Re-decide the site's last ``last`` comments from their stored signals with the current
    policy and with ``thresholds`` (label -> (review, reject)) in its place. Premoderation is
    left out: it does not depend on thresholds."""
    if not 1 <= last <= MAX_PREVIEW:
        raise InvalidInput(f"preview between 1 and {MAX_PREVIEW} comments", field="last")
    current = Policy.from_dict(site.policy)
    proposed = current.with_changes(
        thresholds={label: {"review": review, "reject": reject}
                    for label, (review, reject) in thresholds.items()})
    with engine.connect() as conn:
        stored = recent_signals(conn, site.id, last)
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    changes: Counter[tuple[str, str]] = Counter()
    for signal in stored:
        scores = {k: float(v) for k, v in signal.scores.items()
                  if isinstance(v, int | float)}
        spam = {k: float(v) for k, v in signal.spam.items() if isinstance(v, int | float)}
        reasons = _evidence(signal.reasons)
        a, _ = current.decide(scores, reasons, spam)
        b, _ = proposed.decide(scores, reasons, spam)
        before[a.value] += 1
        after[b.value] += 1
        if a is not b:
            changes[(a.value, b.value)] += 1
    return ThresholdPreview(considered=len(stored), now=dict(before), proposed=dict(after),
                            changes=dict(changes))
