"""Find statuswatch tasks waiting where no statuswatch worker will ever read them.

A producer that sends ``statuswatch.track`` without ``queue="statuswatch.track"`` puts it on
Celery's default queue ``celery`` (or its own default), which statuswatch workers do not
consume: other services' tasks live there. Such a request would wait, or be dropped by
another service's worker as an unregistered task, in silence. ``doctor``, the metrics,
the worker at start-up and housekeeping all look with ``find``.

On a Redis broker every queue kombu has bound (``_kombu.binding.*``) and the configured
watch list are read without consuming anything, and the task name of each waiting
message is counted. On RabbitMQ a message cannot be read without taking it, so only the
depth and the consumers of each watched queue are known.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis

from config import Settings
from config.celery import QUEUES

#: messages read per queue at most (per priority list on Redis): a diagnostic, not a drain
SCAN_LIMIT = 10_000
_PAGE = 500
#: kombu's Redis transport: a queue's priority lists are ``queue``, ``queue\x06\x163``, ...
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
_BINDING = "_kombu.binding."
_SEP = "\x06\x16"


@dataclass(frozen=True)
class Finding:
    """What waits on one queue that no statuswatch worker reads."""

    queue: str
    #: statuswatch tasks found (Redis), or every message waiting (RabbitMQ: names unseen)
    count: int
    #: False where ``count`` is only the queue's depth, or the scan stopped at SCAN_LIMIT
    exact: bool = True
    #: consumers of the queue, where the broker says (RabbitMQ)
    consumers: int | None = None

    def describe(self) -> str:
        if self.consumers is not None:
            return (
                f"{self.count} message(s) wait on queue {self.queue!r} ({self.consumers} consumer(s)); RabbitMQ "
                "does not show their task names: statuswatch tasks sent without queue= land there"
            )
        more = "at least " if not self.exact else ""
        return f"{more}{self.count} statuswatch task(s) wait on queue {self.queue!r}, which no statuswatch worker reads"


#: what to tell the producer, once per report
FIX = (
    "send with queue='statuswatch.track' (send_task(..., queue='statuswatch.track'), or "
    "task_routes={'statuswatch.*': {'queue': 'statuswatch.track'}}); see docs/contract.md"
)


def find(settings: Settings) -> list[Finding]:
    """Every queue outside statuswatch's own with statuswatch work waiting on it.

    Raises:
        Exception: the broker could not be reached (the caller says so).
    """
    scheme = settings.broker_url.partition("://")[0]
    if scheme in ("redis", "rediss", "unix"):
        return _find_redis(settings)
    if scheme in ("amqp", "amqps", "pyamqp"):
        return _find_amqp(settings)
    return []


def _find_redis(settings: Settings) -> list[Finding]:
    client: Any = redis.Redis.from_url(settings.broker_url, socket_timeout=5, socket_connect_timeout=5)
    prefix = settings.broker_key_prefix
    try:
        queues = set(settings.watch_queues) | set(_bound_queues(client, prefix))
        findings = []
        for queue in sorted(queues - set(QUEUES)):
            count, exact = _count_statuswatch(client, prefix + queue)
            if count:
                findings.append(Finding(queue, count, exact))
        return findings
    finally:
        client.close()


def _bound_queues(client: Any, prefix: str) -> Iterator[str]:
    """Queue names from kombu's binding sets (members ``routing_key\\x06\\x16pattern\\x06\\x16queue``)."""
    for key in client.scan_iter(match=f"{prefix}{_BINDING}*", count=1000, _type="SET"):
        for member in client.smembers(key):
            yield member.decode("utf-8", "replace").rsplit(_SEP, 1)[-1]


def _count_statuswatch(client: Any, key: str) -> tuple[int, bool]:
    """statuswatch messages on a queue's lists, read without consuming (LRANGE)."""
    count, exact = 0, True
    for suffix in _PRIORITY_SUFFIXES:
        name = key + suffix
        length = int(client.llen(name))
        for start in range(0, min(length, SCAN_LIMIT), _PAGE):
            count += sum(_is_statuswatch(raw) for raw in client.lrange(name, start, start + _PAGE - 1))
        exact &= length <= SCAN_LIMIT
    return count, exact


def _is_statuswatch(raw: bytes) -> bool:
    try:
        message: Any = json.loads(raw)
        task = message["headers"]["task"]
    except (ValueError, KeyError, TypeError):
        return False  # not a Celery protocol-2 message: not ours to judge
    return isinstance(task, str) and task.startswith("statuswatch.")


def _find_amqp(settings: Settings) -> list[Finding]:
    from kombu import Connection  # type: ignore[attr-defined]

    findings = []
    with Connection(settings.broker_url, connect_timeout=5) as conn:  # type: ignore[no-untyped-call]
        for queue in settings.watch_queues:
            channel = conn.channel()
            try:
                _, depth, consumers = channel.queue_declare(queue=queue, passive=True)
            except conn.channel_errors:  # no such queue: nothing waits there
                continue
            finally:
                _close(channel)
            if depth:
                findings.append(Finding(queue, int(depth), exact=False, consumers=int(consumers)))
    return findings


def _close(channel: Any) -> None:
    with contextlib.suppress(Exception):  # already closed by the broker's 404
        channel.close()

