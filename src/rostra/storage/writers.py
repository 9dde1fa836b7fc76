"""One writer at a time per SQLite database within this process, and one post at a time.

SQLite admits one writer. A second one waits in SQLite's busy handler, which polls with sleeps
that grow to 100 ms; under concurrent posts most of that wait is oversleeping after the lock is
long free, and the server idles while requests queue. A lock in the process hands the write
lock on the moment a transaction ends. PostgreSQL has row locks and needs none of this.

On SQLite a post is CPU work under the GIL from end to end (the database is in the process),
so concurrent posts only take turns on the GIL, and taking turns costs: 3.0 ms of CPU per post
with one client, 3.8 ms with two and 4.5 ms with 32. ``posting_turn`` lets one post run at a
time instead (3.1-3.5 ms at 2 and 32 clients), stepping aside while native code that releases
the GIL runs (the accurate tier's inference), so that work still overlaps on other cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
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


class Turn:
    """A lock that knows which thread holds it, so that code deep inside the holder's call can
    step aside (release it and take it back) around work that needs no turn.

    At most ``aside`` holders are stepped aside at once (one per usable core by default); the
    next one keeps its turn through the block. Each of them may hold resources such as a pooled
    database connection, so their number must stay bounded: with every post stepped aside the
    next would wait for a connection while it holds the turn that the others wait for.
    """

    def __init__(self, aside: int | None = None) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._aside = threading.BoundedSemaphore(aside or _usable_cores())

    @contextmanager
    def held(self) -> Iterator[None]:
        self._lock.acquire()
        self._owner = threading.get_ident()
        try:
            yield
        finally:
            self._owner = None
            self._lock.release()

    @contextmanager
    def stepped_aside(self) -> Iterator[None]:
        """Release the turn for the block if this thread holds it (and fewer than ``aside``
        holders are aside); otherwise do nothing."""
        if self._owner != threading.get_ident() or not self._aside.acquire(blocking=False):
            yield
            return
        self._owner = None
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._owner = threading.get_ident()
            self._aside.release()


class _NoTurn(Turn):
    """PostgreSQL's: posts wait on the network, and there they overlap."""

    def held(self) -> AbstractContextManager[None]:  # type: ignore[override]
        return nullcontext()

    def stepped_aside(self) -> AbstractContextManager[None]:  # type: ignore[override]
        return nullcontext()


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


_turns: WeakKeyDictionary[Engine, Turn] = WeakKeyDictionary()
_NO_TURN = _NoTurn()


def posting_turn(engine: Engine) -> Turn:
    """The turn this process's posts take on ``engine`` (see the module docstring); one that
    never waits on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return _NO_TURN
    with _guard:
        turn = _turns.get(engine)
        if turn is None:
            turn = _turns[engine] = Turn()
        return turn
