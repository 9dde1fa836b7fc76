"""Per-site learning: decisions become examples, site models are trained, shadowed, promoted
and rolled back, and new comments are scored with the site's models.

* ``record_example`` runs inside the moderation action's transaction (a reversal replaces the
  earlier example; the final decision wins); ``forget_examples`` inside ``forget_author``.
* ``adapt_site`` trains a candidate from the site's examples, compares it with the active model
  on the most recent decisions held out by time, and stores it in shadow with that comparison.
* ``promote`` refuses a candidate that does not beat the active model (or the base engine);
  ``rollback`` makes the previous active model active again (or the base engine).
* ``adapt_due`` is the schedule (``rostra adapt due``, run from cron): every site with enough
  new decisions since its newest model gets a new candidate, promoted only if it won.
* Training, promotion and rollback each write a ``site.model.*`` entry to the site's audit log:
  who (the staff member; ``admin`` for a command, ``system`` for the schedule), the active and
  shadow versions before and after, and the reason.
* ``site_scoring``/``record_shadow`` run in ``post_comment``: the active model's scores decide;
  a shadow model's result is stored as a ``shadow`` signal and never changes a status.
* Where the engine has the accurate tier's sentence representation (``sentence_vectors``), site
  models learn from it too; a model that read another model's representation (the accurate
  tier was rebuilt since) cannot score and is passed over, with a warning, until the next
  adaptation.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, Engine, bindparam, or_, select

from rostra.domain.errors import InvalidInput, NotAllowed, NotFound
from rostra.domain.identity import Staff
from rostra.domain.labels import LABELS
from rostra.domain.moderation import (
    AuthorContext,
    ModerationAction,
    ModerationResult,
    Reason,
)
from rostra.domain.sites import Site
from rostra.moderation.adaptation import (
    AdaptParams,
    Comparison,
    Example,
    Explain,
    SentenceVectors,
    SiteModel,
    adapt_result,
    benign_identity_texts,
    compare,
    example_targets,
    fit_site_model,
)
from rostra.moderation.policy import Policy
from rostra.storage.database import transaction
from rostra.storage.examples import ExampleStore, StoredExample
from rostra.storage.reviews import ReviewStore
from rostra.storage.site_models import ModelStatus, SiteModelStore, StoredSiteModel
from rostra.storage.tables import site_models

if TYPE_CHECKING:
    from rostra.actions.comments import ModerationEngineLike

#: Decisions that teach the site model (featuring a comment says nothing about toxicity).
LEARNED_ACTIONS = {
    ModerationAction.APPROVE: "approve",
    ModerationAction.REJECT: "reject",
    ModerationAction.SPAM: "spam",
}
log = logging.getLogger(__name__)

MAX_SPANS = 200
_CACHE_SIZE = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- decisions become examples ------------------------------------------------------------


def record_example(
    conn: Connection,
    *,
    comment_id: int,
    site_id: int,
    author_id: int | None,
    text: str,
    action: ModerationAction,
    user_id: int | None,
    now: datetime,
) -> None:
    """Keep a moderator's decision as a labelled example (call inside the action's transaction)."""
    decision = LEARNED_ACTIONS.get(action)
    if decision is None:
        return
    current = [s for s in ReviewStore.signals(conn, [comment_id])[comment_id] if not s["shadow"]]
    scores = current[0]["scores"] if current else {}
    ExampleStore.record(
        conn, site_id=site_id, comment_id=comment_id, author_id=author_id, text=text,
        decision=decision, scores=scores, user_id=user_id, now=now,
    )


def forget_examples(conn: Connection, site_id: int, author_ids: Sequence[int]) -> int:
    """Drop the examples of forgotten authors from the site's training data."""
    return ExampleStore.forget_authors(conn, site_id, author_ids)


def mark_example(
    db: Engine,
    *,
    site: Site,
    comment_id: int,
    labels: Sequence[str] | None,
    spans: Sequence[Sequence[int]] | None,
) -> StoredExample:
    """A moderator's label corrections (``[]``: none of the labels applies) and word-span marks
    on a decided comment. Raises NotFound when the comment has no decision yet."""
    if labels is not None:
        unknown = sorted({str(x) for x in labels} - set(LABELS))
        if unknown:
            raise InvalidInput(f"unknown labels: {', '.join(unknown)}", field="labels")
    with transaction(db) as conn:
        example = ExampleStore.get(conn, site.id, comment_id)
        if example is None:
            raise NotFound("Decide on the comment before correcting its labels")
        checked: list[tuple[int, int]] | None = None
        if spans is not None:
            if len(spans) > MAX_SPANS:
                raise InvalidInput(f"at most {MAX_SPANS} spans", field="spans")
            checked = []
            for span in spans:
                if len(span) != 2 or not all(isinstance(v, int) for v in span):
                    raise InvalidInput("each span is [start, end]", field="spans")
                start, end = int(span[0]), int(span[1])
                if not 0 <= start < end <= len(example.text):
                    raise InvalidInput(
                        f"span [{start}, {end}] is outside the comment", field="spans"
                    )
                checked.append((start, end))
        ExampleStore.mark(
            conn, site_id=site.id, comment_id=comment_id,
            labels=None if labels is None else [str(x) for x in labels], spans=checked,
        )
        updated = ExampleStore.get(conn, site.id, comment_id)
        assert updated is not None
        return updated


# -- training and comparison --------------------------------------------------------------


def _base_probs(
    engine: ModerationEngineLike, texts: Sequence[str], policy: Policy, *, explain: bool = False
) -> tuple[np.ndarray, list[list[tuple[int, int]]]]:
    if not texts:
        return np.zeros((0, len(LABELS))), []
    results = engine.moderate(
        list(texts), policy=policy, contexts=[AuthorContext()] * len(texts), explain=explain
    )
    probs = np.array([[r.scores.get(x, 0.0) for x in LABELS] for r in results], dtype=np.float64)
    spans = [[(r.start, r.end) for r in res.reasons if r.source == "model"] for res in results]
    return probs, spans


def _examples(
    stored: Sequence[StoredExample], base: np.ndarray
) -> list[Example]:
    return [
        Example(
            text=s.text,
            targets=example_targets(s.decision, s.labels),
            base=tuple(float(v) for v in base[i]),
            spans=tuple(s.spans),
            order=s.decided_at.timestamp() + s.id * 1e-6,
        )
        for i, s in enumerate(stored)
    ]


def sentence_vectors(engine: ModerationEngineLike) -> SentenceVectors | None:
    """The engine's sentence representation for site models, or None where it has none (no
    accurate tier, or an engine without ``embed``)."""
    version = getattr(engine, "embedding_version", None)
    embed = getattr(engine, "embed", None)
    if version is None or not callable(embed):
        return None
    return SentenceVectors(str(version), embed)


def site_explainer(engine: ModerationEngineLike) -> Explain | None:
    """The engine's explainer for one text and the labels asked (see
    ``ModerationEngine.explain``), or None for an engine without one."""
    explain = getattr(engine, "explain", None)
    if not callable(explain):
        return None

    def one(text: str, labels: Sequence[str]) -> Sequence[Reason]:
        found: list[list[Reason]] = explain([text], [list(labels)])
        return found[0]

    return one


@dataclass(frozen=True)
class AdaptReport:
    version: int
    examples: int
    comparison: Comparison


def adapt_site(
    db: Engine,
    engine: ModerationEngineLike,
    *,
    site: Site,
    seed: int = 0,
    params: AdaptParams | None = None,
    now: datetime | None = None,
    staff: Staff | None = None,
    reason: str | None = None,
    actor: str = "admin",
) -> AdaptReport:
    """Train a site model from the site's examples and store it in shadow, with its comparison
    to the active model on the most recent decisions held out by time.

    ``staff`` (or, without one, ``actor``), and ``reason`` go to the audit log."""
    now = now or _utcnow()
    params = params or AdaptParams()
    policy = Policy.from_dict(site.policy)
    with db.connect() as conn:
        stored = ExampleStore.for_site(conn, site.id)
        active_row = SiteModelStore.with_status(conn, site.id, ModelStatus.ACTIVE)
    if not stored:
        raise InvalidInput("this site has no moderator decisions to learn from yet")
    # Base probabilities come from the base engine as it is now (not the scores stored at
    # decision time), so the correction fits the engine it will be added to.
    base, spans = _base_probs(engine, [s.text for s in stored], policy, explain=True)
    examples = _examples(stored, base)
    identity = benign_identity_texts()
    identity_base, _ = _base_probs(engine, identity, policy)
    vectors = sentence_vectors(engine)
    vectors = None if vectors is None else vectors.memoized()
    active = None if active_row is None else SiteModel.from_bytes(active_row.artifact)
    if active is not None and not active.readable_with(vectors):
        active = None  # it cannot score on this engine: the site runs the base engine now
    comparison = compare(
        examples, active, policy=policy, identity_base=identity_base, identity_texts=identity,
        base_spans=spans, params=params, seed=seed, vectors=vectors,
    )
    # The stored model learns from every decision, the most recent included; the comparison
    # above measured the same method trained without them.
    model = fit_site_model(examples, params, seed=seed, vectors=vectors)
    metrics = comparison.to_dict()
    metrics["against"] = None if active_row is None else active_row.version
    metrics["embedding"] = model.embedding  # whose sentence representation it reads, if any
    with transaction(db) as conn:
        before = _live_versions(conn, site.id)
        row = SiteModelStore.add(
            conn, site_id=site.id, artifact=model.to_bytes(), metrics=metrics,
            examples=len(examples), now=now,
        )
        after: dict[str, Any] = {**_live_versions(conn, site.id), "examples": len(examples),
                                 "promotable": comparison.promotable}
        if comparison.refusals():
            after["refusals"] = comparison.refusals()
        _log(conn, site, "site.model.train", staff, actor, now, before, after, reason)
    return AdaptReport(version=row.version, examples=len(examples), comparison=comparison)


@dataclass(frozen=True)
class DueReport:
    """What the schedule did for one site."""

    site: str
    new_decisions: int
    version: int | None = None  # the model trained, None when the site was not due
    promoted: bool = False
    note: str = ""


def adapt_due(
    db: Engine,
    engine: ModerationEngineLike,
    *,
    sites: Sequence[Site],
    every: int = 100,
    promote_winners: bool = False,
    seed: int = 0,
    now: datetime | None = None,
) -> list[DueReport]:
    """Train a candidate for every site with at least ``every`` decisions made since its newest
    model (since the start, for a site without one); with ``promote_winners``, make each
    candidate that won its held-out comparison active. A site that is not due is left alone."""
    if every < 1:
        raise InvalidInput("every must be at least 1", field="every")
    out: list[DueReport] = []
    for site in sites:
        with db.connect() as conn:
            versions = SiteModelStore.versions(conn, site.id)
            since = versions[0].created_at if versions else None
            new = ExampleStore.count(conn, site.id, since=since)
        if new < every:
            out.append(DueReport(site.slug, new, note=f"not due ({new} of {every} decisions)"))
            continue
        report = adapt_site(db, engine, site=site, seed=seed, now=now, actor="system",
                            reason=f"schedule: {new} new decisions (every {every})")
        promoted, note = False, "in shadow"
        if promote_winners and report.comparison.promotable:
            promote(db, site=site, version=report.version, now=now, actor="system")
            promoted, note = True, "promoted"
        elif not report.comparison.promotable:
            note = "in shadow: " + "; ".join(report.comparison.refusals())
        out.append(DueReport(site.slug, new, report.version, promoted, note))
    return out


# -- promotion and rollback ---------------------------------------------------------------


def promote(
    db: Engine,
    *,
    site: Site,
    version: int | None = None,
    now: datetime | None = None,
    staff: Staff | None = None,
    reason: str | None = None,
    actor: str = "admin",
) -> StoredSiteModel:
    """Make the newest shadow model (or ``version``) active, if it beat the active model on
    held-out decisions. Raises NotFound (no such model) or NotAllowed (with the reasons).

    The audit log's reason is ``reason`` or, without one, the comparison the model won."""
    now = now or _utcnow()
    with transaction(db) as conn:
        before = _live_versions(conn, site.id)
        if version is None:
            candidate = SiteModelStore.with_status(conn, site.id, ModelStatus.SHADOW)
        else:
            candidate = SiteModelStore.get(conn, site.id, version)
        if candidate is None or candidate.status is not ModelStatus.SHADOW:
            raise NotFound("no site model in shadow to promote; run `rostra adapt` first")
        active = SiteModelStore.with_status(conn, site.id, ModelStatus.ACTIVE)
        against = active.version if active is not None else None
        if candidate.metrics.get("against") != against:
            raise NotAllowed(
                f"model {candidate.version} was compared with another model than the active "
                "one; run `rostra adapt` again"
            )
        refusals = list(candidate.metrics.get("refusals") or [])
        if not candidate.metrics.get("promotable") or refusals:
            raise NotAllowed(
                f"model {candidate.version} is not promoted: " + "; ".join(refusals or ["?"])
            )
        if active is not None:
            SiteModelStore.set_status(conn, active, ModelStatus.RETIRED)
        SiteModelStore.set_status(conn, candidate, ModelStatus.ACTIVE, promoted_at=now)
        _log(conn, site, "site.model.promote", staff, actor, now, before,
             _live_versions(conn, site.id), reason or _won(candidate.metrics))
    return _fetch(db, site.id, candidate.version)


def rollback(
    db: Engine,
    *,
    site: Site,
    now: datetime | None = None,
    staff: Staff | None = None,
    reason: str | None = None,
    actor: str = "admin",
) -> StoredSiteModel | None:
    """Retire the active model and make the previously active one active again (None: the
    site is back on the base engine). Raises NotFound when no model is active."""
    now = now or _utcnow()
    with transaction(db) as conn:
        active = SiteModelStore.with_status(conn, site.id, ModelStatus.ACTIVE)
        if active is None:
            raise NotFound("no active site model to roll back")
        before = _live_versions(conn, site.id)
        previous = [
            m for m in SiteModelStore.versions(conn, site.id)
            if m.status is ModelStatus.RETIRED and m.promoted_at is not None
            and m.version < active.version
        ]
        SiteModelStore.set_status(conn, active, ModelStatus.REJECTED)
        chosen = None
        if previous:
            # The most recently promoted earlier model; its stored bytes are unchanged, so it
            # gives exactly the scores it gave before.
            chosen = max(previous, key=lambda m: (m.promoted_at or _EPOCH, m.version))
            SiteModelStore.set_status(conn, chosen, ModelStatus.ACTIVE)
        _log(conn, site, "site.model.rollback", staff, actor, now, before,
             {**_live_versions(conn, site.id), "rejected": active.version}, reason)
    return None if chosen is None else _fetch(db, site.id, chosen.version)


def _live_versions(conn: Connection, site_id: int) -> dict[str, int | None]:
    """{"active": version, "shadow": version} of the site (None: none), for the audit log."""
    rows = conn.execute(
        select(site_models.c.version, site_models.c.status).where(
            site_models.c.site_id == site_id,
            site_models.c.status.in_([ModelStatus.ACTIVE.value, ModelStatus.SHADOW.value]),
        )
    ).all()
    found = {row.status: row.version for row in rows}
    return {"active": found.get(ModelStatus.ACTIVE.value),
            "shadow": found.get(ModelStatus.SHADOW.value)}


def _won(metrics: dict[str, Any]) -> str | None:
    """The held-out comparison a promoted model won, in a sentence."""
    cand = (metrics.get("candidate") or {}).get("auc")
    reference = metrics.get("active") or metrics.get("base") or {}
    if cand is None or reference.get("auc") is None:
        return None
    against = "the active model" if metrics.get("active") else "the base engine"
    return f"held-out ROC-AUC {cand:.3f} above {reference['auc']:.3f} ({against})"


def _log(
    conn: Connection, site: Site, action: str, staff: Staff | None, actor: str,
    now: datetime, before: dict[str, Any], after: dict[str, Any], reason: str | None,
) -> None:
    ReviewStore.log(
        conn, site_id=site.id, action=action, now=now, before=before, after=after,
        actor=actor if staff is None else "admin" if staff.is_admin else "moderator",
        user_id=None if staff is None else staff.user_id, reason=reason,
    )


def _fetch(db: Engine, site_id: int, version: int) -> StoredSiteModel:
    with db.connect() as conn:
        found = SiteModelStore.get(conn, site_id, version)
    if found is None:  # pragma: no cover - removed between two transactions
        raise NotFound(f"site model {version} is gone")
    return found


# -- status for the command and the workspace ---------------------------------------------


def learning_status(conn: Connection, site_id: int) -> dict[str, Any]:
    """For the dashboard: decisions so far, the active and shadow versions, and the estimated
    gain (held-out ROC-AUC and agreement of the newest model minus the base engine's)."""
    versions = SiteModelStore.versions(conn, site_id)
    active = next((m for m in versions if m.status is ModelStatus.ACTIVE), None)
    shadow = next((m for m in versions if m.status is ModelStatus.SHADOW), None)
    newest = versions[0] if versions else None
    gain: dict[str, float] | None = None
    if newest is not None:
        base, cand = newest.metrics.get("base") or {}, newest.metrics.get("candidate") or {}
        if base.get("auc") is not None and cand.get("auc") is not None:
            gain = {
                "auc": round(cand["auc"] - base["auc"], 4),
                "agreement": round((cand.get("agreement") or 0) - (base.get("agreement") or 0), 4),
            }
    return {
        "decisions": ExampleStore.count(conn, site_id),
        "active_version": None if active is None else active.version,
        "shadow_version": None if shadow is None else shadow.version,
        "estimated_gain": gain,
        "models": [
            {
                "version": m.version,
                "status": m.status.value,
                "examples": m.examples,
                "created_at": m.created_at.isoformat(),
                "metrics": m.metrics,
            }
            for m in versions
        ],
    }


# -- live scoring -------------------------------------------------------------------------


_models: OrderedDict[int, SiteModel] = OrderedDict()
_lock = threading.Lock()


def _load(conn: Connection, model_id: int) -> SiteModel:
    """A site model by row id, from a small per-process cache (rows never change their bytes)."""
    with _lock:
        cached = _models.get(model_id)
        if cached is not None:
            _models.move_to_end(model_id)
            return cached
    data = conn.execute(
        select(site_models.c.artifact).where(site_models.c.id == model_id)
    ).scalar_one()
    model = SiteModel.from_bytes(bytes(data))
    with _lock:
        _models[model_id] = model
        while len(_models) > _CACHE_SIZE:
            _models.popitem(last=False)
    return model


def forget_loaded_models() -> None:
    """Empty this process's cache of site models (for a process that switches databases)."""
    with _lock:
        _models.clear()


# Asked on every post: built once, the site id goes in as a parameter.
_LIVE_MODELS = select(site_models.c.id, site_models.c.version, site_models.c.status).where(
    site_models.c.site_id == bindparam("b_site"),
    or_(site_models.c.status == ModelStatus.ACTIVE.value,
        site_models.c.status == ModelStatus.SHADOW.value),
)


@dataclass(frozen=True)
class ShadowScore:
    version: int
    result: ModerationResult


def site_scoring(
    conn: Connection,
    site: Site,
    body: str,
    result: ModerationResult,
    engine: ModerationEngineLike | None = None,
) -> tuple[ModerationResult, ShadowScore | None]:
    """The result that decides (the active site model's, or the engine's as given) and the
    shadow model's result to record, if the site has one. ``engine`` (the one that scored
    ``body``) lends the site models its sentence representation (:func:`sentence_vectors`; the
    accurate tier keeps the vectors it computed recently, so an active and a shadow model do
    not run it twice) and its explainer (:func:`site_explainer`, which marks the words of a
    label only the site model flags)."""
    rows = conn.execute(_LIVE_MODELS, {"b_site": site.id}).all()
    if not rows:
        return result, None
    vectors = None if engine is None else sentence_vectors(engine)
    explain = None if engine is None else site_explainer(engine)
    policy = Policy.from_dict(site.policy)
    live, shadow = result, None
    for row in sorted(rows, key=lambda r: r.version):
        model = _load(conn, row.id)
        if not model.readable_with(vectors):
            log.warning(
                "site %s: model v%d reads the sentence representation of %s, which this engine "
                "does not have; scored without it (run `rostra adapt` to train a new one)",
                site.slug, row.version, model.embedding,
            )
            continue
        adapted = adapt_result(model, body, result, policy, vectors, explain)
        if row.status == ModelStatus.ACTIVE.value:
            live = adapted
        else:
            shadow = ShadowScore(row.version, adapted)
    return live, shadow


def record_shadow(
    conn: Connection, comment_id: int, shadow: ShadowScore | None, now: datetime
) -> None:
    """Store the shadow model's result as a ``shadow`` signal (it never changes a status)."""
    if shadow is None:
        return
    ReviewStore.add_signal(
        conn, comment_id, shadow.result, model_version=f"site-v{shadow.version}", now=now,
        shadow=True,
    )
