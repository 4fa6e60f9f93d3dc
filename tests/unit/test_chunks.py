"""The dispatcher chunks a credential's checks only for a fast gateway under a loose limit,
gives each single check its planned slot, and gangs different credentials' checks due together."""

from __future__ import annotations

import itertools
import math
import threading
import time
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import tenacity

from config import load_settings
from tasks import tracking
from worker import arrival
from worker.dispatch import Dispatcher
from worker.errors import TransientError
from worker.fleet import Fleet
from worker.local import write_accounts
from worker.planner import CHUNK_MAX, GANG_MAX, GANG_WINDOW_S, PROBE_CHECKS, CheckOrder, chunk_size, gangs
from worker.results import Deferred, Requeue
from worker.runtime import Engine
from worker.states import Observation, State
from worker.tally import Tally


def engine(tmp_path: Path, rate: str) -> Engine:
    shop = {"provider": "wamm", "token": "t", "rate_limit": rate}
    accounts = write_accounts(tmp_path / "accounts.toml", {"shop": shop})
    settings = load_settings({"STATUSWATCH_ACCOUNTS_FILE": str(accounts), "STATUSWATCH_POLL_FIRST_S": "0"})
    return Engine.from_settings(settings, fakeredis.FakeRedis(decode_responses=True))


def dispatched(e: Engine, n: int) -> list[CheckOrder]:
    for i in range(n):
        e.track({"provider": "wamm", "account": "shop", "msg_id": str(i)})
    out: list[CheckOrder] = []
    e.dispatcher.dispatch(out.extend)
    return out


def test_an_unmeasured_gateway_gets_a_few_single_checks_first(tmp_path: Path) -> None:
    e = engine(tmp_path, "100000/s")
    assert e.dispatcher.latency_s("wamm") is None
    assert [len(o.trackers) for o in dispatched(e, PROBE_CHECKS + 5)] == [1] * PROBE_CHECKS


def test_a_fast_gateway_under_a_loose_limit_gets_chunks(tmp_path: Path) -> None:
    e = engine(tmp_path, "100000/s")
    # another worker's checks measured the gateway: 2 requests, 1 ms each
    tally = Tally("wamm")
    tally.record("msg_state", "ok", 0.001)
    tally.record("msg_state", "ok", 0.001)
    e.context.ledger.add_counts(tally.take())
    assert e.dispatcher.latency_s("wamm") == 0.001
    out = dispatched(e, 25)
    assert [len(o.trackers) for o in out] == [CHUNK_MAX, CHUNK_MAX, 5]
    assert sorted(t for o in out for t in o.trackers) == sorted(f"wamm:shop:{i}" for i in range(25))


def test_a_slow_gateway_or_a_tight_limit_gets_one_check_per_task(tmp_path: Path) -> None:
    assert chunk_size(0.05, 0.00001) == 1  # 50 ms answers: one check fills the budget
    assert chunk_size(0.001, 0.05) == 1  # 20/s: each check keeps to its own slot
    assert chunk_size(None, 0.00001) == 1
    tight = engine(tmp_path, "20/s")
    tight.gateways.note_latency("wamm", 0.001)  # this process saw it answer in 1 ms
    assert [len(o.trackers) for o in dispatched(tight, 5)] == [1] * 5


def test_single_checks_carry_their_planned_slots_one_spacing_apart(tmp_path: Path) -> None:
    tight = engine(tmp_path, "20/s")
    orders = dispatched(tight, 5)
    slots = [o.slot_us for o in orders]
    spacing_us = math.ceil(tight.limiter.spacing_s(20) * 1e6)
    assert all(slots) and [b - a for a, b in itertools.pairwise(slots)] == [spacing_us] * 4
    starts = [o.start_s for o in orders]  # the first, due now, may have become "at once" (0)
    assert [round(b - a, 6) for a, b in itertools.pairwise(starts[1:])] == [round(spacing_us / 1e6, 6)] * 3
    assert starts[0] == pytest.approx(max(0.0, starts[1] - spacing_us / 1e6), abs=1e-6)


class FlakyGateway:
    """A provider whose first answer is a transient error and whose later answers are 'read'."""

    ceiling = State.READ

    def __init__(self) -> None:
        self.calls = 0

    def method(self, ref: object) -> str:
        return "msg_state"

    def fetch(self, ref: object) -> Observation:
        arrival.leaving()  # where the HTTP connection would write the request: the limiter is asked
        self.calls += 1
        if self.calls == 1:
            raise TransientError("HTTP 502", provider="wamm")
        return Observation(State.READ, "viewed")


def now_us(e: Engine) -> int:
    seconds, micros = e.store.redis.time()
    return int(seconds) * 1_000_000 + int(micros)


def test_a_denied_retry_is_re_sent_and_a_denied_planned_check_goes_back_on_its_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("worker.fetch.wait_jitter", lambda **_: tenacity.wait_none())  # retry at once
    e = engine(tmp_path, "20/s")
    e.track({"provider": "wamm", "account": "shop", "msg_id": "1"})
    account = e.gateways.account("shop", "wamm")
    assert account is not None
    gateway = e.gateways._providers["shop"] = FlakyGateway()  # type: ignore[assignment]
    # The first attempt goes in its slot and fails; the retry (unplanned) is denied by the
    # grid for half an interval: its task is re-sent with that countdown.
    retried = e.checker.check("wamm:shop:1", slot_us=now_us(e))
    assert isinstance(retried, Requeue) and gateway.calls == 1 and retried.after_s > 0 and retried.requeued == 1
    # A planned check denied in its slot by a few ms (the log is full for 20 ms more: under
    # half an interval, and more than a loaded machine takes from here to the limiter) is not
    # re-sent into the next slot, which belongs to another planned check: it is deferred.
    (bucket,) = e.limiter.buckets(account, "msg_state")
    e.limiter.redis.delete(e.limiter.keys.rate(account.credential_key, bucket))
    window_us = round(20 * e.limiter.spacing_s(20) * 1e6)
    full = [str(now_us(e) - window_us + 20_000)] * 20
    e.limiter.redis.lpush(e.limiter.keys.grants(account.credential_key, bucket), *full)
    deferred = e.checker.check("wamm:shop:1", slot_us=now_us(e))
    assert isinstance(deferred, Deferred) and gateway.calls == 1
    assert deferred.reason == "rate" and 0 < deferred.deferred_s <= 0.021
    # the same denial for an unplanned attempt: re-sent with that countdown
    again = e.checker.check("wamm:shop:1")
    assert isinstance(again, Requeue) and 0 < again.after_s <= 0.021
    # A planned check that came before its own slot (0.3 of an interval past what EARLY
    # lets through), the window having room: re-sent with that countdown, keeping its slot.
    e.limiter.redis.delete(e.limiter.keys.grants(account.credential_key, bucket))
    interval_us = math.ceil(e.limiter.spacing_s(20) * 1e6)
    slot = now_us(e) + interval_us * 8 // 10
    early = e.checker.check("wamm:shop:1", slot_us=slot)
    assert isinstance(early, Requeue) and gateway.calls == 1 and 0 < early.after_s <= 0.3 * interval_us / 1e6 + 0.002
    assert early.slot_us == slot


# -- gangs: single planned checks of different credentials, due together, in one task ---------


def order(name: str, slot_ms: float, credential: str = "") -> CheckOrder:
    return CheckOrder([name], slot_ms / 1000, int(1_000_000_000 + slot_ms * 1000), credential or f"cred-{name}")


def test_checks_due_within_the_window_go_out_as_one_gang_in_slot_order() -> None:
    window_ms = GANG_WINDOW_S * 1000
    out = gangs([order("b", 5), order("a", 0), order("c", window_ms), order("d", window_ms + 1)])
    assert [o.trackers for o in out] == [["a", "b", "c"], ["d"]]
    gang, alone = out
    assert gang.start_s == 0 and gang.slots == [1_000_000_000, 1_000_005_000, 1_000_000_000 + int(window_ms * 1000)]
    assert alone == order("d", window_ms + 1)  # a gang of one is the single check it was


def test_a_gang_holds_at_most_gang_max_checks() -> None:
    out = gangs([order(f"t{i}", i * 0.1) for i in range(GANG_MAX + 3)])
    assert [len(o.trackers) for o in out] == [GANG_MAX, 3]
    assert [t for o in out for t in o.trackers] == [f"t{i}" for i in range(GANG_MAX + 3)]


def test_a_gang_holds_one_check_per_credential() -> None:
    # a dense credential's slots 10 ms apart: each goes to a gang of its own slot time
    out = gangs([order(f"x{i}", 10 * i, "dense") for i in range(3)] + [order("y", 12), order("z", 25)])
    assert [o.trackers for o in out] == [["x0", "y", "z"], ["x1"], ["x2"]]


def test_chunks_and_unplanned_checks_never_join_a_gang() -> None:
    chunk = CheckOrder(["c1", "c2"], 0.0, credential="c")
    unplanned = CheckOrder(["u"], 0.0, credential="u")
    out = gangs([chunk, order("a", 0), unplanned, order("b", 2)])
    assert chunk in out and unplanned in out
    assert [o.trackers for o in out if o.slots] == [["a", "b"]]


def accounts_engine(tmp_path: Path, names: list[str], rate: str = "20/s") -> Engine:
    accounts = write_accounts(
        tmp_path / "accounts.toml", {n: {"provider": "wamm", "token": f"t-{n}", "rate_limit": rate} for n in names}
    )
    settings = load_settings({"STATUSWATCH_ACCOUNTS_FILE": str(accounts), "STATUSWATCH_POLL_FIRST_S": "0"})
    return Engine.from_settings(settings, fakeredis.FakeRedis(decode_responses=True))


def test_the_dispatcher_gangs_the_same_slot_of_every_credential(tmp_path: Path) -> None:
    names = ["shop", "billing", "support"]
    e = accounts_engine(tmp_path, names)
    for name in names:
        for i in range(4):
            e.track({"provider": "wamm", "account": name, "msg_id": str(i)})
    out: list[CheckOrder] = []
    e.dispatcher.dispatch(out.extend)
    # three idle credentials: their plans start together, slot i of each in one gang
    assert len(out) == 4
    for gang in out:
        assert gang.slots is not None and len(gang.slots) == 3
        assert sorted(t.split(":")[1] for t in gang.trackers) == sorted(names)
        assert max(gang.slots) - min(gang.slots) <= GANG_WINDOW_S * 1e6


class MeetingGateway:
    """Answers 'read' only once all ``barrier.parties`` callers are inside ``fetch`` at once."""

    ceiling = State.READ

    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier = barrier

    def method(self, ref: object) -> str:
        return "msg_state"

    def fetch(self, ref: object) -> Observation:
        arrival.leaving()
        self.barrier.wait()
        return Observation(State.READ, "viewed")


def test_a_gang_runs_its_checks_side_by_side_each_in_its_slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["shop", "billing", "support"]
    e = accounts_engine(tmp_path, names)
    monkeypatch.setattr(tracking, "get_engine", lambda: e)
    barrier = threading.Barrier(len(names), timeout=5)
    for name in names:
        e.track({"provider": "wamm", "account": name, "msg_id": "1"})
        e.gateways._providers[name] = MeetingGateway(barrier)  # type: ignore[assignment]
    start = now_us(e)
    slots = [start, start + 15_000, start + 30_000]
    result = tracking.check_task([f"wamm:{n}:1" for n in names], slots=slots)
    # one after another, the first fetch would wait at the barrier alone and break it
    assert result == {"checked": 3, "settled": 3, "requeued": 0}
    grants = []
    for name in names:
        account = e.gateways.account(name, "wamm")
        assert account is not None
        (bucket,) = e.limiter.buckets(account, "msg_state")
        grants.append(int(e.store.redis.lindex(e.limiter.keys.grants(account.credential_key, bucket), 0)))
    grants.sort()
    assert all(g >= s - 1_000 for g, s in zip(grants, slots, strict=True))  # none long before its slot
    assert grants[2] - grants[0] >= 20_000  # they started their slots' 30 ms apart, not together


def test_a_gang_needs_one_slot_per_tracker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracking, "get_engine", lambda: engine(tmp_path, "20/s"))
    with pytest.raises(ValueError, match="slots: 1 slots for 2 trackers"):
        tracking.check_task(["wamm:shop:1", "wamm:shop:2"], slots=[1])


# -- the batch sync gets a planned slot too ----------------------------------------------------


def test_the_batch_sync_is_planned_a_slot_after_the_checks_already_planned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = engine(tmp_path, "20/s")
    orders = dispatched(e, 10)
    spacing_us = math.ceil(e.limiter.spacing_s(20) * 1e6)
    start_s, slot_us = e.batch_sync.plan("shop")
    # under a backlog every free slot is planned for a check: the sync takes the next one
    assert slot_us == orders[-1].slot_us + spacing_us
    assert start_s == pytest.approx(orders[-1].start_s + spacing_us / 1e6, abs=0.05)
    assert e.batch_sync.plan("nobody") == (0.0, 0)
    # the fan-out sends each account's sync to start at its slot, carrying it
    sent: list[dict[str, object]] = []
    monkeypatch.setattr(tracking, "get_engine", lambda: e)
    monkeypatch.setattr(tracking.sync_recent_task, "apply_async", lambda **kw: sent.append(kw))
    assert tracking.sync_recent_task() == {"accounts": ["shop"]}
    ((call,),) = [sent]
    kwargs = call["kwargs"]
    assert isinstance(kwargs, dict) and kwargs["account"] == "shop"
    assert kwargs["slot"] == slot_us + spacing_us and call["countdown"] is not None


class QuietBatch:
    """A WAMM-like account whose batch request answers with no messages."""

    ceiling = State.READ
    batch_method = "msg_get_last"

    def method(self, ref: object) -> str:
        return "msg_state"

    def recent(self, window_s: float) -> list[tuple[str, Observation]]:
        arrival.leaving()
        return []


def test_a_sync_in_its_slot_goes_where_an_unplanned_one_is_turned_away(tmp_path: Path) -> None:
    e = engine(tmp_path, "20/s")
    e.track({"provider": "wamm", "account": "shop", "msg_id": "1"})
    account = e.gateways.account("shop", "wamm")
    assert account is not None
    e.gateways._providers["shop"] = QuietBatch()  # type: ignore[assignment]
    (bucket,) = e.limiter.buckets(account, "msg_get_last")
    # the grid is a second ahead (requests nobody planned took it), the log is empty
    e.limiter.redis.set(e.limiter.keys.rate(account.credential_key, bucket), str(now_us(e) + 1_000_000))
    assert e.batch_sync.sync("shop").summary() == {"account": "shop", "skipped": "rate"}
    synced = e.batch_sync.sync("shop", slot_us=now_us(e))
    assert synced.summary() == {"account": "shop", "seen": 0, "applied": 0, "finished": 0}


def test_a_batch_method_with_a_limit_of_its_own_is_not_planned(tmp_path: Path) -> None:
    support = {"provider": "greenapi", "id_instance": "7103000000", "api_token_instance": "t",
               "api_url": "http://127.0.0.1:9"}  # fmt: skip
    accounts = write_accounts(tmp_path / "accounts.toml", {"support": support})
    settings = load_settings({"STATUSWATCH_ACCOUNTS_FILE": str(accounts)})
    e = Engine.from_settings(settings, fakeredis.FakeRedis(decode_responses=True))
    # getMessage and lastOutgoingMessages have limits of their own: no slot to share
    assert e.batch_sync.plan("support") == (0.0, 0)


def test_what_was_claimed_goes_out_when_a_later_account_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    e = accounts_engine(tmp_path, ["shop", "billing"])
    for name in ("shop", "billing"):
        e.track({"provider": "wamm", "account": name, "msg_id": "1"})
    original, calls = Dispatcher._dispatch_group, []

    def second_fails(self: Dispatcher, group: str, *args: Any) -> int:
        calls.append(group)
        if len(calls) == 2:
            raise ConnectionError("Redis went away")
        return original(self, group, *args)

    monkeypatch.setattr(Dispatcher, "_dispatch_group", second_fails)
    out: list[CheckOrder] = []
    with pytest.raises(ConnectionError):
        e.dispatcher.dispatch(out.extend)
    assert [o.trackers for o in out] == [[f"{calls[0]}:1"]]


def test_trackers_past_their_deadline_end_in_one_dispatch_whatever_the_budget(tmp_path: Path) -> None:
    e = engine(tmp_path, "5/s")  # a dispatch may plan about ten checks of this credential
    for i in range(100):
        e.track({"provider": "wamm", "account": "shop", "msg_id": str(i), "expires_in": 0.001})
    e.track({"provider": "wamm", "account": "shop", "msg_id": "999", "expires_in": 600})
    time.sleep(0.01)  # every deadline but one has passed
    out: list[CheckOrder] = []
    e.dispatcher.dispatch(out.extend)
    fleet = Fleet(e.store.redis, e.store.keys)
    assert fleet.stats()["finished:timed_out"] == 100 and fleet.active_counts() == {"wamm:shop": 1}
    assert [o.trackers for o in out] == [["wamm:shop:999"]]
