"""Two beat processes by mistake do no harm: every periodic job is idempotent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.conftest import WAMM_TOKEN, wamm_accounts
from tests.integration.harness import Deployment
from tests.integration.test_end_to_end import assert_transitions_once
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_two_beats_dispatch_each_due_check_once(tmp_path: Path, namespace: str, simulator: SimulatorClient) -> None:
    ids = [str(6_000_000 + i) for i in range(100)]
    simulator.add_messages(
        [
            {"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": [["sent", 0.0], ["viewed", 0.0]]}
            for m in ids
        ]
    )
    deployment = Deployment(
        tmp_path,
        namespace,
        wamm_accounts(simulator.url),
        STATUSWATCH_POLL_FIRST_S="0.5",
        STATUSWATCH_POLL_MAX_S="1",
        STATUSWATCH_DEFAULT_RATE_LIMIT="100000/s",  # the limiter never binds: no re-sent checks
        STATUSWATCH_HOUSEKEEPING_EVERY_S="1",
    )
    try:
        deployment.start_worker()
        first, second = deployment.start_beat("beat1"), deployment.start_beat("beat2")
        for m in ids:
            deployment.track(provider="wamm", account="shop", msg_id=m)
        deployment.wait_all_finished(100, 60)
        deployment.wait_for(
            lambda: all(
                deployment.log(b).count("Sending due task statuswatch.housekeeping") >= 3 for b in ("beat1", "beat2")
            ),
            15,
            "both beats to publish housekeeping three times",
        )
        rollups = deployment.fleet.rollups(count=1000)
        pruned = deployment.redis.hgetall(deployment.keys.active)
        both_alive = first.poll() is None and second.poll() is None
        log = deployment.log("w1")
        events = deployment.events_by_tracker()
        trackers = deployment.trackers("wamm", "shop", ids)
        requests_per_message = simulator.requests_by_message()[WAMM_TOKEN]["msg_state"]
        stale = deployment.fleet.stats().get("grants:stale:wamm", 0)
    finally:
        deployment.stop()

    assert both_alive
    # Housekeeping from both beats: one rollup per one-second period, never two, and the
    # settled account is forgotten.
    periods = [int(r["period"]) for r in rollups]
    assert len(periods) >= 3 and len(set(periods)) == len(periods), periods
    assert pruned == {}, pruned
    published = [deployment.log(b).count("Sending due task statuswatch.dispatch") for b in ("beat1", "beat2")]
    assert min(published) >= 1, f"both beats publish: {published}"
    # Every message settles at its first check that reaches the gateway: one check ran per
    # tracker (a task checks one tracker, or a chunk of them: "checked": n), and each asked
    # the gateway once. A due time dispatched by both beats would show as a second check.
    # On a loaded machine a check can also find its grant stale and send nothing (the
    # limiter's guarantee at arrival): its tracker is deferred and checked once more.
    results = re.findall(r"Task statuswatch\.check\[[^\]]+\] succeeded in [0-9.]+s: (.*)", log)
    checks_run = sum(int(m.group(1)) if (m := re.search(r"'checked': (\d+)", r)) else 1 for r in results)
    assert checks_run == len(ids) + stale, (checks_run, stale)
    assert set(requests_per_message.values()) == {1}
    for m in ids:
        assert (trackers[m].state.value, trackers[m].outcome.value) == ("read", "settled")
        assert_transitions_once(events[m], "read", "settled")
