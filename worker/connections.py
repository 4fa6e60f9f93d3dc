"""Redis connections of the engine: one client per process, shared by the store and the limiter."""

from __future__ import annotations

import redis


def redis_client(url: str) -> redis.Redis:
    """A client for the store: decoded strings, bounded timeouts, health checks."""
    client: redis.Redis = redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry_on_timeout=True,
    )
    return client


def eviction_policy(client: redis.Redis) -> str:
    """Redis's ``maxmemory-policy`` ("" where it does not say).

    Raises:
        redis.RedisError: CONFIG is refused (managed Redis often disables it).
    """
    answer = client.config_get("maxmemory-policy")
    return str(answer.get("maxmemory-policy") or "")
