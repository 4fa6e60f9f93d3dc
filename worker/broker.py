"""One redis-py client per broker channel for publishing, instead of one per message.

kombu's Redis transport (5.x) builds a new ``redis.Redis`` object for every message it
publishes and every event it sends (``Channel.conn_or_acquire`` → ``_create_client``). The
objects share the channel's connection pool, so nothing is gained by the new object, and
building one (its response-callback table, its event dispatcher) costs CPU on every
message (what it cost: docs/decisions.md, "One redis-py client per broker channel").
redis-py clients are thread-safe over a pool, so the channel keeps the first one it builds
and every thread publishes through it. The behaviour is otherwise kombu's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis

_ATTR = "_statuswatch_publish_client"


def reuse_publish_clients() -> None:
    """Patch kombu's Redis channel to reuse one synchronous client (idempotent)."""
    channel = kombu_redis.Channel
    if getattr(channel.conn_or_acquire, "_statuswatch", False):
        return

    @contextmanager
    def conn_or_acquire(self: Any, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        shared = self.__dict__.get(_ATTR)
        # a channel that disconnected its pool builds a new one: follow it
        if shared is None or shared.connection_pool is not self._pool:
            shared = self.__dict__[_ATTR] = self._create_client()
        yield shared

    conn_or_acquire._statuswatch = True  # type: ignore[attr-defined]
    channel.conn_or_acquire = conn_or_acquire  # type: ignore[method-assign]
