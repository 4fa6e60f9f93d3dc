"""Redis as broker and store fails under a loaded worker: killed with SIGKILL and started
again from its append-only file, or out of reach for 30 s. Worker and beat ride it out by
themselves and every tracker finishes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import wamm_accounts
from tests.integration.harness import Deployment
from tests.reliability.faults import RedisServer, TcpProxy
from tests.reliability.scenario import SETTINGS, ride_out, stop
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(240)]

#: Redis is down this long after the SIGKILL (the reported chaos run waited 10 s)
KILLED_S = 5.0
#: the outage through the proxy
OUTAGE_S = 30.0


def deployment_on(tmp_path: Path, namespace: str, simulator: SimulatorClient, url: str) -> Deployment:
    env = {**SETTINGS, "STATUSWATCH_REDIS_URL": url, "STATUSWATCH_BROKER_URL": url}
    return Deployment(tmp_path, namespace, wamm_accounts(simulator.url), **env)  # type: ignore[attr-defined]


@pytest.fixture
def on_private_redis(
    tmp_path: Path, namespace: str, simulator: SimulatorClient, redis_server: RedisServer
) -> Iterator[Deployment]:
    deployment = deployment_on(tmp_path, namespace, simulator, redis_server.url)
    yield deployment
    stop(deployment)


def test_redis_killed_and_restarted(
    on_private_redis: Deployment, simulator: SimulatorClient, redis_server: RedisServer
) -> None:
    """The regression of issue 11: kombu restoring the unacknowledged checks on the lost
    connection raised AttributeError and the worker died ("Unrecoverable error")."""

    def kill_and_restart() -> None:
        redis_server.kill()
        time.sleep(KILLED_S)
        redis_server.start()

    outcome = ride_out(on_private_redis, simulator, kill_and_restart, base=9_300_000)
    print(outcome.line(f"redis SIGKILL, restarted after {KILLED_S:.0f} s"))
    log = on_private_redis.log("w1")
    assert "Connection to broker lost" in log
    assert log.count("Connected to redis://") >= 2, "the worker never reconnected"


def test_redis_out_of_reach_for_30_s(
    tmp_path: Path,
    namespace: str,
    simulator: SimulatorClient,
    redis_server: RedisServer,
    proxy: Callable[[int], TcpProxy],
) -> None:
    cut = proxy(redis_server.port)
    deployment = deployment_on(tmp_path, namespace, simulator, f"redis://127.0.0.1:{cut.port}/0")

    def outage() -> None:
        cut.cut()
        time.sleep(OUTAGE_S)
        cut.restore()

    try:
        outcome = ride_out(deployment, simulator, outage, base=9_400_000)
    finally:
        stop(deployment)
    print(outcome.line(f"redis out of reach {OUTAGE_S:.0f} s"))
    assert "Connection to broker lost" in deployment.log("w1")
