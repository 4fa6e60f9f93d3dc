"""RabbitMQ as broker (the store on Redis) out of reach for 30 s under a loaded worker: the
connections through a loopback proxy are cut and new ones refused, RabbitMQ itself keeps
running. Worker and beat ride it out by themselves and every tracker finishes."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kombu import Connection
from kombu.exceptions import OperationalError

from config.celery import QUEUES
from tests.conftest import REDIS_URL
from tests.integration.conftest import wamm_accounts
from tests.integration.harness import Deployment
from tests.reliability.faults import TcpProxy
from tests.reliability.scenario import SETTINGS, ride_out, stop
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(240)]

AMQP_URL = os.environ.get("STATUSWATCH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
OUTAGE_S = 30.0


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


def test_rabbitmq_out_of_reach_for_30_s(
    tmp_path: Path,
    namespace: str,
    simulator: SimulatorClient,
    rabbitmq: str,
    proxy: Callable[[int], TcpProxy],
) -> None:
    parts = urlsplit(rabbitmq)
    cut = proxy(parts.port or 5672)
    broker = parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{cut.port}").geturl()
    env = {**SETTINGS, "STATUSWATCH_REDIS_URL": REDIS_URL, "STATUSWATCH_BROKER_URL": broker}
    deployment = Deployment(tmp_path, namespace, wamm_accounts(simulator.url), **env)  # type: ignore[attr-defined]

    def outage() -> None:
        cut.cut()
        time.sleep(OUTAGE_S)
        cut.restore()

    try:
        outcome = ride_out(deployment, simulator, outage, base=9_500_000)
    finally:
        stop(deployment)
    print(outcome.line(f"rabbitmq out of reach {OUTAGE_S:.0f} s"))
    log = deployment.log("w1")
    assert "Connection to broker lost" in log
    assert log.count("Connected to amqp://") >= 2, "the worker never reconnected"
