"""The fleet reader and the upkeep's writes (Maintenance), against the real Redis and fakeredis (with Lua)."""

from __future__ import annotations

import time

import pytest

from tests.unit.test_store import TID, observe, request
from worker.fleet import Fleet, Maintenance
from worker.states import State
from worker.store import Store

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


def test_average_latency_comes_from_the_counted_requests(store: Store, fleet: Fleet) -> None:
    assert fleet.average_latency_s("wamm") is None
    store.add_counts({"latency_us:wamm": 300_000, "latency:wamm:0": 1, "latency:wamm:3": 2})
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


def test_the_engines_calls_still_answer_through_the_store(store: Store, fleet: Fleet) -> None:
    """Until the engine calls ``Fleet`` and ``Maintenance``, ``Store`` passes its calls on."""
    store.register(TID, request(), R, 0)
    store.add_counts({"latency_us:wamm": 50_000, "latency:wamm:1": 1})
    assert store.groups() == fleet.groups() == ["wamm:shop"]
    assert store.average_latency_s("wamm") == fleet.average_latency_s("wamm") == pytest.approx(0.05)
    assert store.prune() == ([], [])
    assert store.rollup(3600) and fleet.rollups(count=1)
    store.set_misrouted({"celery": 2})
    assert fleet.misrouted() == {"celery": 2}
