"""Archives in and out: import, export a site or one author, forget an author, rescore.

Imports write batch by batch (each batch one transaction) and are idempotent, so a run that
stopped half-way is completed by running it again. Scoring never changes a status unless
``apply_policy`` is set; then each change is written to the moderation log, and a rescore's
changes are also announced (live update, ``comment.moderated`` webhook) as a moderator's
decision is. An import's are not: they set the first status of comments nobody saw yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import Connection, Engine, select

from rostra.actions import notifications
from rostra.actions.adaptation import forget_examples
from rostra.actions.comments import ModerationEngineLike, announce_change, model_version
from rostra.actions.notifications import WebhookEvent
from rostra.archive.records import ArchiveError, ArchiveRecord, storable
from rostra.archive.rostra_jsonl import encode_record, header
from rostra.domain.comments import CommentStatus
from rostra.domain.errors import InvalidInput
from rostra.domain.messages import DIGEST_EXCERPT_CHARS, excerpt
from rostra.domain.moderation import AuthorContext
from rostra.domain.sites import Site
from rostra.moderation.policy import Policy
from rostra.storage import exports, rescoring
from rostra.storage.comments import CommentStore
from rostra.storage.imports import BATCH_SIZE, ArchiveImporter, Created, ImportStats, recount
from rostra.storage.outbox import OutboxStore
from rostra.storage.reviews import ReviewStore
from rostra.storage.tables import comments
from rostra.storage.webhooks import WebhookStore

#: Tier used when scoring archives: the fast one, since there may be millions of comments.
ARCHIVE_TIER = "fast"


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


@dataclass(slots=True)
class Scoring:
    """Signals written while importing or rescoring, and statuses the policy changed."""

    scored: int = 0
    changed: int = 0


def _score_batch(
    conn: Connection,
    engine: ModerationEngineLike,
    site: Site,
    texts: list[rescoring.StoredText],
    *,
    apply_policy: bool,
    now: datetime,
    announce: bool = False,
) -> list[rescoring.StoredText]:
    if not texts:
        return []
    results = engine.moderate(
        [t.body for t in texts],
        policy=Policy.from_dict(site.policy),
        contexts=[AuthorContext()] * len(texts),
        tier=ARCHIVE_TIER,
        explain=True,
    )
    moved = rescoring.record_scores(
        conn,
        site.id,
        list(zip(texts, results, strict=True)),
        model_version=model_version(engine),
        now=now,
        apply_policy=apply_policy,
    )
    if announce and moved:
        _announce_policy_changes(conn, site, moved, now)
    return moved


def _announce_policy_changes(
    conn: Connection, site: Site, moved: list[rescoring.StoredText], now: datetime
) -> None:
    """What a moderator's decision sends, for each status the policy changed: the live
    update to open pages and the ``comment.moderated`` webhook event, with ``action`` "policy"
    and ``moderator`` null. No reply mails: these are old comments judged again."""
    updated = CommentStore.get_many(conn, [t.id for t in moved])
    hooked = bool(WebhookStore.subscribers(conn, site.id, WebhookEvent.COMMENT_MODERATED))
    for text in moved:
        after = updated[text.id]
        announce_change(conn, CommentStatus(text.status), after, now)
        if not hooked:
            continue
        before = {**after.state(), "status": text.status, "reviewed": text.reviewed,
                  "version": after.version - 1}  # fmt: skip
        data = {
            "comment": notifications.comment_data(after),
            "action": rescoring.POLICY_ACTION,
            "reason": rescoring.POLICY_REASON,
            "moderator": None,
            "before": before,
            "after": after.state(),
        }
        notifications.queue_event(conn, site, WebhookEvent.COMMENT_MODERATED, data, now)


def import_archive(
    db: Engine,
    *,
    site: Site,
    records: Iterable[ArchiveRecord],
    engine: ModerationEngineLike | None = None,
    apply_policy: bool = False,
    batch_size: int = BATCH_SIZE,
    now: datetime | None = None,
) -> tuple[ImportStats, Scoring]:
    """Import ``records`` into ``site``; with ``engine`` score each new comment as it lands.

    On an ``ArchiveError`` part-way (a broken file), what was read so far is finished
    (links and counters) before the error goes up, so the database is consistent and a
    second run after fixing the file completes the import.
    """
    if apply_policy and engine is None:
        raise InvalidInput("--apply-policy needs --score", field="apply_policy")
    now = _now(now)
    scoring = Scoring()

    def score(conn: Connection, created: list[Created]) -> None:
        assert engine is not None
        texts = [
            rescoring.StoredText(c.id, c.author_id, c.record.body, c.record.status.value, False)
            for c in created
            if c.record.status is not CommentStatus.DELETED
        ]
        scoring.changed += len(
            _score_batch(conn, engine, site, texts, apply_policy=apply_policy, now=now)
        )
        scoring.scored += len(texts)

    importer = ArchiveImporter(
        db, site.id, now=now, batch_size=batch_size, on_batch=score if engine else None,
        native_prefix=f"{site.slug}:",  # the site's own export finds its native records
    )
    try:
        for record in records:
            importer.add(storable(record))
    except ArchiveError as exc:
        done = importer.finish()
        raise ArchiveError(
            f"{exc.message} ({done.comments_created} comments were imported before it; "
            "run the import again once the file is repaired, it adds only what is missing)"
        ) from exc
    return importer.finish(), scoring


def _site_header(site: Site) -> dict[str, Any]:
    return {
        "slug": site.slug,
        "name": site.name,
        "policy": site.policy,
        "settings": site.settings.to_dict(),
        "allowed_origins": list(site.allowed_origins),
    }


def _snapshot(conn: Connection) -> Connection:
    if conn.dialect.name == "postgresql":
        return conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def export_site(
    db: Engine, *, site: Site, out: IO[bytes], now: datetime | None = None
) -> dict[str, int]:
    """Write the site as Rostra JSON Lines (docs/export.md); returns records per type."""
    counts: dict[str, int] = {"story": 0, "author": 0, "comment": 0}
    with db.connect() as plain, _snapshot(plain) as conn, conn.begin():
        out.write(header("site", _site_header(site), _now(now)))
        for kind, data in exports.site_records(conn, site.id):
            out.write(encode_record(kind, data))
            counts[kind] += 1
    return counts


def export_author(
    db: Engine, *, site: Site, ref: str, out: IO[bytes], now: datetime | None = None
) -> dict[str, int]:
    """Write everything stored about one commenter (by id or email), for a data request."""
    counts: dict[str, int] = {}
    with db.connect() as plain, _snapshot(plain) as conn, conn.begin():
        author_ids = exports.find_authors(conn, site.id, ref)
        out.write(header("author", _site_header(site), _now(now)))
        for kind, data in exports.author_records(conn, site.id, author_ids):
            out.write(encode_record(kind, data))
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def _texts_of(conn: Connection, site_id: int, author_id: int) -> set[str]:
    """An author's comment texts as queued mails may quote them (whole, or as excerpts)."""
    bodies = conn.execute(
        select(comments.c.body).where(comments.c.site_id == site_id,
                                      comments.c.author_id == author_id, comments.c.body != "")
    ).scalars()
    texts: set[str] = set()
    for body in bodies:
        texts.update({body, excerpt(body), excerpt(body, DIGEST_EXCERPT_CHARS)})
    return {t for t in texts if t.strip()}


def forget_author(
    db: Engine,
    *,
    site: Site,
    ref: str,
    remove_comments: bool,
    user_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Erase a commenter's name, email, IPs and report notes (all authors the id or email
    names).

    Their comments stay under "Deleted user", or with ``remove_comments`` become deleted
    with their text erased. Queued and logged outbox jobs (webhook events, digests) are
    scrubbed the same way, and the site's learning examples from them are dropped. Each
    author forgotten is logged (counts only, no erased data).
    """
    now = _now(now)
    totals = {"authors": 0, "comments": 0, "removed": 0}
    story_ids: set[int] = set()
    with db.begin() as conn:
        author_ids = exports.find_authors(conn, site.id, ref)
        for author_id in author_ids:
            texts = _texts_of(conn, site.id, author_id) if remove_comments else set()
            done = exports.forget_author(
                conn, site.id, author_id, remove_comments=remove_comments, now=now
            )
            done["outbox"] = OutboxStore.forget_author(
                conn, site.id, author_id, name=exports.FORGOTTEN_NAME, removed_texts=texts,
                remove_text=remove_comments,
            )
            story_ids.update(done.pop("story_ids"))
            ReviewStore.log(
                conn,
                site_id=site.id,
                action="author.forget",
                actor="admin",
                now=now,
                author_id=author_id,
                user_id=user_id,
                reason="erasure request",
                after={"remove_comments": remove_comments, **done},
            )
            totals["authors"] += 1
            totals["comments"] += done["comments"]
            totals["removed"] += done["removed"]
        forget_examples(conn, site.id, author_ids)
    if remove_comments:
        recount(db, story_ids, author_ids)
    return totals


@dataclass(frozen=True, slots=True)
class RescoreReport:
    scored: int  # in this run
    changed: int  # statuses the policy changed in this run
    total_done: int  # since the run began, resumptions included
    resumed_from: int  # comment id the run continued after (0: a fresh start)


def rescore(
    db: Engine,
    engine: ModerationEngineLike,
    *,
    site: Site,
    since: datetime | None = None,
    apply_policy: bool = False,
    batch_size: int = 500,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> RescoreReport:
    """Score the site's comments again with the current engine, in batches, resumably.

    The checkpoint (a ``rescore`` row of the moderation log) commits with each batch's
    signals; running the same command again after an interruption continues after the last
    whole batch. ``on_start`` gets the number of comments left, ``on_batch`` each batch size.
    With ``apply_policy``, each status the policy changes is announced as a decision is.
    """
    if batch_size < 1:
        raise InvalidInput("the batch size must be at least 1", field="batch")
    now = _now(now)
    params = {"since": since.isoformat() if since else None, "apply_policy": apply_policy}
    with db.begin() as conn:
        checkpoint = rescoring.open_checkpoint(conn, site.id, params, now=now)
        left = rescoring.count_remaining(conn, site.id, after_id=checkpoint.after_id, since=since)
    if on_start is not None:
        on_start(left)
    resumed_from = checkpoint.after_id
    scored = changed = 0
    while True:
        with db.connect() as conn:
            batch = rescoring.next_batch(
                conn, site.id, after_id=checkpoint.after_id, since=since, limit=batch_size
            )
        if not batch:
            break
        with db.begin() as conn:
            moved = _score_batch(conn, engine, site, batch, apply_policy=apply_policy, now=now,
                                 announce=True)
            checkpoint = rescoring.Checkpoint(
                checkpoint.log_id,
                batch[-1].id,
                checkpoint.done + len(batch),
                checkpoint.changed + len(moved),
            )
            rescoring.save_checkpoint(conn, checkpoint, params, finished=False)
        if moved:  # counters follow each batch, so an interruption leaves them right
            _recount_comments(db, [t.id for t in moved])
        scored += len(batch)
        changed += len(moved)
        if on_batch is not None:
            on_batch(len(batch))
    with db.begin() as conn:
        rescoring.save_checkpoint(conn, checkpoint, params, finished=True)
    return RescoreReport(scored, changed, checkpoint.done, resumed_from)


def _recount_comments(db: Engine, comment_ids: list[int]) -> None:
    story_ids: set[int] = set()
    author_ids: set[int] = set()
    with db.connect() as conn:
        for start in range(0, len(comment_ids), 1000):
            chunk = comment_ids[start : start + 1000]
            for story_id, author_id in conn.execute(
                select(comments.c.story_id, comments.c.author_id).where(comments.c.id.in_(chunk))
            ):
                story_ids.add(story_id)
                if author_id is not None:
                    author_ids.add(author_id)
    recount(db, story_ids, author_ids)
