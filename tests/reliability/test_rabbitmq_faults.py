"""RabbitMQ as broker (the store on Redis) out of reach for 30 s under a loaded worker: the
connections through a loopback proxy are cut and new ones refused, RabbitMQ itself keeps
running. Worker and beat ride it out by themselves and every tracker finishes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REDIS_URL
from tests.integration.conftest import wamm_accounts
from tests.integration.harness import Deployment
from tests.reliability.faults import TcpProxy
from tests.reliability.scenario import SETTINGS, ride_out, stop
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(240)]

OUTAGE_S = 30.0


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
