"""The gang runner starts each member at its own slot, side by side, on a clock and a sleep
of the test's: nothing here waits on the wall clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from worker.gang import Gang

T0 = 1_000_000_000  # the first member's slot, epoch µs


class Clock:
    """A clock that reads ``times`` in turn (the last one from then on), and a sleep that
    only notes how long it was asked to wait."""

    def __init__(self, *times: float) -> None:
        self.times = list(times or [100.0])
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.times.pop(0) if len(self.times) > 1 else self.times[0]

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(round(seconds, 6))


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        yield pool


def test_each_member_starts_as_far_after_the_first_as_its_slot(pool: ThreadPoolExecutor) -> None:
    clock = Clock()
    gang = Gang(pool, clock=clock, sleep=clock.sleep, window_s=0.04)
    slots = [T0, T0 + 15_000, T0 + 30_000]
    results = gang.run(["a", "b", "c"], slots, lambda member, slot: (member, slot))
    assert results == [("a", T0), ("b", T0 + 15_000), ("c", T0 + 30_000)]  # in the members' order
    assert sorted(clock.slept) == [0.0, 0.015, 0.03]


def test_a_member_late_for_its_slot_starts_at_once_and_none_waits_past_the_window(pool: ThreadPoolExecutor) -> None:
    clock = Clock(100.0, 100.025)  # the gang starts at 100 s; its members look 25 ms later
    gang = Gang(pool, clock=clock, sleep=clock.sleep, window_s=0.04)
    assert gang.run(["a", "b", "c"], [T0, T0 + 10_000, T0 + 35_000], lambda m, s: m) == ["a", "b", "c"]
    assert sorted(clock.slept) == [0.0, 0.0, 0.01]
    clock = Clock()
    far = Gang(pool, clock=clock, sleep=clock.sleep, window_s=0.04)
    far.run(["a", "b"], [T0, T0 + 5_000_000], lambda m, s: m)  # a slot 5 s later: at most the window
    assert sorted(clock.slept) == [0.0, 0.04]


def test_members_run_side_by_side(pool: ThreadPoolExecutor) -> None:
    barrier = threading.Barrier(3, timeout=5)  # one after another, the first would break it

    def meet(member: str, slot: int) -> str:
        barrier.wait()
        return member

    clock = Clock()
    assert Gang(pool, clock=clock, sleep=clock.sleep).run(["a", "b", "c"], [T0] * 3, meet) == ["a", "b", "c"]


def test_a_gang_needs_one_slot_per_member(pool: ThreadPoolExecutor) -> None:
    with pytest.raises(ValueError, match="slots: 1 slots for 2 trackers"):
        Gang(pool).run(["a", "b"], [T0], lambda m, s: m)
    assert Gang(pool).run([], [], lambda m, s: m) == []
