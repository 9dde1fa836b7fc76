"""OutboxStore: the durable queue of mail and webhook calls that the background worker sends.

Requests add rows inside their own transaction (a rolled-back comment sends nothing); workers
claim due rows with one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
RETURNING`` (on SQLite the single statement is atomic by itself, and ``FOR UPDATE`` is left
out), so two workers never send the same row. A claim lapses after ``lease_seconds``: a row
whose worker died is claimed again.
"""

from __future__ import annotations

import copy
import html
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from rostra.storage._upsert import insert_ignore
from rostra.storage.tables import outbox


class OutboxKind(StrEnum):
    EMAIL = "email"  # a composed message (domain.messages.Message.to_dict())
    REPLY = "reply"  # a reply e-mail, composed when sent (the reply may be gone by then)
    DIGEST = "digest"  # the moderators' report digest: one EMAIL row per moderator
    WEBHOOK = "webhook"

    @property
    def is_mail(self) -> bool:
        return self is not OutboxKind.WEBHOOK


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"  # gave up after the last attempt


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: OutboxKind
    site_id: int | None
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int  # including the one in progress
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _to_job(row: Row[Any]) -> Job:
    return Job(
        id=row.id,
        kind=OutboxKind(row.kind),
        site_id=row.site_id,
        payload=row.payload,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(outbox.c.status == OutboxStatus.PENDING.value, outbox.c.next_attempt_at <= now),
        and_(outbox.c.status == OutboxStatus.SENDING.value, outbox.c.locked_until < now),
    )


#: What a scrubbed mail shows where a forgotten author's text was.
REDACTED = "[removed]"


def _scrub_event(body: dict[str, Any], author_id: int, name: str, remove_text: bool) -> bool:
    """Scrub one webhook event body in place; True when something changed."""
    data = body.get("data")
    if not isinstance(data, dict):
        return False
    changed = False
    for comment in (data, data.get("comment")):
        if (remove_text and isinstance(comment, dict) and comment.get("author_id") == author_id
                and (comment.get("body") or comment.get("html"))):
            comment["body"] = comment["html"] = ""
            changed = True
    author = data.get("author")
    if isinstance(author, dict) and author.get("id") == author_id and author.get("name") != name:
        author["name"] = name
        changed = True
    return changed


def _scrub_mail(message: dict[str, Any], texts: Collection[str]) -> bool:
    changed = False
    for field, escape in (("text", False), ("html", True)):
        value = message.get(field)
        if not isinstance(value, str):
            continue
        for text in texts:
            needle = html.escape(text) if escape else text
            if needle and needle in value:
                value = value.replace(needle, REDACTED)
                changed = True
        message[field] = value
    return changed


class OutboxStore:
    @staticmethod
    def add(
        conn: Connection,
        *,
        kind: OutboxKind,
        payload: dict[str, Any],
        now: datetime,
        site_id: int | None = None,
        dedupe_key: str | None = None,
        due: datetime | None = None,
    ) -> bool:
        """Queue a job, due at ``due`` (default: now). With a ``dedupe_key`` that was queued
        before, nothing is added and the result is False."""
        values = {
            "kind": kind.value,
            "site_id": site_id,
            "dedupe_key": dedupe_key,
            "payload": payload,
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": due or now,
            "created_at": now,
        }
        if dedupe_key is not None:
            return insert_ignore(conn, outbox, values, ("dedupe_key",))
        conn.execute(insert(outbox).values(**values))
        return True

    @staticmethod
    def has_due(conn: Connection, *, now: datetime, kinds: Collection[OutboxKind]) -> bool:
        """Whether ``claim`` would find work: a cheap read, so idle workers never write."""
        found = conn.execute(
            select(outbox.c.id).where(_due(now), outbox.c.kind.in_([k.value for k in kinds]))
            .limit(1)
        ).first()
        return found is not None

    @staticmethod
    def claim(
        conn: Connection,
        *,
        now: datetime,
        limit: int,
        lease_seconds: float,
        kinds: Collection[OutboxKind] = tuple(OutboxKind),
    ) -> list[Job]:
        """Take up to ``limit`` due jobs of ``kinds`` (oldest due first) for ``lease_seconds``;
        each claim counts as an attempt."""
        ids = (
            select(outbox.c.id)
            .where(_due(now), outbox.c.kind.in_([k.value for k in kinds]))
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids.scalar_subquery()))
            .values(
                status=OutboxStatus.SENDING.value,
                locked_until=now + timedelta(seconds=lease_seconds),
                attempts=outbox.c.attempts + 1,
            )
            .returning(*outbox.c)
        ).all()
        return sorted((_to_job(r) for r in rows), key=lambda j: (j.next_attempt_at, j.id))

    @staticmethod
    def mark_sent(conn: Connection, job_id: int, *, now: datetime) -> None:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == job_id)
            .values(status=OutboxStatus.SENT.value, sent_at=now, locked_until=None,
                    last_error=None)
        )

    @staticmethod
    def retry_at(conn: Connection, job_id: int, *, when: datetime, error: str) -> None:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == job_id)
            .values(status=OutboxStatus.PENDING.value, next_attempt_at=when, locked_until=None,
                    last_error=error[:2000])
        )

    @staticmethod
    def postpone(conn: Connection, job_id: int, *, when: datetime) -> None:
        """Put a claimed job back until ``when`` without counting the claim as an attempt."""
        conn.execute(
            update(outbox)
            .where(outbox.c.id == job_id)
            .values(status=OutboxStatus.PENDING.value, next_attempt_at=when, locked_until=None,
                    attempts=outbox.c.attempts - 1)
        )

    @staticmethod
    def release_key(conn: Connection, job_id: int) -> None:
        """Forget the job's dedupe key, so that the same key may be queued again."""
        conn.execute(update(outbox).where(outbox.c.id == job_id).values(dedupe_key=None))

    @staticmethod
    def last_sent(conn: Connection, kind: OutboxKind, site_id: int) -> Job | None:
        row = conn.execute(
            select(outbox)
            .where(outbox.c.kind == kind.value, outbox.c.site_id == site_id,
                   outbox.c.status == OutboxStatus.SENT.value)
            .order_by(outbox.c.sent_at.desc(), outbox.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else _to_job(row)

    @staticmethod
    def mark_dead(conn: Connection, job_id: int, *, error: str) -> None:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == job_id)
            .values(status=OutboxStatus.DEAD.value, locked_until=None, last_error=error[:2000])
        )

    @staticmethod
    def get(conn: Connection, job_id: int) -> Job | None:
        row = conn.execute(select(outbox).where(outbox.c.id == job_id)).first()
        return None if row is None else _to_job(row)

    @staticmethod
    def list(
        conn: Connection, *, kind: OutboxKind | None = None, status: OutboxStatus | None = None
    ) -> list[Job]:
        query = select(outbox).order_by(outbox.c.id)
        if kind is not None:
            query = query.where(outbox.c.kind == kind.value)
        if status is not None:
            query = query.where(outbox.c.status == status.value)
        return [_to_job(r) for r in conn.execute(query)]

    @staticmethod
    def prune(conn: Connection, *, before: datetime) -> int:
        """Delete finished (sent or dead) jobs created before ``before``: their payloads hold
        comment texts and addresses that need not outlive the sending."""
        return int(conn.execute(
            delete(outbox).where(
                outbox.c.status.in_([OutboxStatus.SENT.value, OutboxStatus.DEAD.value]),
                outbox.c.created_at < before,
            )
        ).rowcount)

    @staticmethod
    def next_due(conn: Connection) -> datetime | None:
        """When the earliest pending job falls due (None: nothing is pending)."""
        value: datetime | None = conn.execute(
            select(func.min(outbox.c.next_attempt_at)).where(
                outbox.c.status == OutboxStatus.PENDING.value
            )
        ).scalar_one()
        return value

    @staticmethod
    def forget_author(
        conn: Connection,
        site_id: int,
        author_id: int,
        *,
        name: str,
        removed_texts: Collection[str] = (),
        remove_text: bool = False,
    ) -> int:
        """Scrub a forgotten author from the site's jobs, queued or kept as history.

        Webhook events name them ``name`` and, with ``remove_text``, lose the text of their
        comments; composed mails (digests) show ``REDACTED`` instead of ``removed_texts``.
        Reply mails are composed when sent, from the already erased rows. Returns rows changed.
        """
        kinds = [OutboxKind.WEBHOOK.value] + ([OutboxKind.EMAIL.value] if removed_texts else [])
        rows = conn.execute(
            select(outbox.c.id, outbox.c.kind, outbox.c.payload)
            .where(outbox.c.site_id == site_id, outbox.c.kind.in_(kinds))
        ).all()
        changed = 0
        for row in rows:
            payload = copy.deepcopy(row.payload)
            if not isinstance(payload, dict):
                continue
            if row.kind == OutboxKind.WEBHOOK.value:
                body = payload.get("body")
                dirty = isinstance(body, dict) and _scrub_event(body, author_id, name,
                                                                remove_text)
            else:
                dirty = _scrub_mail(payload, removed_texts)
            if dirty:
                conn.execute(update(outbox).where(outbox.c.id == row.id).values(payload=payload))
                changed += 1
        return changed
