"""serialized_writes: one writer at a time per SQLite database in the process."""

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from rostra.storage.database import transaction
from rostra.storage.tables import sites
from rostra.storage.writers import serialized_writes


def _add_site(conn, slug):
    conn.execute(insert(sites).values(slug=slug, name=slug, policy={}, settings={},
                                      allowed_origins=[], created_at=datetime.now(UTC)))


def test_a_second_writer_waits_until_the_first_has_committed(db):
    if db.dialect.name != "sqlite":
        pytest.skip("PostgreSQL writers do not wait for each other")
    first_writing = threading.Event()
    seen_by_second: list[list[str]] = []

    def second() -> None:
        first_writing.wait(5)
        with serialized_writes(db) as start_writing, transaction(db) as conn:
            start_writing()  # returns only once the first writer's commit is done
            seen_by_second.append(list(conn.execute(select(sites.c.slug)).scalars()))
            _add_site(conn, "b")

    worker = threading.Thread(target=second)
    worker.start()
    with serialized_writes(db) as start_writing, transaction(db) as conn:
        start_writing()
        first_writing.set()
        time.sleep(0.2)  # the second writer is waiting now
        _add_site(conn, "a")
    worker.join(5)
    assert seen_by_second == [["a"]]
    with db.connect() as conn:
        assert sorted(conn.execute(select(sites.c.slug)).scalars()) == ["a", "b"]


def test_the_lock_is_released_after_a_rollback_and_reads_alone_never_take_it(db):
    with pytest.raises(RuntimeError), serialized_writes(db) as start_writing, \
            transaction(db) as conn:
        start_writing()
        _add_site(conn, "gone")
        raise RuntimeError("boom")
    with serialized_writes(db), transaction(db) as conn:  # no write: nothing to wait for
        assert conn.execute(select(sites.c.slug)).scalars().all() == []
    done = threading.Event()

    def writer() -> None:
        with serialized_writes(db) as start_writing, transaction(db) as conn:
            start_writing()
            _add_site(conn, "c")
        done.set()

    threading.Thread(target=writer).start()
    assert done.wait(5), "a released lock let the next writer in"


def test_a_post_turn_steps_aside_for_native_work_and_stays_bounded():
    import threading

    from rostra.storage.writers import Turn

    turn = Turn(aside=1)
    got_in = threading.Event()

    def other():
        with turn.held():
            got_in.set()

    with turn.held():
        t = threading.Thread(target=other)
        t.start()
        assert not got_in.wait(0.2)  # the turn is held
        with turn.stepped_aside():
            assert got_in.wait(2)  # while the holder is aside, another post runs
            t.join(2)
            # aside once at most: a nested holder keeps its turn
            with turn.held(), turn.stepped_aside():
                assert turn._owner == threading.get_ident()
    with turn.stepped_aside():  # a thread without the turn has nothing to give up
        assert turn._owner is None
