"""A worker killed with SIGKILL mid-check loses nothing: the lease brings its checks back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import WAMM_TOKEN, wamm_accounts
from tests.integration.harness import Deployment
from tests.integration.test_end_to_end import assert_transitions_once
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def claimed_not_observed(deployment: Deployment, msg_ids: list[str]) -> int:
    """Trackers claimed (due in the future, by the lease) that no check has observed yet."""
    now_ms = time.time() * 1000
    trackers = deployment.trackers("wamm", "shop", msg_ids)
    scores = deployment.redis.zmscore(deployment.keys.due("wamm:shop"), msg_ids)
    return sum(
        1
        for m, score in zip(msg_ids, scores, strict=True)
        if trackers[m] is not None and trackers[m].checks == 0 and score is not None and score > now_ms
    )


@pytest.fixture
def deployment(tmp_path: Path, namespace: str, simulator: SimulatorClient) -> Iterator[Deployment]:
    # the killed worker may hold track requests it took and had not run: they come back
    # after the broker's visibility timeout, short here
    deployment = Deployment(
        tmp_path, namespace, wamm_accounts(simulator.url), STATUSWATCH_BROKER_VISIBILITY_TIMEOUT_S="6"
    )
    yield deployment
    deployment.stop()


def test_sigkill_mid_check_loses_nothing(deployment: Deployment, simulator: SimulatorClient) -> None:
    msg_ids = [str(9_100_000 + i) for i in range(40)]
    life = [["sent", 0.05], ["delivered", 0.1], ["viewed", 0.2]]
    simulator.add_messages([{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": life} for m in msg_ids])
    simulator.configure(latency_s=1.5)
    for m in msg_ids:
        deployment.track(provider="wamm", account="shop", msg_id=m)

    deployment.start_worker("doomed", concurrency=32)
    deployment.start_beat()
    deployment.wait_for(lambda: simulator.stats()["in_flight"] >= 10, 30, "10 checks in flight")
    in_flight = claimed_not_observed(deployment, msg_ids)
    gateway_in_flight = simulator.stats()["in_flight"]
    deployment.kill("doomed")
    assert in_flight >= 10, f"only {in_flight} trackers were claimed and unobserved at the kill"
    assert gateway_in_flight >= 10

    simulator.configure(latency_s=0.0)
    deployment.start_worker("survivor", concurrency=16)
    deployment.wait_for(
        lambda: deployment.tracked() == len(msg_ids) and deployment.all_finished(), 60, "every tracker finished"
    )

    events = deployment.events_by_tracker()
    for m, tracker in deployment.trackers("wamm", "shop", msg_ids).items():
        assert (tracker.state.value, tracker.outcome.value) == ("read", "settled")
        assert_transitions_once(events[m], "read", "settled")
