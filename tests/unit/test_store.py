"""The store's contract, run against the real Redis and against fakeredis (with Lua)."""

from __future__ import annotations

import threading
import time

import pytest

from worker.fleet import Fleet, Ledger
from worker.states import Observation, Outcome, State
from worker.store import Store
from worker.tracking import parse_track_request

P, S, D, R = State.PENDING, State.SENT, State.DELIVERED, State.READ
TID = "wamm:shop:1001"


def request(msg_id: str = "1001", **options: object):
    return parse_track_request({"provider": "wamm", "account": "shop", "msg_id": msg_id, **options}, None, 3600)


def observe(store: Store, state: State | None, raw: str, tid: str = TID, **kw: object):
    options = {"ceiling": R, "next_delay_s": 0.0, **kw}
    return store.observe(tid, Observation(state, raw), **options)


def test_register_is_idempotent(store: Store, fleet: Fleet) -> None:
    assert store.register(TID, request(), R, 0).status == "created"
    assert store.register(TID, request(), R, 0).status == "unchanged"
    assert fleet.due_count() == 1
    assert fleet.active_counts() == {"wamm:shop": 1}


def test_concurrent_registration_makes_one_tracker(store: Store, fleet: Fleet) -> None:
    results: list[str] = []
    barrier = threading.Barrier(16)

    def register() -> None:
        barrier.wait()
        results.append(store.register(TID, request(), R, 0).status)

    threads = [threading.Thread(target=register) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["created"] + ["unchanged"] * 15
    assert fleet.active_counts() == {"wamm:shop": 1}
    observe(store, S, "sent")
    observe(store, S, "sent")
    assert [e["state"] for e in fleet.events()] == ["sent"]


def test_retrack_updates_target_and_later_deadline_wins(store: Store) -> None:
    store.register(TID, request(expires_in=100), R, 0)
    first = store.get(TID)
    assert store.register(TID, request(expires_in=10), R, 0).status == "updated"
    assert store.get(TID).expires_at_ms == first.expires_at_ms  # earlier deadline loses
    store.register(TID, request(expires_in=1000), R, 0)
    assert store.get(TID).expires_at_ms >= first.expires_at_ms + 899_000
    observe(store, D, "delivered")
    # Lowering the target to a state already reached settles the tracker at once.
    assert store.register(TID, request(until="delivered", expires_in=1000), R, 0).outcome is Outcome.SETTLED
    assert store.get(TID).outcome is Outcome.SETTLED


def test_retrack_of_a_finished_tracker_is_a_noop(store: Store) -> None:
    store.register(TID, request(), R, 0)
    observe(store, R, "viewed")
    result = store.register(TID, request(until="delivered"), R, 0)
    assert (result.status, result.outcome) == ("finished", Outcome.SETTLED)
    assert store.get(TID).until is R


def timed_out(store: Store) -> None:
    """TID registered with a deadline already past, seen at sent, then timed out."""
    store.register(TID, request(expires_in=0.001), R, 0)
    time.sleep(0.01)
    assert observe(store, S, "sent").outcome is Outcome.TIMED_OUT


def test_retrack_reopens_a_timed_out_tracker_keeping_its_history(store: Store, fleet: Fleet) -> None:
    timed_out(store)
    result = store.register(TID, request(expires_in=600), R, 0)
    assert (result.status, result.outcome) == ("reopened", Outcome.ACTIVE)
    tracker = store.get(TID)
    assert tracker.outcome is Outcome.ACTIVE and [h.state for h in tracker.history] == [S]
    assert store.redis.ttl(store.keys.tracker(TID)) == -1  # retention no longer runs
    assert fleet.active_counts() == {"wamm:shop": 1} and fleet.due_count() == 1
    assert fleet.stats()["active:wamm:sent"] == 1 and fleet.stats()["reopened"] == 1
    assert [e["outcome"] for e in fleet.events()] == ["timed_out", "active"]
    assert observe(store, R, "viewed").outcome is Outcome.SETTLED
    assert store.register(TID, request(expires_in=600), R, 0).status == "finished"  # settled: no-op


def test_reopening_to_a_target_already_reached_settles_at_once(store: Store, fleet: Fleet) -> None:
    timed_out(store)
    observe_sent_is_kept = store.get(TID).state
    result = store.register(TID, request(until="delivered", expires_in=600), State.SENT, 0)
    assert (result.status, result.outcome, observe_sent_is_kept) == ("reopened", Outcome.SETTLED, S)
    assert fleet.active_counts() == {} and fleet.due_count() == 0


def test_untrack_cancels_an_active_tracker_once(store: Store, fleet: Fleet) -> None:
    store.register(TID, request(), R, 0)
    observe(store, S, "sent")
    store.claim_due("wamm:shop", 10, 60)
    result = store.untrack(TID)
    assert (result.status, result.outcome) == ("cancelled", Outcome.CANCELLED)
    tracker = store.get(TID)
    assert (tracker.outcome, tracker.state) == (Outcome.CANCELLED, S)
    assert fleet.active_counts() == {} and fleet.due_count() == 0
    assert not store.redis.zcard(store.keys.inflight("wamm:shop"))
    assert [e["outcome"] for e in fleet.events()] == ["active", "cancelled"]
    assert store.untrack(TID).status == "finished" and store.untrack("wamm:shop:9").status == "gone"
    # a late check of the cancelled tracker changes nothing
    assert observe(store, R, "viewed").status == "finished"
    assert store.register(TID, request(expires_in=600), R, 0).status == "finished"  # cancelled stays so
    assert len(fleet.events()) == 2


def test_a_wrong_type_key_makes_register_write_nothing(store: Store, fleet: Fleet) -> None:
    store.redis.set(store.keys.due("wamm:shop"), "not a zset")
    try:
        store.register(TID, request(), R, 0)
    except Exception as exc:
        assert "WRONGTYPE" in str(exc)
    else:
        raise AssertionError("register wrote over a key of the wrong type")
    assert not store.redis.exists(store.keys.tracker(TID)) and fleet.active_counts() == {}
    store.redis.delete(store.keys.due("wamm:shop"))


def test_claim_leases_due_trackers(store: Store, fleet: Fleet) -> None:
    for i in range(5):
        store.register(f"wamm:shop:{i}", request(str(i)), R, 0)
    store.register("wamm:shop:later", request("99"), R, 3600)
    assert sorted(store.claim_due("wamm:shop", 10, lease_s=60)) == [f"wamm:shop:{i}" for i in range(5)]
    assert store.claim_due("wamm:shop", 10, lease_s=60) == []  # leased: not due again
    assert fleet.due_count() == 6


def test_a_lease_never_outlasts_the_deadline(store: Store) -> None:
    store.register(TID, request(expires_in=30), R, 0)
    assert store.claim_due("wamm:shop", 10, lease_s=600) == [TID]
    # the check is lost with its worker: the tracker is due again at its deadline, not a lease later
    assert store.redis.zscore(store.keys.due("wamm:shop"), "1001") == store.get(TID).expires_at_ms


def test_lease_brings_a_lost_check_back(store: Store) -> None:
    store.register(TID, request(), R, 0)
    assert store.claim_due("wamm:shop", 10, lease_s=0.001) == [TID]
    # Nobody observed it (its worker died); after the lease it is due again.
    import time

    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not (claimed := store.claim_due("wamm:shop", 10, lease_s=60)):
        time.sleep(0.002)
    assert claimed == [TID]


def test_observe_is_monotonic_and_emits_once_per_change(store: Store, fleet: Fleet) -> None:
    store.register(TID, request(), R, 0)
    sequence = [
        (P, "sending"),
        (S, "sent"),
        (S, "sent"),
        (D, "delivered"),
        (S, "sent"),
        (None, "no info"),
        (D, "delivered"),
    ]
    states = [observe(store, s, raw).state for s, raw in sequence]
    assert states == [P, S, S, D, D, D, D]
    tracker = store.get(TID)
    assert tracker.state is D and tracker.outcome is Outcome.ACTIVE
    assert tracker.raw_state == "delivered"
    assert [(h.state, h.raw_state) for h in tracker.history] == [(S, "sent"), (D, "delivered")]
    assert [(e["previous"], e["state"]) for e in fleet.events()] == [("pending", "sent"), ("sent", "delivered")]


def test_stale_answer_after_read_never_moves_back(store: Store, fleet: Fleet) -> None:
    store.register(TID, request(until="read"), R, 0)
    observe(store, R, "viewed")
    result = observe(store, D, "delivered")
    assert result.status == "finished"
    tracker = store.get(TID)
    assert (tracker.state, tracker.raw_state, tracker.outcome) == (R, "viewed", Outcome.SETTLED)
    assert fleet.due_count() == 0
    assert fleet.active_counts() == {}


def test_terminal_failure_settles_with_raw_reason(store: Store) -> None:
    store.register(TID, request(), R, 0)
    result = observe(store, State.FAILED, "noAccount")
    assert (result.state, result.outcome) == (State.FAILED, Outcome.SETTLED)
    assert store.get(TID).raw_state == "noAccount"


def test_provider_ceiling_settles_at_sent(store: Store) -> None:
    tid = "wbiztool:billing:5"
    req = parse_track_request({"provider": "wbiztool", "account": "billing", "msg_id": "5"}, None, 60)
    store.register(tid, req, S, 0)
    assert observe(store, P, "0", tid, ceiling=S).outcome is Outcome.ACTIVE
    assert observe(store, S, "1", tid, ceiling=S).outcome is Outcome.SETTLED


def test_deadline_times_out_keeping_last_state(store: Store, fleet: Fleet) -> None:
    store.register(TID, request(expires_in=0.001), R, 0)
    import time

    time.sleep(0.01)
    result = observe(store, S, "sent")
    assert (result.state, result.outcome) == (S, Outcome.TIMED_OUT)
    events = fleet.events()
    assert [(e["state"], e["outcome"]) for e in events] == [("sent", "timed_out")]
    assert fleet.due_count() == 0


def test_next_check_never_later_than_the_deadline(store: Store) -> None:
    store.register(TID, request(expires_in=5), R, 0)
    observe(store, S, "sent", next_delay_s=3600)
    score = store.redis.zscore(store.keys.due("wamm:shop"), "1001")
    assert score <= store.get(TID).expires_at_ms


def test_errors_defer_without_changing_state(store: Store, fleet: Fleet) -> None:
    store.register(TID, request(), R, 0)
    for _ in range(3):
        result = store.observe(TID, None, ceiling=R, next_delay_s=1, error="wamm: HTTP 502")
    assert (result.state, result.outcome, result.changed) == (P, Outcome.ACTIVE, False)
    tracker = store.get(TID)
    assert tracker.errors == 3 and tracker.fields["error"] == "wamm: HTTP 502"
    observe(store, S, "sent")
    assert store.get(TID).errors == 0
    assert fleet.events()[-1]["state"] == "sent"


def test_not_found_fails_only_after_grace(store: Store) -> None:
    store.register(TID, request(), R, 0)
    kw = {"ceiling": R, "next_delay_s": 0, "error": "msg not be", "not_found": True}
    assert store.observe(TID, None, not_found_grace_s=3600, **kw).outcome is Outcome.ACTIVE
    result = store.observe(TID, None, not_found_grace_s=0, **kw)
    assert (result.state, result.outcome) == (State.FAILED, Outcome.SETTLED)
    assert store.get(TID).fields["reason"] == "not_found"


def test_finished_tracker_expires_after_retention(store: Store) -> None:
    store.register(TID, request(), R, 0)
    observe(store, R, "viewed")
    ttl = store.redis.pttl(store.keys.tracker(TID))
    assert 0 < ttl <= 60_000


def test_unknown_tracker_is_gone(store: Store) -> None:
    assert observe(store, S, "sent", tid="wamm:shop:404").status == "gone"
    assert store.get("wamm:shop:404") is None


def test_status_json_has_the_contract_fields(store: Store) -> None:
    store.register(TID, request(meta={"order": 1}), R, 0)
    observe(store, S, "sent")
    data = store.get(TID).as_json()
    for key in ("provider", "account", "msg_id", "state", "raw_state", "outcome", "until", "expires_at", "history"):
        assert key in data
    assert data["history"][0]["state"] == "sent" and isinstance(data["history"][0]["at"], float)
    assert (data["provider"], data["account"], data["msg_id"]) == ("wamm", "shop", "1001")


def test_history_survives_raw_values_with_separators(store: Store) -> None:
    store.register(TID, request(), R, 0)
    observe(store, S, "sent|50%;ok")
    observe(store, D, "delivered")
    assert [(h.state, h.raw_state) for h in store.get(TID).history] == [(S, "sent|50%;ok"), (D, "delivered")]
    created = store.get(TID).created_at_ms
    assert all(created <= h.at_ms <= created + 5000 for h in store.get(TID).history)


def test_claims_in_flight_are_capped_until_observed(store: Store) -> None:
    for i in range(5):
        store.register(f"wamm:shop:{i}", request(str(i)), R, 0)
    first = store.claim_due("wamm:shop", 10, lease_s=60, max_inflight=2)
    assert len(first) == 2
    assert store.claim_due("wamm:shop", 10, lease_s=60, max_inflight=2) == []  # both still waiting
    observe(store, S, "sent", tid=first[0])
    assert len(store.claim_due("wamm:shop", 10, lease_s=60, max_inflight=2)) == 1
    store.defer(first[1], 60, "rate")
    assert len(store.claim_due("wamm:shop", 10, lease_s=60, max_inflight=2)) == 1


def test_active_trackers_are_counted_by_provider_and_state(store: Store, fleet: Fleet) -> None:
    def gauges() -> dict[str, int]:
        return {k: v for k, v in fleet.stats().items() if k.startswith("active:") and v}

    store.register(TID, request(), R, 0)
    store.register("wamm:shop:1002", request("1002"), R, 0)
    assert gauges() == {"active:wamm:pending": 2}
    observe(store, S, "sent")
    assert gauges() == {"active:wamm:pending": 1, "active:wamm:sent": 1}
    observe(store, S, "sent")  # no change, no move
    observe(store, R, "viewed")  # settles: off the gauges
    assert gauges() == {"active:wamm:pending": 1}
    store.defer("wamm:shop:1002", 0, "rate")
    store.redis.hset(store.keys.tracker("wamm:shop:1002"), "expires_at", 0)
    assert store.defer("wamm:shop:1002", 0, "rate") == "timed_out"
    assert gauges() == {}


def test_counts_ride_along_with_the_write_that_ends_a_check(store: Store, fleet: Fleet) -> None:
    store.register(TID, request(), R, 0)
    observe(store, S, "sent", counts={"requests:wamm:msg_state:ok": 1, "latency_us:wamm": 52_000})
    store.defer(TID, 1, "rate", counts={"requests:wamm:msg_state:transient": 2})
    observe(store, R, "viewed", counts={"requests:wamm:msg_state:ok": 1})
    # the tracker is finished: its late check is not applied, its requests still count
    observe(store, R, "viewed", counts={"requests:wamm:msg_state:ok": 1})
    store.defer(TID, 1, "rate", counts={"requests:wamm:msg_state:throttled": 1})
    Ledger(store.redis, store.keys).add_counts({"requests:wamm:msg_get_last:ok": 3})
    stats = fleet.stats()
    assert stats["requests:wamm:msg_state:ok"] == 3
    assert stats["requests:wamm:msg_state:transient"] == 2
    assert stats["requests:wamm:msg_state:throttled"] == 1
    assert stats["requests:wamm:msg_get_last:ok"] == 3
    assert stats["latency_us:wamm"] == 52_000
    assert stats["checks"] == 2


def test_a_wrong_type_key_makes_observe_and_defer_write_nothing(store: Store) -> None:
    store.register(TID, request(), R, 0)
    store.claim_due("wamm:shop", 10, 60)
    before = (store.redis.hgetall(store.keys.tracker(TID)), store.redis.zrange(store.keys.inflight("wamm:shop"), 0, -1))
    store.redis.delete(store.keys.events)
    store.redis.set(store.keys.events, "not a stream")
    for write in (lambda: observe(store, S, "sent"), lambda: store.defer(TID, 1.0, "rate")):
        with pytest.raises(Exception, match="WRONGTYPE"):
            write()
    after = (store.redis.hgetall(store.keys.tracker(TID)), store.redis.zrange(store.keys.inflight("wamm:shop"), 0, -1))
    assert after == before
    store.redis.delete(store.keys.events)


def test_a_claim_past_the_deadline_ends_the_tracker_timed_out(store: Store, fleet: Fleet) -> None:
    store.register(TID, request(expires_in=0.2), R, 0)
    store.register("wamm:shop:1002", request("1002"), R, 0)
    observe(store, S, "sent")  # its schedule entry now waits for the deadline
    time.sleep(0.25)
    assert store.claim_due("wamm:shop", 10, 60) == ["wamm:shop:1002"]
    tracker = store.get(TID)
    assert tracker.outcome is Outcome.TIMED_OUT and tracker.state is S
    assert fleet.active_counts() == {"wamm:shop": 1}
    assert [(e["state"], e["outcome"]) for e in fleet.events()][-1] == ("sent", "timed_out")
    assert store.claim_due("wamm:shop", 10, 60) == []  # and it is not claimed again


def test_gateway_strings_are_stored_cut(store: Store, fleet: Fleet) -> None:
    """A 1 MB raw state, detail and error are stored (hash, history, events) 200 characters long."""
    store.register(TID, request(), R, 0)
    huge = "x" * 1_000_000
    store.observe(TID, Observation(S, "sent" + huge, detail={"p" + huge: "s" + huge}), ceiling=R, next_delay_s=0)
    store.observe(TID, None, ceiling=R, next_delay_s=0, error="e" * 1_000_000)
    tracker = store.get(TID)
    assert len(tracker.raw_state) == 200 and tracker.raw_state.startswith("sentxxx")
    assert all(len(h.raw_state) <= 200 for h in tracker.history)
    assert [(len(k), len(v)) for k, v in tracker.as_json()["detail"].items()] == [(200, 200)]
    assert len(tracker.fields["error"]) <= 500
    assert all(len(e["raw_state"]) <= 200 for e in fleet.events())


NOT_FOUND = {"ceiling": R, "next_delay_s": 0, "error": "msg not be", "not_found": True, "not_found_grace_s": 0}


@pytest.mark.parametrize(("shown", "raw"), [(S, "sent"), (D, "delivered"), (P, "sending"), (None, "no info")])
def test_a_message_the_gateway_has_shown_never_fails_for_not_found(store: Store, shown: State | None, raw: str) -> None:
    """The grace rule (failed, reason not_found) is for a message the gateway has never shown:
    one it answered about, even at pending or with a raw value we cannot map, is kept
    checking with backoff until its deadline."""
    store.register(TID, request(), R, 0)
    observe(store, shown, raw)
    for errors in (1, 2, 3):
        result = store.observe(TID, None, **NOT_FOUND)
        assert result.outcome is Outcome.ACTIVE and result.state is (shown or P)
        tracker = store.get(TID)
        assert tracker.errors == errors and "reason" not in tracker.fields


def test_a_message_never_shown_still_fails_for_not_found_after_the_grace(store: Store) -> None:
    store.register(TID, request(), R, 0)
    assert store.observe(TID, None, **{**NOT_FOUND, "not_found_grace_s": 3600}).outcome is Outcome.ACTIVE
    store.observe(TID, None, ceiling=R, next_delay_s=0, error="HTTP 502")  # no answer is not a showing
    result = store.observe(TID, None, **NOT_FOUND)
    assert (result.state, result.outcome) == (State.FAILED, Outcome.SETTLED)
    assert store.get(TID).fields["reason"] == "not_found"


def test_a_tracker_with_a_broken_deadline_does_not_stop_its_accounts_claims(store: Store) -> None:
    store.register(TID, request(), R, 0)
    store.register("wamm:shop:1002", request("1002"), R, 0)
    store.redis.hset(store.keys.tracker(TID), "expires_at", "soon")  # by hand, say
    assert sorted(store.claim_due("wamm:shop", 10, 60)) == [TID, "wamm:shop:1002"]
