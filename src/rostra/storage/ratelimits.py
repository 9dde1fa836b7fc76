"""Fixed-window rate limits shared by every server process: in Redis, or in the database.

A limit is "at most ``limit`` hits per key in each window of ``window_seconds``", the window
being aligned to the epoch (so every process agrees on it without talking to the others).
``hit`` counts one hit and answers None (allowed) or the seconds until the window ends.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from rostra.storage.tables import rate_limits

log = logging.getLogger(__name__)

#: The longest window a limit may use; older database rows are swept away.
MAX_WINDOW_SECONDS = 24 * 3600


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, window_seconds: int, now: datetime) -> int | None:
        """Count a hit; None if it is within the limit, else seconds until it would be."""
        ...


def _window(window_seconds: int, now: datetime) -> tuple[int, int]:
    """(start of the current window, seconds left in it, at least 1), both in whole seconds."""
    if not 0 < window_seconds <= MAX_WINDOW_SECONDS:
        raise ValueError(f"window_seconds must be in 1..{MAX_WINDOW_SECONDS}")
    stamp = now.timestamp()
    start = int(stamp // window_seconds) * window_seconds
    return start, max(1, math.ceil(start + window_seconds - stamp))


def _stored_key(key: str, window_seconds: int) -> str:
    """The row key: the window length is part of it; long keys are hashed to fit 200 chars."""
    stored = f"{key}|{window_seconds}"
    if len(stored) > 200:
        stored = "sha256:" + hashlib.sha256(stored.encode("utf-8")).hexdigest()
    return stored


class DatabaseRateLimiter:
    """Counts in the ``rate_limits`` table with one atomic upsert per hit.

    ``INSERT .. ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 RETURNING
    count`` is atomic on PostgreSQL and SQLite alike, so concurrent processes never lose a hit.
    """

    def __init__(self, engine: Engine, *, sweep_probability: float = 0.01) -> None:
        self.engine = engine
        self.sweep_probability = sweep_probability

    def hit(self, key: str, limit: int, window_seconds: int, now: datetime) -> int | None:
        start, left = _window(window_seconds, now)
        key = _stored_key(key, window_seconds)
        dialect_insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        upsert = dialect_insert(rate_limits).values(key=key, window_start=start, count=1)
        statement = upsert.on_conflict_do_update(
            index_elements=["key", "window_start"],
            set_={"count": rate_limits.c.count + 1},
        ).returning(rate_limits.c.count)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # A counter lost in a crash costs nothing; not waiting for the WAL flush
                # makes a hit ~10x cheaper.
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            count = conn.execute(statement).scalar_one()
            if count == 1:
                # First hit of a new window: the key's earlier windows are over.
                conn.execute(
                    delete(rate_limits).where(
                        rate_limits.c.key == key, rate_limits.c.window_start < start
                    )
                )
                if random.random() < self.sweep_probability:
                    self._sweep(conn, now)
        return None if count <= limit else left

    @staticmethod
    def _sweep(conn: Any, now: datetime) -> None:
        horizon = int(now.timestamp()) - MAX_WINDOW_SECONDS
        conn.execute(delete(rate_limits).where(rate_limits.c.window_start < horizon))

    def count(self, key: str, window_seconds: int, now: datetime) -> int:
        """Hits so far in the current window (for tests and diagnostics)."""
        start, _ = _window(window_seconds, now)
        with self.engine.connect() as conn:
            value = conn.execute(
                select(rate_limits.c.count).where(
                    rate_limits.c.key == _stored_key(key, window_seconds),
                    rate_limits.c.window_start == start,
                )
            ).scalar()
        return int(value or 0)


class RedisRateLimiter:
    """Counts in Redis: INCR plus EXPIRE in one MULTI/EXEC, keys expiring with their window.

    If Redis cannot be reached the hit is allowed and the failure logged: comments keep
    flowing through a Redis outage, unprotected, rather than every request failing.
    """

    def __init__(self, client: Any, *, prefix: str = "rostra:rl:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisRateLimiter:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0))

    def hit(self, key: str, limit: int, window_seconds: int, now: datetime) -> int | None:
        import redis

        start, left = _window(window_seconds, now)
        name = f"{self.prefix}{key}:{window_seconds}:{start}"
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.incr(name)
            pipe.expire(name, window_seconds + 1)
            count, _ = pipe.execute()
        except redis.RedisError:
            log.exception("rate limit check skipped: Redis is unreachable")
            return None
        return None if int(count) <= limit else left


def make_rate_limiter(engine: Engine, redis_url: str | None) -> RateLimiter:
    """Redis when a URL is configured, else the database every process already shares."""
    if redis_url:
        return RedisRateLimiter.from_url(redis_url)
    return DatabaseRateLimiter(engine)
