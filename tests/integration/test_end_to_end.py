"""Track → dispatch → check → settle on a real Celery worker, the real Redis and the simulator."""

from __future__ import annotations

import pytest

from tests.integration.conftest import WAMM_TOKEN
from tests.integration.harness import Deployment
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

#: raw WAMM lives, the state and outcome each must end with, and the deadline given
LIVES = {
    "read": ([["sent", 0.1], ["delivered", 0.3], ["viewed", 0.6]], ("read", "settled"), 30),
    "failed": ([["not sent", 0.2]], ("failed", "settled"), 30),
    "no_account": ([["sent", 0.1], ["noAccount", 0.4]], ("failed", "settled"), 30),
    "deleted": ([["sent", 0.1], ["delivered", 0.2], ["deleted", 0.5]], ("deleted", "settled"), 30),
    "never": ([["sent", 0.1]], ("sent", "timed_out"), 3),
}


def assert_transitions_once(events: list[dict[str, str]], final_state: str, final_outcome: str) -> None:
    """Events form one chain pending → … → final, each step once, states never backwards."""
    order = ["pending", "sent", "delivered", "read"]
    steps = [(e["previous"], e["state"]) for e in events if e["previous"] != e["state"]]
    assert len(steps) == len(set(steps)), f"a transition was emitted twice: {steps}"
    chain = ["pending"] + [state for _, state in steps]
    assert all(prev == steps[i][0] for i, prev in enumerate(chain[:-1])), f"broken chain {steps}"
    progress = [order.index(s) for s in chain if s in order]
    assert progress == sorted(progress), f"state moved backwards: {chain}"
    assert chain[-1] == final_state
    assert [e["outcome"] for e in events][-1] == final_outcome
    assert sum(e["outcome"] != "active" for e in events) == 1, "outcome emitted more than once"


def test_two_hundred_messages_with_mixed_outcomes(deployment: Deployment, simulator: SimulatorClient) -> None:
    kinds = list(LIVES)
    plan = {str(7_000_000 + i): kinds[i % len(kinds)] for i in range(200)}
    simulator.add_messages(
        [{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": LIVES[k][0]} for m, k in plan.items()]
    )
    deployment.start_worker("w1", concurrency=16)
    deployment.start_beat()
    for msg_id, kind in plan.items():
        deployment.track(provider="wamm", account="shop", msg_id=msg_id, expires_in=LIVES[kind][2])

    deployment.wait_for(
        lambda: len([t for t in deployment.trackers("wamm", "shop", list(plan)).values() if t]) == 200,
        timeout_s=30,
        what="200 trackers registered",
    )
    deployment.wait_for(deployment.all_finished, timeout_s=60, what="every tracker finished")

    trackers = deployment.trackers("wamm", "shop", list(plan))
    events = deployment.events_by_tracker()
    for msg_id, kind in plan.items():
        tracker, (state, outcome) = trackers[msg_id], LIVES[kind][1]
        assert (tracker.state.value, tracker.outcome.value) == (state, outcome), (msg_id, kind)
        assert_transitions_once(events[msg_id], state, outcome)
        assert [h.state.value for h in tracker.history] == [
            e["state"] for e in events[msg_id] if e["previous"] != e["state"]
        ]
    assert deployment.fleet.active_counts() == {}
    assert "Traceback" not in deployment.log("w1")


def test_tracking_the_same_message_concurrently_is_one_tracker(
    deployment: Deployment, simulator: SimulatorClient
) -> None:
    simulator.add_messages([{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": "42", "life": LIVES["read"][0]}])
    for _ in range(20):
        deployment.track(provider="wamm", account="shop", msg_id="42")
    deployment.start_worker("w1", concurrency=16)
    deployment.start_beat()
    deployment.wait_for(
        lambda: deployment.queue_length("statuswatch.track") == 0 and deployment.all_finished(),
        timeout_s=30,
        what="the tracker finished",
    )
    assert deployment.redis.hget(deployment.keys.active, "wamm:shop") == "0"
    events = deployment.events_by_tracker()
    assert list(events) == ["42"]
    assert_transitions_once(events["42"], "read", "settled")


def test_bad_requests_sent_by_name_are_rejected_on_the_worker(
    deployment: Deployment, simulator: SimulatorClient
) -> None:
    bad = [
        ({"provider": "wamm", "account": "nobody", "msg_id": "1"}, "account"),
        ({"provider": "telegram", "account": "shop", "msg_id": "1"}, "provider"),
        ({"provider": "wamm", "account": "shop", "msg_id": ""}, "msg_id"),
        ({"provider": "wamm", "account": "shop", "msg_id": "12x"}, "msg_id"),
        ({"provider": "wamm", "account": "shop", "msg_id": "1", "until": "sent"}, "until"),
        ({"provider": "wamm", "account": "shop", "msg_id": "1", "expires_in": -5}, "expires_in"),
        ({"provider": "wamm", "account": "shop", "msg_id": "1", "expires_in": "soon"}, "expires_in"),
    ]
    simulator.add_messages([{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": "77", "life": [["viewed", 0.1]]}])
    deployment.start_worker("w1")
    deployment.start_beat()
    for kwargs, _ in bad:
        deployment.track(**kwargs)
    deployment.track(provider="wamm", account="shop", msg_id="77")  # the worker still serves

    deployment.wait_for(lambda: len(deployment.fleet.rejected()) == len(bad), 30, "rejections recorded")
    deployment.wait_for(
        lambda: deployment.store.get("wamm:shop:77") is not None and deployment.all_finished(),
        30,
        "the good tracker finished",
    )
    reasons = [r["reason"] for r in reversed(deployment.fleet.rejected())]
    # Sixteen threads take requests in any order: compare as multisets.
    assert sorted(reason.split(":")[0] for reason in reasons) == sorted(field for _, field in bad)
    tracker_keys = list(deployment.redis.scan_iter(match=f"{deployment.keys.prefix}:t:*"))
    assert tracker_keys == [deployment.keys.tracker("wamm:shop:77")]
    assert deployment.store.get("wamm:shop:77").state.value == "read"
