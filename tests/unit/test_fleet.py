"""The fleet reader, the counters and refused requests added (Ledger) and the upkeep's writes
(Maintenance), against the real Redis and fakeredis (with Lua)."""

from __future__ import annotations

import time

import pytest

from tests.unit.test_store import TID, observe, request
from worker.fleet import Fleet, Ledger, Maintenance
from worker.states import State
from worker.store import Store
from worker.tracking import rejection

S, R = State.SENT, State.READ


def test_prune_forgets_only_accounts_with_nothing_left(store: Store, fleet: Fleet, maintenance: Maintenance) -> None:
    store.register(TID, request(), R, 0)
    store.register("wamm:other:1", request("1", account="other"), R, 0)
    observe(store, R, "viewed")  # shop's only tracker settles: its count drops to 0
    assert store.redis.hget(store.keys.active, "wamm:shop") == "0"
    assert maintenance.prune() == (["wamm:shop"], [])
    assert store.redis.hgetall(store.keys.active) == {"wamm:other": "1"}
    assert maintenance.prune() == ([], [])
    assert fleet.groups() == ["wamm:other"]


def test_prune_repairs_an_active_count_from_the_schedule(store: Store, fleet: Fleet, maintenance: Maintenance) -> None:
    for i in range(3):
        store.register(f"wamm:shop:{i}", request(str(i)), R, 0)
    store.redis.hincrby(store.keys.active, "wamm:shop", 5)  # drifted (a lost tracker hash, say)
    assert maintenance.prune() == ([], ["wamm:shop"])
    assert fleet.active_counts() == {"wamm:shop": 3}
    assert maintenance.prune() == ([], [])


def test_rollup_writes_one_snapshot_per_period_however_many_ask(
    store: Store, fleet: Fleet, maintenance: Maintenance
) -> None:
    store.register(TID, request(), R, 0)
    observe(store, S, "sent")
    entries = [maintenance.rollup(3600) for _ in range(5)]
    written = [e for e in entries if e]
    assert len(written) == 1
    [snapshot] = fleet.rollups()
    assert snapshot["checks"] == "1" and snapshot["active:wamm:sent"] == "1"
    assert int(snapshot["period"]) == int(store.redis.time()[0] * 1000 // 3_600_000)


def test_dispatch_lag_is_how_overdue_the_earliest_check_is(store: Store, fleet: Fleet) -> None:
    assert fleet.dispatch_lag_s() == 0.0  # no schedule at all
    store.register("wamm:shop:2002", request("2002"), R, 3600)
    assert fleet.dispatch_lag_s() == 0.0  # nothing overdue
    store.register(TID, request(), R, 0)
    time.sleep(0.05)
    assert 0.04 <= fleet.dispatch_lag_s() < 5
    assert fleet.due_count() == 2


def test_average_latency_comes_from_the_counted_requests(ledger: Ledger, fleet: Fleet) -> None:
    assert fleet.average_latency_s("wamm") is None
    ledger.add_counts({"latency_us:wamm": 300_000, "latency:wamm:0": 1, "latency:wamm:3": 2})
    assert fleet.average_latency_s("wamm") == pytest.approx(0.1)


def test_tail_events_gives_the_newest_oldest_first(store: Store, fleet: Fleet) -> None:
    for i in range(4):
        store.register(f"wamm:shop:{i}", request(str(i)), R, 0)
        observe(store, S, "sent", tid=f"wamm:shop:{i}")
    assert [e["msg_id"] for e in fleet.tail_events(2)] == ["2", "3"]
    assert [e["msg_id"] for e in fleet.events(count=2)] == ["0", "1"]
    first = fleet.events(count=1)[0]["id"]
    assert [e["msg_id"] for e in fleet.events(after=first)] == ["1", "2", "3"]


@pytest.mark.timeout(20)
def test_following_events_misses_none_written_before_the_first_read(store: Store, fleet: Fleet) -> None:
    """An empty stream followed from the start: an event written before the blocking read
    begins is still seen (reading from "$" each time would wait past it)."""
    following = fleet.tail_events(5, follow=True, block_ms=10)
    store.register(TID, request(), R, 0)
    observe(store, S, "sent")
    assert next(following)["state"] == "sent"
    observe(store, R, "viewed")
    assert next(following)["outcome"] == "settled"


def test_misrouted_counts_are_replaced_whole(fleet: Fleet, maintenance: Maintenance) -> None:
    assert fleet.misrouted() == {}
    maintenance.set_misrouted({"celery": 7, "other": 1})
    maintenance.set_misrouted({"celery": 3})
    assert fleet.misrouted() == {"celery": 3}
    maintenance.set_misrouted({})
    assert fleet.misrouted() == {}


def test_rejections_are_listed(ledger: Ledger, fleet: Fleet) -> None:
    payload = {"provider": "wamm", "account": "x", "msg_id": "", "secret_field": "zzz"}
    ledger.reject([rejection("track", "task-1", "msg_id: must not be empty", payload)])
    [entry] = fleet.rejected()
    assert entry["reason"] == "msg_id: must not be empty"
    assert (entry["task"], entry["task_id"]) == ("track", "task-1")
    assert "zzz" not in entry["request"] and "'x'" in entry["request"]


def test_a_rejection_is_bounded_in_bytes_whatever_it_quotes(ledger: Ledger, fleet: Fleet) -> None:
    huge = "p" * 1_000_000
    ledger.reject([rejection("track", "t", "provider: " + huge, {"provider": huge, "account": huge, "meta": {}})])
    [entry] = fleet.rejected()
    assert sum(len(v) for v in entry.values()) < 2000
    assert "1000000 characters" in entry["request"]
