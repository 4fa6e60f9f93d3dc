"""Two narrow patches of kombu's Redis transport (5.x), each idempotent; ``worker.app`` applies both.

``reuse_publish_clients``: one redis-py client per broker channel for publishing, instead
of one per message. kombu builds a new ``redis.Redis`` object for every message it
publishes and every event it sends (``Channel.conn_or_acquire`` → ``_create_client``). The
objects share the channel's connection pool, so nothing is gained by the new object, and
building one (its response-callback table, its event dispatcher) costs CPU on every
message (what it cost: docs/decisions.md, "One redis-py client per broker channel").
redis-py clients are thread-safe over a pool, so the channel keeps the first one it builds
and every thread publishes through it. The behaviour is otherwise kombu's own.

``survive_closed_connections``: a worker holding unacknowledged messages (a busy
statuswatch worker always does: running checks with ``acks_late``, checks held for their
countdown) could die when the broker Redis went away; see the function and
docs/reliability.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

log = logging.getLogger("statuswatch")

_ATTR = "_statuswatch_publish_client"
_WARNED = "_statuswatch_warned_closed"


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


def survive_closed_connections() -> None:
    """Patch kombu's Redis channel so that a channel whose broker connection is already
    closed raises a connection error, not AttributeError, when it needs a new pool (idempotent).

    Why: on a lost connection Celery 5.7.0's consumer (``on_connection_error_after_connected``)
    calls ``connection.collect()``, then ``connection.close()``. While Redis is down
    ``collect()`` closes the channels only part-way (the task channel's pending BRPOP read
    raises before the channel is marked closed, then the control channel's fanout cleanup
    raises), and then detaches the transport (``transport.client = None``). ``close()`` closes
    the task channel again; it hands back its unacknowledged messages through a new pool
    (``restore_unacked`` → ``conn_or_acquire`` → ``_create_client`` → ``pool`` → ``_get_pool``
    → ``_connparams``), whose ``self.connection.client.hostname`` raises AttributeError on
    None. That is no connection error, so the worker stops ("Unrecoverable error"). Raised
    as redis' ConnectionError it is ignored like the other failures of that cleanup, the
    worker reconnects, and the messages stay in the broker's unacked hash until the
    visibility timeout brings them back: what happens when the first close fails, as with
    Celery 5.6, which only called ``collect()``. Without the patch the call can only raise.
    """
    channel = kombu_redis.Channel
    original: Callable[..., Any] = channel._connparams
    if getattr(original, "_statuswatch", False):
        return

    def _connparams(self: Any, asynchronous: bool = False) -> Any:
        transport = self.connection
        if transport is None or transport.client is None:
            if not self.__dict__.get(_WARNED):  # once per channel: late acks on it come here too
                self.__dict__[_WARNED] = True
                unacked = len(self._qos._delivered) if self._qos is not None else 0
                log.warning(
                    "broker connection closed with %d unacknowledged message(s) on it:"
                    " the broker redelivers them after the visibility timeout",
                    unacked,
                )
            raise redis.ConnectionError("the channel's broker connection is already closed")
        return original(self, asynchronous=asynchronous)

    _connparams._statuswatch = True  # type: ignore[attr-defined]
    channel._connparams = _connparams  # type: ignore[method-assign]
