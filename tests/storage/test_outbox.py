"""The outbox queue: claims never overlap, lapse when a worker dies, and old rows go."""

import threading
from datetime import timedelta

from tests.factories import NOW

from rostra.actions.delivery import RETENTION, DeliveryConfig, deliver_due, prune
from rostra.storage.database import transaction
from rostra.storage.outbox import OutboxKind, OutboxStatus, OutboxStore


def add_jobs(db, n, kind=OutboxKind.WEBHOOK):
    with transaction(db) as conn:
        for i in range(n):
            OutboxStore.add(conn, kind=kind, payload={"n": i}, now=NOW)


def claim(db, now=NOW, limit=3, **kw):
    with transaction(db) as conn:
        return OutboxStore.claim(conn, now=now, limit=limit, lease_seconds=60, **kw)


def test_claims_take_due_jobs_once_until_the_lease_lapses(db):
    add_jobs(db, 5)
    first, second = claim(db), claim(db)
    assert [j.payload["n"] for j in first + second] == [0, 1, 2, 3, 4]
    assert claim(db) == []
    assert all(j.status is OutboxStatus.SENDING and j.attempts == 1 for j in first)
    # The worker holding them died: after the lease they are claimed again.
    again = claim(db, now=NOW + timedelta(seconds=61), limit=10)
    assert len(again) == 5 and all(j.attempts == 2 for j in again)


def test_claims_only_the_kinds_asked_for_and_only_when_due(db):
    add_jobs(db, 1, kind=OutboxKind.EMAIL)
    with transaction(db) as conn:
        OutboxStore.add(conn, kind=OutboxKind.WEBHOOK, payload={}, now=NOW,
                        due=NOW + timedelta(minutes=5))
        assert not OutboxStore.has_due(conn, now=NOW, kinds=[OutboxKind.WEBHOOK])
    assert claim(db, kinds=[OutboxKind.WEBHOOK]) == []
    assert [j.kind for j in claim(db, now=NOW + timedelta(minutes=5))] == [
        OutboxKind.EMAIL, OutboxKind.WEBHOOK]


def test_a_dedupe_key_queues_once(db):
    with transaction(db) as conn:
        assert OutboxStore.add(conn, kind=OutboxKind.REPLY, payload={}, now=NOW,
                               dedupe_key="reply:1")
        assert not OutboxStore.add(conn, kind=OutboxKind.REPLY, payload={}, now=NOW,
                                   dedupe_key="reply:1")
        assert len(OutboxStore.list(conn)) == 1


def test_concurrent_workers_never_claim_the_same_job(db):
    add_jobs(db, 60)
    seen: list[int] = []
    lock = threading.Lock()

    def work():
        while jobs := claim(db, limit=4):
            with lock:
                seen.extend(j.id for j in jobs)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 60


def test_finished_jobs_are_pruned_after_the_retention(db):
    add_jobs(db, 3)
    jobs = claim(db)
    with transaction(db) as conn:
        OutboxStore.mark_sent(conn, jobs[0].id, now=NOW)
        OutboxStore.mark_dead(conn, jobs[1].id, error="gave up")
    assert prune(db, now=NOW + RETENTION) == (0, 0)
    assert prune(db, now=NOW + RETENTION + timedelta(seconds=1)) == (2, 0)
    with db.connect() as conn:
        assert [j.id for j in OutboxStore.list(conn)] == [jobs[2].id]


def test_a_stopping_sender_hands_back_what_it_did_not_attempt(db):
    add_jobs(db, 3)
    stop = threading.Event()
    stop.set()
    config = DeliveryConfig(secret_key="k" * 20, public_url="http://x.example")
    assert deliver_due(db, config, clock=lambda: NOW, stop=stop) == 3
    with db.connect() as conn:
        jobs = OutboxStore.list(conn)
    assert all(j.status is OutboxStatus.PENDING and j.attempts == 0 for j in jobs)
