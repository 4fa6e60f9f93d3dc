"""The dispatcher chunks a credential's checks only for a fast gateway under a loose limit."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import fakeredis

from config import load_settings
from worker.runtime import CHUNK_MAX, PROBE_CHECKS, CheckOrder, Engine, chunk_size
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
