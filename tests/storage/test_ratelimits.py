import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from rostra.storage.database import make_engine
from rostra.storage.ratelimits import (
    DatabaseRateLimiter,
    RedisRateLimiter,
    make_rate_limiter,
)
from rostra.storage.tables import rate_limits

REDIS_URL = "redis://127.0.0.1:6379/15"
# 12:00:10 — 50 s left in the current minute window.
NOW = datetime(2026, 11, 25, 12, 0, 10, tzinfo=UTC)


@pytest.fixture
def redis_prefix():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis at 127.0.0.1:6379 is unreachable")
    prefix = f"rostra-test:{uuid.uuid4().hex}:"
    yield prefix
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


def _redis_limiter(prefix):
    limiter = RedisRateLimiter.from_url(REDIS_URL)
    limiter.prefix = prefix
    return limiter


def test_database_limiter_allows_n_then_says_when(db):
    limiter = DatabaseRateLimiter(db)
    assert [limiter.hit("ip:1", 3, 60, NOW) for _ in range(3)] == [None, None, None]
    assert limiter.hit("ip:1", 3, 60, NOW) == 50
    assert limiter.hit("ip:2", 3, 60, NOW) is None  # other keys are counted apart
    assert limiter.hit("ip:1", 3, 60, NOW + timedelta(seconds=50)) is None  # next window


def test_database_limiter_forgets_a_keys_past_windows(db):
    limiter = DatabaseRateLimiter(db)
    for minute in range(5):
        limiter.hit("ip:1", 3, 60, NOW + timedelta(minutes=minute))
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rate_limits)).scalar_one() == 1


def test_two_engines_share_the_count(database_url):
    first, second = make_engine(database_url), make_engine(database_url)
    try:
        a, b = DatabaseRateLimiter(first), DatabaseRateLimiter(second)
        assert a.hit("author:7", 2, 60, NOW) is None
        assert b.hit("author:7", 2, 60, NOW) is None
        assert a.hit("author:7", 2, 60, NOW) == 50
        assert b.hit("author:7", 2, 60, NOW) == 50
    finally:
        first.dispose()
        second.dispose()


def test_concurrent_hits_are_never_lost(database_url):
    engines = [make_engine(database_url) for _ in range(4)]
    try:
        limiters = [DatabaseRateLimiter(e) for e in engines]

        def hammer(limiter):
            return [limiter.hit("hot", 1000, 60, NOW) for _ in range(25)]

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(hammer, limiters))
        assert limiters[0].count("hot", 60, NOW) == 100
    finally:
        for engine in engines:
            engine.dispose()


def test_redis_limiter_allows_n_then_says_when(redis_prefix):
    limiter = _redis_limiter(redis_prefix)
    assert [limiter.hit("ip:1", 3, 60, NOW) for _ in range(3)] == [None, None, None]
    assert limiter.hit("ip:1", 3, 60, NOW) == 50
    assert limiter.hit("ip:1", 3, 60, NOW + timedelta(seconds=50)) is None


def test_two_redis_clients_share_the_count(redis_prefix):
    a, b = _redis_limiter(redis_prefix), _redis_limiter(redis_prefix)
    assert a.hit("author:7", 1, 60, NOW) is None
    assert b.hit("author:7", 1, 60, NOW) == 50


def test_redis_outage_lets_requests_through(caplog):
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0")
    assert limiter.hit("ip:1", 0, 60, NOW) is None
    assert "Redis is unreachable" in caplog.text


def test_windows_must_be_sane(db):
    with pytest.raises(ValueError):
        DatabaseRateLimiter(db).hit("k", 1, 0, NOW)


def test_backend_follows_the_settings(db):
    assert isinstance(make_rate_limiter(db, None), DatabaseRateLimiter)
    assert isinstance(make_rate_limiter(db, REDIS_URL), RedisRateLimiter)


HAMMER = """
import sys
from datetime import datetime
from rostra.storage.database import make_engine
from rostra.storage.ratelimits import DatabaseRateLimiter
limiter = DatabaseRateLimiter(make_engine(sys.argv[1]))
now = datetime.fromisoformat(sys.argv[2])
refused = sum(limiter.hit("shared", 30, 60, now) is not None for _ in range(25))
print(refused)
"""


def test_two_processes_share_the_count(database_url):
    """Two OS processes, as two `rostra serve` workers: 50 hits, limit 30, 20 refused."""
    import subprocess
    import sys

    procs = [
        subprocess.Popen([sys.executable, "-c", HAMMER, database_url, NOW.isoformat()],
                         stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    refused = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(refused) == 20
