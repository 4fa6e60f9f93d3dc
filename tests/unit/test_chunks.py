"""The dispatcher chunks a credential's checks only for a fast gateway under a loose limit, and
gives each single check its planned slot."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import fakeredis
import pytest
import tenacity

from config import load_settings
from worker.errors import TransientError
from worker.runtime import CHUNK_MAX, PROBE_CHECKS, CheckOrder, Engine, chunk_size
from worker.states import Observation, State
from worker.tally import Tally


def engine(tmp_path: Path, rate: str) -> Engine:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(f'[accounts.shop]\nprovider = "wamm"\ntoken = "t"\nrate_limit = "{rate}"\n')
    settings = load_settings({"STATUSWATCH_ACCOUNTS_FILE": str(accounts), "STATUSWATCH_POLL_FIRST_S": "0"})
    return Engine.from_settings(settings, fakeredis.FakeRedis(decode_responses=True))


def dispatched(e: Engine, n: int) -> list[CheckOrder]:
    for i in range(n):
        e.track({"provider": "wamm", "account": "shop", "msg_id": str(i)})
    out: list[CheckOrder] = []
    e.dispatch(out.extend)
    return out


def test_an_unmeasured_gateway_gets_a_few_single_checks_first(tmp_path: Path) -> None:
    e = engine(tmp_path, "100000/s")
    assert e.latency_s("wamm") is None
    assert [len(o.trackers) for o in dispatched(e, PROBE_CHECKS + 5)] == [1] * PROBE_CHECKS


def test_a_fast_gateway_under_a_loose_limit_gets_chunks(tmp_path: Path) -> None:
    e = engine(tmp_path, "100000/s")
    # another worker's checks measured the gateway: 2 requests, 1 ms each
    tally = Tally("wamm")
    tally.record("msg_state", "ok", 0.001)
    tally.record("msg_state", "ok", 0.001)
    e.store.add_counts(tally.take())
    assert e.latency_s("wamm") == 0.001
    out = dispatched(e, 25)
    assert [len(o.trackers) for o in out] == [CHUNK_MAX, CHUNK_MAX, 5]
    assert sorted(t for o in out for t in o.trackers) == sorted(f"wamm:shop:{i}" for i in range(25))


def test_a_slow_gateway_or_a_tight_limit_gets_one_check_per_task(tmp_path: Path) -> None:
    assert chunk_size(0.05, 0.00001) == 1  # 50 ms answers: one check fills the budget
    assert chunk_size(0.001, 0.05) == 1  # 20/s: each check keeps to its own slot
    assert chunk_size(None, 0.00001) == 1
    tight = engine(tmp_path, "20/s")
    tight._latency_s["wamm"] = 0.001
    assert [len(o.trackers) for o in dispatched(tight, 5)] == [1] * 5


def test_single_checks_carry_their_planned_slots_one_spacing_apart(tmp_path: Path) -> None:
    tight = engine(tmp_path, "20/s")
    orders = dispatched(tight, 5)
    slots = [o.slot_us for o in orders]
    spacing_us = math.ceil(tight.limiter.spacing_s(20) * 1e6)
    assert all(slots) and [b - a for a, b in itertools.pairwise(slots)] == [spacing_us] * 4
    starts = [o.start_s for o in orders]
    assert [round(b - a, 6) for a, b in itertools.pairwise(starts)] == [round(spacing_us / 1e6, 6)] * 4


class FlakyGateway:
    """A provider whose first answer is a transient error and whose later answers are 'read'."""

    ceiling = State.READ

    def __init__(self) -> None:
        self.calls = 0

    def method(self, ref: object) -> str:
        return "msg_state"

    def fetch(self, ref: object) -> Observation:
        self.calls += 1
        if self.calls == 1:
            raise TransientError("HTTP 502", provider="wamm")
        return Observation(State.READ, "viewed")


def now_us(e: Engine) -> int:
    seconds, micros = e.store.redis.time()
    return int(seconds) * 1_000_000 + int(micros)


def test_a_re_sent_check_keeps_its_slot_only_if_no_attempt_spent_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("worker.runtime.wait_jitter", lambda **_: tenacity.wait_none())  # retry at once
    e = engine(tmp_path, "20/s")
    e.track({"provider": "wamm", "account": "shop", "msg_id": "1"})
    account = e.account("shop", "wamm")
    assert account is not None
    gateway = e._providers["shop"] = FlakyGateway()  # type: ignore[assignment]
    # The first attempt goes in its slot and fails; the retry has no slot and the grid says
    # "in half an interval": re-sent, without the slot it already spent.
    spent = e.check("wamm:shop:1", slot_us=now_us(e))
    assert gateway.calls == 1 and spent["requeue_s"] > 0 and spent["slot_us"] == 0
    # Denied in its own slot (a little too early): re-sent with that slot.
    e.limiter.redis.delete(e.limiter.keys.rate(account.credential_key, "*"))
    interval_us = math.ceil(e.limiter.spacing_s(20) * 1e6)
    slot = now_us(e) + interval_us * 8 // 10  # 0.3 of an interval past what EARLY lets through
    kept = e.check("wamm:shop:1", slot_us=slot)
    assert gateway.calls == 1 and kept["requeue_s"] > 0 and kept["slot_us"] == slot
