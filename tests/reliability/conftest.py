"""Fixtures of the reliability suite: the integration tests' deployment and simulator, a
private Redis to kill, a TCP proxy to cut."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import deployment, simulator
from tests.reliability.faults import RedisServer, TcpProxy, take_port

__all__ = ["deployment", "simulator"]


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
