"""Fixtures of the reliability suite: the integration tests' deployment and simulator, a
private Redis to kill, a TCP proxy to cut, RabbitMQ as broker."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kombu import Connection
from kombu.exceptions import OperationalError

from config.celery import QUEUES
from tests.integration.conftest import deployment, simulator
from tests.reliability.faults import RedisServer, TcpProxy, take_port

__all__ = ["deployment", "simulator"]

AMQP_URL = os.environ.get("STATUSWATCH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def ports() -> set[int]:
    """Loopback ports this test has taken from the suite's range."""
    return set()


@pytest.fixture
def redis_server(tmp_path: Path, ports: set[int]) -> Iterator[RedisServer]:
    """A private Redis (AOF everysec) this test may kill; stopped at the end."""
    server = RedisServer(take_port(ports), tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def proxy(ports: set[int]) -> Iterator[Callable[[int], TcpProxy]]:
    """``proxy(target)``: a started TCP proxy to loopback port ``target``; closed at the end."""
    proxies: list[TcpProxy] = []

    def start(target: int) -> TcpProxy:
        proxies.append(TcpProxy(take_port(ports), target).start())
        return proxies[-1]

    yield start
    for started in proxies:
        started.close()


def _existing_queues(url: str) -> dict[str, tuple[int, int]]:
    """statuswatch's queues already on the broker: {name: (messages, consumers)}."""
    found = {}
    with Connection(url, connect_timeout=2) as conn:
        for name in QUEUES:
            channel = conn.channel()
            try:
                _, messages, consumers = channel.queue_declare(name, passive=True)
                found[name] = (messages, consumers)
            except conn.channel_errors:  # NOT_FOUND (it closes the channel)
                pass
            finally:
                with contextlib.suppress(*conn.connection_errors, *conn.channel_errors):
                    channel.close()
    return found


@pytest.fixture
def rabbitmq() -> Iterator[str]:
    """The broker's URL; skips without one, or when statuswatch's queues there are in use.
    Afterwards deletes the queues (and their exchanges) the test declared, never others."""
    parts = urlsplit(AMQP_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=1).close()
        before = _existing_queues(AMQP_URL)
    except (OSError, OperationalError) as exc:
        pytest.skip(f"no RabbitMQ at {AMQP_URL} ({exc})")
    if busy := {name: used for name, used in before.items() if any(used)}:
        pytest.skip(f"statuswatch's queues on {AMQP_URL} are in use (messages, consumers): {busy}")
    yield AMQP_URL
    with Connection(AMQP_URL, connect_timeout=2) as conn:
        channel = conn.channel()
        for name in set(QUEUES) - set(before):
            channel.queue_delete(name)
            channel.exchange_delete(name)
        channel.close()
