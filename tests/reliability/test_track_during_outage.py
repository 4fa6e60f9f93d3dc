"""Track requests taken while the store goes away are not lost: Redis (broker and store) is
killed while a worker registers thousands of them, and started again; every one ends up a
tracker, once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import wamm_accounts
from tests.integration.harness import Deployment
from tests.reliability.faults import RedisServer
from tests.reliability.scenario import stop
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(240)]

TRACKS = 2000


def test_track_requests_in_hand_when_redis_dies_are_registered_after_it_returns(
    tmp_path: Path, namespace: str, simulator: SimulatorClient, redis_server: RedisServer
) -> None:
    env = {
        "STATUSWATCH_REDIS_URL": redis_server.url, "STATUSWATCH_BROKER_URL": redis_server.url,
        # a request a worker held when the connection went comes back after this long
        "STATUSWATCH_BROKER_VISIBILITY_TIMEOUT_S": "8", "STATUSWATCH_POLL_FIRST_S": "600",
        "STATUSWATCH_POLL_MAX_S": "600",
    }  # fmt: skip
    deployment = Deployment(tmp_path, namespace, wamm_accounts(simulator.url), **env)
    try:
        deployment.start_worker("w1")
        deployment.wait_ready(["w1"])
        ids = [str(6_000_000 + i) for i in range(TRACKS)]
        for msg_id in ids:  # one message each: the worker takes them 64 at a time
            deployment.track(provider="wamm", account="shop", msg_id=msg_id)
        deployment.wait_for(lambda: deployment.tracked() > 50, 30, "registration under way")
        redis_server.kill()
        time.sleep(3)
        redis_server.start()
        deployment.wait_for(lambda: deployment.tracked() == TRACKS, 120, f"all {TRACKS} trackers registered")
        assert all(t is not None for t in deployment.trackers("wamm", "shop", ids).values())
        assert "the store did not answer" in deployment.log("w1"), "the fault should have hit a track request"
    finally:
        stop(deployment)
