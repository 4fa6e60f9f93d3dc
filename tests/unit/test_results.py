"""Each typed result becomes its task's JSON result with the keys it has always had (Flower
and the worker's log show them), and a check order or a requeue becomes its task message."""

from __future__ import annotations

from worker.messages import MIN_COUNTDOWN_S, TaskCall
from worker.planner import CheckOrder
from worker.results import (
    Accepted,
    Applied,
    BackedOff,
    Bulk,
    Checked,
    Deferred,
    FannedOut,
    Raised,
    Rejected,
    Requeue,
    Skipped,
    Synced,
    SyncFailed,
    SyncSkipped,
    Untracked,
    Upkeep,
)
from worker.states import Outcome, State

T = "wamm:shop:1"


def test_a_check_result_keeps_its_keys() -> None:
    assert Applied(T, State.READ, Outcome.SETTLED, True).summary() == {
        "tracker": T, "state": "read", "outcome": "settled", "changed": True,
    }  # fmt: skip
    assert BackedOff(T, None, Outcome.ACTIVE, False, 1.23456).summary() == {
        "tracker": T, "state": None, "outcome": "active", "changed": False, "deferred_s": 1.235,
    }  # fmt: skip
    assert Deferred(T, 0.0104, "rate", "active").summary() == {
        "tracker": T, "deferred_s": 0.01, "reason": "rate", "outcome": "active",
    }  # fmt: skip
    assert Requeue(T, 0.007, 1, 42).summary() == {"tracker": T, "requeue_s": 0.007, "requeued": 1, "slot_us": 42}
    assert Skipped(T, "gone").summary() == {"tracker": T, "skipped": "gone"}
    assert Raised(T).summary() == {"tracker": T, "error": True}


def test_a_chunk_or_gang_counts_its_checks() -> None:
    results = [
        Applied(T, State.READ, Outcome.SETTLED, True),
        BackedOff(T, State.FAILED, Outcome.SETTLED, True, 1.0),  # not found past its grace
        Deferred(T, 0.1, "rate", "settled"),  # another check settled it meanwhile
        Deferred(T, 0.1, "rate", "active"),
        Requeue(T, 0.005, 1, 0),
        Raised(T),
    ]
    assert Checked(results).summary() == {"checked": 6, "settled": 3, "requeued": 1}


def test_intake_sync_and_housekeeping_results_keep_their_keys() -> None:
    assert Accepted(T, "created", Outcome.ACTIVE).summary() == {
        "accepted": True, "tracker": T, "status": "created", "outcome": "active",
    }  # fmt: skip
    assert Rejected("msg_id: missing").summary() == {"accepted": False, "reason": "msg_id: missing"}
    assert Untracked(T, "gone", Outcome.ACTIVE).summary() == {"tracker": T, "status": "gone", "outcome": "active"}
    assert Bulk(3, 2, 1, {"created": 2}).summary() == {"items": 3, "accepted": 2, "rejected": 1, "created": 2}
    assert Bulk(0, 0, 1, reason="items: not a list").summary() == {
        "items": 0, "accepted": 0, "rejected": 1, "reason": "items: not a list",
    }  # fmt: skip
    assert Synced("shop", 5, 2, 1).summary() == {"account": "shop", "seen": 5, "applied": 2, "finished": 1}
    assert SyncSkipped("shop", "rate").summary() == {"account": "shop", "skipped": "rate"}
    cooling = {"account": "shop", "skipped": "cooldown", "cooldown_s": 30}
    assert SyncSkipped("shop", "cooldown", 30.0).summary() == cooling
    assert SyncSkipped("shop", "paused", 9.5).summary() == {"account": "shop", "skipped": "paused", "paused_s": 9.5}
    assert SyncFailed("shop", "HTTP 502").summary() == {"account": "shop", "error": "HTTP 502"}
    assert FannedOut(["shop"]).summary() == {"accounts": ["shop"]}
    assert Upkeep(1, 0, None, 0).summary() == {"pruned": 1, "repaired": 0, "rollup": None, "misrouted": 0}


def test_a_check_order_becomes_its_task_message() -> None:
    single = CheckOrder([T], 0.5, slot_us=42, credential="c")
    assert single.task_call(60) == TaskCall((T,), {"slot": 42}, 0.5, 60)
    soon = CheckOrder([T], MIN_COUNTDOWN_S / 2)  # unplanned, due in a moment: sent at once
    assert soon.task_call(60) == TaskCall((T,), {}, None, 60)
    chunk = CheckOrder(["a", "b"], 0.0, credential="c")
    assert chunk.task_call(60) == TaskCall((["a", "b"],), {}, None, 60)
    gang = CheckOrder(["a", "b"], 1.0, slots=[1, 2])
    assert gang.task_call(60) == TaskCall((["a", "b"],), {"slots": [1, 2]}, 1.0, 60)


def test_a_requeue_becomes_the_same_check_again_keeping_its_slot() -> None:
    assert Requeue(T, 0.007, 1, 42).task_call(60) == TaskCall((T,), {"requeued": 1, "slot": 42}, 0.007, 60)
    assert Requeue(T, 0.007, 1, 0).task_call(60) == TaskCall((T,), {"requeued": 1}, 0.007, 60)
