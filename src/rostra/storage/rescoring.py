"""Batch reads and writes for scoring stored comments again (imports with --score, rescore).

A rescore run keeps its checkpoint in ONE ``moderation_log`` row (action ``rescore``, actor
``system``): ``after`` holds the parameters, the last comment id done, the count and whether
it finished. Each batch's signals and the checkpoint commit together, so a run interrupted
at any point resumes after the last whole batch and scores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from rostra.domain.comments import STATUS_FOR_DECISION, CommentStatus
from rostra.domain.moderation import ModerationResult
from rostra.storage.tables import comments, moderation_log, signals

RESCORE_ACTION = "rescore"
#: How the moderation log (and the ``comment.moderated`` webhook) names a status the policy set.
POLICY_ACTION = "policy"
POLICY_REASON = "scored again; the site's policy applied"
#: Statuses the policy may change with --apply-policy; deleted and spam stay as they are.
_POLICY_MAY_CHANGE = (CommentStatus.PUBLISHED.value, CommentStatus.PENDING.value,
                      CommentStatus.REJECTED.value)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredText:
    id: int
    author_id: int | None
    body: str
    status: str
    reviewed: bool


@dataclass(frozen=True, slots=True)
class Checkpoint:
    log_id: int
    after_id: int
    done: int
    changed: int


def next_batch(
    conn: Connection, site_id: int, *, after_id: int, since: datetime | None, limit: int
) -> list[StoredText]:
    """The next ``limit`` comments of the site with id above ``after_id``, oldest id first."""
    c = comments.c
    query = (
        select(c.id, c.author_id, c.body, c.status, c.reviewed)
        .where(c.site_id == site_id, c.id > after_id, c.status != CommentStatus.DELETED.value)
        .order_by(c.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(c.created_at >= since)
    return [StoredText(*row) for row in conn.execute(query)]


def count_remaining(
    conn: Connection, site_id: int, *, after_id: int, since: datetime | None
) -> int:
    c = comments.c
    query = select(func.count()).where(
        c.site_id == site_id, c.id > after_id, c.status != CommentStatus.DELETED.value
    )
    if since is not None:
        query = query.where(c.created_at >= since)
    return int(conn.execute(query).scalar_one())


def severity(result: ModerationResult) -> float:
    """Queue order: the highest label or spam score (as ``actions.comments`` stores it)."""
    values = list(result.scores.values()) + [result.spam.get("spam", 0.0)]
    return round(max(values, default=0.0), 4)


def flagged_labels(result: ModerationResult) -> str:
    """``" insult threat "``: the labels the engine gave reasons for, space-delimited."""
    labels = sorted({reason.label for reason in result.reasons})
    return f" {' '.join(labels)} " if labels else ""


def record_scores(
    conn: Connection,
    site_id: int,
    scored: Sequence[tuple[StoredText, ModerationResult]],
    *,
    model_version: str,
    now: datetime,
    apply_policy: bool,
) -> list[StoredText]:
    """Store one signal per comment and refresh its severity and labels.

    With ``apply_policy`` the decision also sets the status of comments no moderator has
    reviewed (deleted and spam ones excepted), each change logged; returns those changed.
    """
    if not scored:
        return []
    conn.execute(
        insert(signals),
        [
            {
                "comment_id": text.id,
                "tier": result.tier,
                "model_version": model_version[:64],
                "scores": {k: round(v, 4) for k, v in result.scores.items()},
                "spam": {k: round(v, 4) for k, v in result.spam.items()},
                "reasons": [r.to_dict() for r in result.reasons],
                "decision": result.decision.value,
                "shadow": False,
                "created_at": now,
            }
            for text, result in scored
        ],
    )
    conn.execute(
        update(comments)
        .where(comments.c.id == bindparam("cid"))
        .values(severity=bindparam("sev"), flagged_labels=bindparam("labels")),
        [
            {"cid": text.id, "sev": severity(result), "labels": flagged_labels(result)}
            for text, result in scored
        ],
    )
    if not apply_policy:
        return []
    changes = []
    for text, result in scored:
        status = STATUS_FOR_DECISION[result.decision].value
        if text.reviewed or text.status not in _POLICY_MAY_CHANGE or text.status == status:
            continue
        changes.append((text, status, result.decision.value))
    if changes:
        conn.execute(
            update(comments)
            .where(comments.c.id == bindparam("cid"))
            .values(
                status=bindparam("new_status"),
                decision=bindparam("new_decision"),
                version=comments.c.version + 1,
            ),
            [{"cid": t.id, "new_status": s, "new_decision": d} for t, s, d in changes],
        )
        conn.execute(
            insert(moderation_log),
            [
                {
                    "site_id": site_id,
                    "comment_id": t.id,
                    "author_id": t.author_id,
                    "user_id": None,
                    "actor": "system",
                    "action": POLICY_ACTION,
                    "reason": POLICY_REASON,
                    "before": {"status": t.status},
                    "after": {"status": s, "decision": d},
                    "created_at": now,
                }
                for t, s, d in changes
            ],
        )
    return [t for t, _, _ in changes]


def open_checkpoint(
    conn: Connection, site_id: int, params: dict[str, Any], *, now: datetime
) -> Checkpoint:
    """The unfinished rescore run of the site with the same ``params``, or a new one."""
    log = moderation_log.c
    rows = conn.execute(
        select(log.id, log.after)
        .where(log.site_id == site_id, log.action == RESCORE_ACTION)
        .order_by(log.id.desc())
        .limit(20)
    )
    for log_id, after in rows:
        if after and not after.get("finished") and after.get("params") == params:
            return Checkpoint(log_id, int(after["after_id"]), int(after["done"]),
                              int(after.get("changed", 0)))  # fmt: skip
    log_id = conn.execute(
        insert(moderation_log)
        .values(
            site_id=site_id,
            actor="system",
            action=RESCORE_ACTION,
            reason="comments scored again by the current engine",
            before=None,
            after={"params": params, "after_id": 0, "done": 0, "changed": 0, "finished": False},
            created_at=now,
        )
        .returning(log.id)
    ).scalar_one()
    return Checkpoint(int(log_id), 0, 0, 0)


def save_checkpoint(
    conn: Connection, checkpoint: Checkpoint, params: dict[str, Any], *, finished: bool
) -> None:
    conn.execute(
        update(moderation_log)
        .where(moderation_log.c.id == checkpoint.log_id)
        .values(
            after={
                "params": params,
                "after_id": checkpoint.after_id,
                "done": checkpoint.done,
                "changed": checkpoint.changed,
                "finished": finished,
            }
        )
    )
