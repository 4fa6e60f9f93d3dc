"""Shared fixtures. Every test that touches Redis works under a namespace of its own and
deletes only the keys of that namespace afterwards; the real Redis is required (no skip)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import fakeredis
import pytest
import redis

from worker.fleet import Fleet, Ledger, Maintenance
from worker.keys import Keys, delete_prefix
from worker.store import Store

REDIS_URL = os.environ.get("STATUSWATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# This test process's own producer (``from tasks import track``) writes under a namespace
# and a broker key prefix of its own; set before anything imports ``worker.app``.
SESSION_NS = f"swtest-{uuid.uuid4().hex[:10]}"
os.environ["STATUSWATCH_REDIS_URL"] = REDIS_URL
os.environ["STATUSWATCH_BROKER_URL"] = REDIS_URL
os.environ["STATUSWATCH_NAMESPACE"] = SESSION_NS
os.environ["STATUSWATCH_BROKER_KEY_PREFIX"] = f"{SESSION_NS}-broker:"
os.environ.pop("STATUSWATCH_ACCOUNTS_FILE", None)


@pytest.fixture(scope="session", autouse=True)
def _session_namespace_cleanup() -> Iterator[None]:
    yield
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    delete_prefix(client, SESSION_NS)
    client.close()


@pytest.fixture
def namespace() -> str:
    return f"swtest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def real_redis(namespace: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.ping()
    yield client
    delete_prefix(client, namespace)
    client.close()


@pytest.fixture(params=["real", "fake"])
def either_redis(request: pytest.FixtureRequest) -> redis.Redis:
    """The real Redis (keys of the test's namespace deleted after it), then fakeredis."""
    if request.param == "real":
        return request.getfixturevalue("real_redis")
    return fakeredis.FakeRedis(decode_responses=True)


@pytest.fixture
def store(either_redis: redis.Redis, namespace: str) -> Store:
    """The same store contract against the real Redis and against fakeredis."""
    return Store(either_redis, Keys(namespace), retention_s=60, events_maxlen=1000)


@pytest.fixture
def fleet(store: Store) -> Fleet:
    """The fleet reader of the store's namespace."""
    return Fleet(store.redis, store.keys)


@pytest.fixture
def ledger(store: Store) -> Ledger:
    """The fleet counters and rejected stream of the store's namespace, written."""
    return Ledger(store.redis, store.keys)


@pytest.fixture
def maintenance(store: Store) -> Maintenance:
    return Maintenance(store.redis, store.keys)
