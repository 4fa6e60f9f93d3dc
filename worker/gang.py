"""Runs a gang's members side by side, each starting at its own slot.

A gang (``worker.planner.gangs``) is one task message holding single planned checks of
different credentials whose slots lie within a window of the first. Each member starts as
far after the gang's start as its slot is after the first's (at most the window), on a
thread of its own; the first runs on the caller's thread. The clock and the sleep are
parameters, so the timing is tested without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TypeVar

from worker.planner import GANG_WINDOW_S

#: at most this many gang members run at once in a worker process (beyond it they queue)
GANG_THREADS = 64

T = TypeVar("T")
R = TypeVar("R")


class Gang:
    def __init__(
        self,
        pool: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window_s: float = GANG_WINDOW_S,
    ) -> None:
        #: threads for the members, started as they are needed (none until a gang comes)
        self.pool = pool or ThreadPoolExecutor(max_workers=GANG_THREADS, thread_name_prefix="statuswatch-gang")
        self.clock = clock
        self.sleep = sleep
        self.window_s = window_s

    def run(self, members: Sequence[T], slots_us: Sequence[int], work: Callable[[T, int], R]) -> list[R]:
        """``work(member, slot)`` for each member, each from its slot; the results in the
        members' order. ``work`` is not expected to raise (an exception is raised here, and
        the members already started finish on their own)."""
        if len(members) != len(slots_us):
            raise ValueError(f"slots: {len(slots_us)} slots for {len(members)} trackers")
        if not members:
            return []
        began, first = self.clock(), slots_us[0]

        def start(member: T, slot: int) -> R:
            self.sleep(min(self.window_s, max(0.0, began + (slot - first) / 1e6 - self.clock())))
            return work(member, slot)

        rest = [self.pool.submit(start, m, s) for m, s in zip(members[1:], slots_us[1:], strict=True)]
        return [start(members[0], first), *(future.result() for future in rest)]
