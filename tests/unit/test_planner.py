"""The dispatch planner is pure: the same spacing, horizon, latency and time give the same plan."""

from __future__ import annotations

import pytest

from worker.planner import PROBE_CHECKS, CheckOrder, budget, from_now, orders
from worker.ratelimit import Plan


def test_a_credential_gets_the_free_slots_of_its_horizon() -> None:
    # 20/s (spacing 51.5 ms), dispatched every second: two seconds of slots
    assert budget(0.0515, 1.0, 0.0, None) == (38, 39)
    # a second of them already planned: only the second second's are free
    assert budget(0.0515, 1.0, 1.0, None).claims == 19
    # planned past the horizon (workers fell behind): nothing more, the in-flight cap stays
    assert budget(0.0515, 1.0, 5.0, None) == (0, 39)


def test_an_unmeasured_fast_gateway_gets_a_few_probes_a_measured_one_its_slots() -> None:
    assert budget(0.00001, 1.0, 0.0, None).claims == PROBE_CHECKS
    assert budget(0.00001, 1.0, 0.0, 0.001).claims > 100_000


def test_orders_start_at_their_slots_on_the_callers_clock() -> None:
    plan = Plan(offset_s=0.1, first_us=5_000_000, spacing_us=50_000)
    planned = orders(["a", "b", "c"], plan, 1, "cred", now=1000.0)
    assert planned == [
        CheckOrder(["a"], 1000.1, 5_000_000, "cred"),
        CheckOrder(["b"], 1000.15, 5_050_000, "cred"),
        CheckOrder(["c"], 1000.2, 5_100_000, "cred"),
    ]
    assert [o.start_s for o in from_now(planned, now=1000.12)] == pytest.approx([0.0, 0.03, 0.08])
    chunked = orders(["a", "b", "c"], plan, 2, "cred", now=0.0)
    assert [(o.trackers, o.slot_us) for o in chunked] == [(["a", "b"], 0), (["c"], 0)]  # a chunk takes the grid
