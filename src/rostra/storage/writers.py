"""One writer at a time per SQLite database within this process.

SQLite admits one writer. A second one waits in SQLite's busy handler, which polls with sleeps
that grow to 100 ms; under concurrent posts most of that wait is oversleeping after the lock is
long free, and the server idles while requests queue. A lock in the process hands the write
lock on the moment a transaction ends. PostgreSQL has row locks and needs none of this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy import Engine

_locks: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_guard = threading.Lock()


def _lock_for(engine: Engine) -> threading.Lock:
    with _guard:
        lock = _locks.get(engine)
        if lock is None:
            lock = _locks[engine] = threading.Lock()
        return lock


@contextmanager
def serialized_writes(engine: Engine) -> Iterator[Callable[[], None]]:
    """Yields ``start_writing``: call it just before a transaction's first write. On SQLite it
    waits for this process's other writers; the lock is held until the ``with`` block ends, so
    enter this block before (outside) the transaction's, which then commits first. Reads before
    ``start_writing`` run concurrently as before. On PostgreSQL ``start_writing`` does nothing.
    """
    if engine.dialect.name != "sqlite":
        yield _nothing
        return
    lock = _lock_for(engine)
    held = False

    def start_writing() -> None:
        nonlocal held
        if not held:
            lock.acquire()
            held = True

    try:
        yield start_writing
    finally:
        if held:
            lock.release()


def _nothing() -> None:
    return None
