"""The background sender: claims due outbox rows and sends them (SMTP, signed webhooks).

Requests only queue rows (``rostra.actions.notifications``); a ``DeliveryWorker`` thread in
each server process (or ``rostra worker``) calls ``deliver_due`` in a loop. A failed attempt
is retried after ``backoff_seconds · 2^(attempt-1)`` (capped), and after ``max_attempts`` the
row is ``dead``. Every webhook attempt is written to the delivery log that admins read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from rostra import __version__
from rostra.domain.errors import NotFound
from rostra.domain.messages import (
    SIGNATURE_HEADER,
    Message,
    backoff_seconds,
    reply_message,
    report_digest_message,
    unsubscribe_token,
    webhook_signature,
)
from rostra.storage.database import transaction
from rostra.storage.notifications import NotificationStore
from rostra.storage.outbox import Job, OutboxKind, OutboxStore
from rostra.storage.webhooks import WebhookStore

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("rostra.delivery")


class Http:
    """The HTTP client for webhook calls, made on first use: a process whose sites have no
    webhooks never loads httpx (about 14 MB of resident memory in every server process).
    ``client`` wraps an existing ``httpx.Client``, which ``close`` then leaves open."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client
        self._own = client is None

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        if self._client is None:
            import httpx

            self._client = httpx.Client()
        return self._client.post(url, **kwargs)

    def close(self) -> None:
        if self._own and self._client is not None:
            self._client.close()
            self._client = None


def _http_errors() -> type[Exception]:
    import httpx

    return httpx.HTTPError

#: Finished outbox rows and delivery-log entries are deleted after this long.
RETENTION = timedelta(days=30)
PRUNE_EVERY_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """The settings the sender obeys (``rostra.config.Settings`` holds them)."""

    secret_key: str
    public_url: str
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "rostra@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 6 * 3600.0
    webhook_timeout_seconds: float = 10.0
    digest_interval_seconds: float = 3600.0
    lease_seconds: float = 300.0
    batch_size: int = 20

    @classmethod
    def from_settings(cls, settings: Any) -> DeliveryConfig:
        """From ``rostra.config.Settings`` (passed in by the web app or the CLI, which are the
        only readers of settings)."""
        return cls(
            secret_key=settings.secret_key,
            public_url=settings.public_url,
            smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
            smtp_from=settings.smtp_from,
            smtp_username=settings.smtp_username,
            smtp_password=settings.smtp_password,
            smtp_starttls=settings.smtp_starttls_enabled,
            max_attempts=settings.delivery_max_attempts,
            backoff_seconds=settings.delivery_backoff_seconds,
            webhook_timeout_seconds=settings.webhook_timeout_seconds,
            digest_interval_seconds=settings.report_digest_minutes * 60,
        )

    @property
    def kinds(self) -> tuple[OutboxKind, ...]:
        """Without an SMTP server, mail waits in the outbox until one is configured."""
        if self.smtp_host:
            return tuple(OutboxKind)
        return (OutboxKind.WEBHOOK,)


class DeliveryFailed(Exception):
    """An attempt failed; ``retry`` False means no later attempt can succeed."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class Done(Enum):
    SENT = "sent"
    SKIPPED = "skipped"  # nothing to send any more (reply removed, reader unsubscribed)
    FINISHED = "finished"  # the handler already recorded the outcome


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- one attempt per kind ------------------------------------------------------------------


def _email(config: DeliveryConfig, message: Message, now: datetime) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = config.smtp_from
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = make_msgid(domain=config.smtp_from.rpartition("@")[2] or None)
    for name, value in message.headers.items():
        mail[name] = value
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


def send_email(config: DeliveryConfig, message: Message, now: datetime) -> None:
    """One message over SMTP; DeliveryFailed says whether trying again may help."""
    if not config.smtp_host:
        raise DeliveryFailed("no SMTP server is configured (ROSTRA_SMTP_HOST)")
    mail = _email(config, message, now)
    try:
        with smtplib.SMTP(config.smtp_host, config.smtp_port,
                          timeout=config.webhook_timeout_seconds) as smtp:
            if config.smtp_starttls:
                smtp.starttls()
            if config.smtp_username:
                smtp.login(config.smtp_username, config.smtp_password or "")
            smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryFailed(f"recipient refused: {exc.recipients}",
                             retry=any(c < 500 for c in codes)) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"SMTP: {exc.__class__.__name__}: {exc}") from None


def _send_mail_job(
    db: Engine, config: DeliveryConfig, job: Job, now: datetime, http: Http
) -> Done:
    send_email(config, Message.from_dict(job.payload), now)
    return Done.SENT


def _send_reply(
    db: Engine, config: DeliveryConfig, job: Job, now: datetime, http: Http
) -> Done:
    with db.connect() as conn:
        notice = NotificationStore.reply_notice(conn, int(job.payload["comment_id"]))
    # Checked when sending, not when queued: the reply may have been removed since, or the
    # reader may have unsubscribed.
    if notice is None or notice.reply_status.value != "published" or not notice.wants_replies \
            or not notice.email:
        return Done.SKIPPED
    base = config.public_url.rstrip("/")
    message = reply_message(
        to=notice.email,
        recipient=notice.recipient,
        replier=notice.replier,
        story_title=notice.story_title,
        comment_url=f"{notice.story_url}#comment-{notice.reply_id}",
        reply_text=notice.reply_body,
        unsubscribe_url=(
            f"{base}/api/v1/unsubscribe/{unsubscribe_token(config.secret_key, notice.recipient_id)}"
        ),
    )
    send_email(config, message, now)
    return Done.SENT


def _expand_digest(
    db: Engine, config: DeliveryConfig, job: Job, now: datetime, http: Http
) -> Done:
    """At most one digest per site and interval: the first report after a quiet spell goes out
    at once, later ones wait for the end of the interval and go out together."""
    site_id = int(job.payload["site_id"])
    with transaction(db) as conn:
        last = OutboxStore.last_sent(conn, OutboxKind.DIGEST, site_id)
        if last is not None and last.sent_at is not None:
            next_time = last.sent_at + timedelta(seconds=config.digest_interval_seconds)
            if next_time > now:
                OutboxStore.postpone(conn, job.id, when=next_time)
                return Done.FINISHED
        since = None if last is None else last.sent_at
        lines = NotificationStore.reports_between(conn, site_id, since, now)
        _, site_name = NotificationStore.site_name(conn, site_id)
        base = config.public_url.rstrip("/")
        for recipient in NotificationStore.digest_recipients(conn, site_id) if lines else []:
            message = report_digest_message(
                to=recipient.email, site_name=site_name, reports=lines,
                queue_url=f"{base}/moderate",
            )
            OutboxStore.add(conn, kind=OutboxKind.EMAIL, site_id=site_id, now=now,
                            payload=message.to_dict())
        OutboxStore.mark_sent(conn, job.id, now=now)
        OutboxStore.release_key(conn, job.id)
    return Done.FINISHED


def _send_webhook(
    db: Engine, config: DeliveryConfig, job: Job, now: datetime, http: Http
) -> Done:
    with db.connect() as conn:
        try:
            hook = WebhookStore.get(conn, int(job.payload["webhook_id"]))
        except NotFound:
            return Done.SKIPPED
    if not hook.active:
        return Done.SKIPPED
    body = json.dumps(job.payload["body"], separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Rostra-Webhooks/{__version__}",
        SIGNATURE_HEADER: webhook_signature(hook.secret, int(now.timestamp()), body),
        "Rostra-Event": job.payload["event"],
        "Rostra-Delivery": str(job.payload["body"].get("id", job.id)),
    }
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        response = http.post(hook.url, content=body, headers=headers,
                             timeout=config.webhook_timeout_seconds, follow_redirects=False)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except _http_errors() as exc:
        error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    duration_ms = round((time.perf_counter() - started) * 1000)
    with transaction(db) as conn:
        WebhookStore.record_delivery(
            conn, webhook_id=hook.id, outbox_id=job.id, event=job.payload["event"],
            attempt=job.attempts, status_code=status, duration_ms=duration_ms, error=error,
            now=now,
        )
    if error is not None:
        raise DeliveryFailed(error)
    return Done.SENT


Handler = Callable[[Engine, DeliveryConfig, Job, datetime, Http], Done]

HANDLERS: dict[OutboxKind, Handler] = {
    OutboxKind.EMAIL: _send_mail_job,
    OutboxKind.REPLY: _send_reply,
    OutboxKind.DIGEST: _expand_digest,
    OutboxKind.WEBHOOK: _send_webhook,
}


# -- the loop ------------------------------------------------------------------------------


def _attempt(
    db: Engine, config: DeliveryConfig, job: Job, now: datetime, http: Http
) -> None:
    try:
        if job.attempts > config.max_attempts:  # a claim that lapsed after the last attempt
            raise DeliveryFailed("gave up: the last attempt never finished", retry=False)
        done = HANDLERS[job.kind](db, config, job, now, http)
    except DeliveryFailed as exc:
        with transaction(db) as conn:
            if not exc.retry or job.attempts >= config.max_attempts:
                OutboxStore.mark_dead(conn, job.id, error=str(exc))
                log.warning("outbox %s (%s) is dead: %s", job.id, job.kind.value, exc)
            else:
                wait = backoff_seconds(job.attempts, base=config.backoff_seconds,
                                       cap=config.backoff_max_seconds)
                OutboxStore.retry_at(conn, job.id, when=now + timedelta(seconds=wait),
                                     error=str(exc))
        return
    if done is not Done.FINISHED:
        with transaction(db) as conn:
            OutboxStore.mark_sent(conn, job.id, now=now)


def deliver_due(
    db: Engine,
    config: DeliveryConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
    http: Http | httpx.Client | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Claim one batch of due jobs and attempt each; returns how many were claimed.
    ``http`` is the client for webhook calls (default: one for this batch). When ``stop`` is
    set midway, the jobs not yet attempted are handed back at once."""
    now = clock()
    with db.connect() as conn:
        if not OutboxStore.has_due(conn, now=now, kinds=config.kinds):
            return 0
    with transaction(db) as conn:
        jobs = OutboxStore.claim(conn, now=now, limit=config.batch_size,
                                 lease_seconds=config.lease_seconds, kinds=config.kinds)
    with contextlib.closing(http if isinstance(http, Http) else Http(http)) as client:
        for index, job in enumerate(jobs):
            if stop is not None and stop.is_set():
                with transaction(db) as conn:
                    for rest in jobs[index:]:
                        OutboxStore.postpone(conn, rest.id, when=rest.next_attempt_at)
                break
            _attempt(db, config, job, clock(), client)
    return len(jobs)


def prune(db: Engine, *, now: datetime) -> tuple[int, int]:
    """Forget sent and dead outbox rows and delivery-log entries older than ``RETENTION``."""
    with transaction(db) as conn:
        return (OutboxStore.prune(conn, before=now - RETENTION),
                WebhookStore.prune_deliveries(conn, before=now - RETENTION))


class DeliveryWorker:
    """A daemon thread that calls ``deliver_due`` until stopped, resting ``poll_seconds``
    whenever nothing is due. Several workers (processes, servers) may run at once."""

    def __init__(self, db: Engine, config: DeliveryConfig, *, poll_seconds: float = 1.0) -> None:
        self.db = db
        self.config = config
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="rostra-delivery", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        pruned_at: float | None = None
        with contextlib.closing(Http()) as http:  # one connection pool for the thread
            while not self._stop.is_set():
                try:
                    if pruned_at is None or time.monotonic() - pruned_at > PRUNE_EVERY_SECONDS:
                        pruned_at = time.monotonic()
                        prune(self.db, now=utcnow())
                    claimed = deliver_due(self.db, self.config, http=http, stop=self._stop)
                except Exception:  # noqa: BLE001 - the sender must outlive a bad row or DB blip
                    log.exception("delivery round failed")
                    claimed = 0
                if not claimed:
                    self._stop.wait(self.poll_seconds)
