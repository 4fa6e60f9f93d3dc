"""The Celery tasks: thin. Each takes primitive, secret-free arguments and calls the engine."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from worker.app import app
from worker.runtime import GANG_WINDOW_S, CheckOrder, Engine, get_engine

log = logging.getLogger("statuswatch")

#: a start closer than this is sent at once: the limiter evens out a few ms, and a Celery
#: ETA costs the worker more CPU than the check itself
MIN_COUNTDOWN_S = 0.02
#: at most this many gang members run at once in a worker process (beyond it they queue)
GANG_THREADS = 64


@app.task(name="statuswatch.track", bind=True)
def track_task(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Register a tracker (validated again here; a bad request is recorded, not retried).
    Takes ``*args`` only to record a producer's positional arguments as a rejection."""
    return get_engine().track(kwargs, args, task_id=self.request.id or "")


@app.task(name="statuswatch.track_many", bind=True)
def track_many_task(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Register many trackers (``items``): each accepted or rejected on its own, counted."""
    return get_engine().track_many(kwargs, args, task_id=self.request.id or "")


@app.task(name="statuswatch.untrack", bind=True)
def untrack_task(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """End a tracker as cancelled."""
    return get_engine().untrack(kwargs, args, task_id=self.request.id or "")


@app.task(name="statuswatch.dispatch")
def dispatch_task() -> dict[str, int]:
    """Claim due trackers and queue one check each (beat runs this every second)."""
    engine = get_engine()
    lease_s = engine.settings.lease_s

    def enqueue(orders: list[CheckOrder]) -> None:
        with app.producer_or_acquire() as producer:
            for order in orders:
                # A countdown under one dispatch interval spaces a credential's checks;
                # a check older than its lease is pointless: the lease has brought it back.
                countdown = _countdown(order.start_s)
                tracker = order.trackers[0] if len(order.trackers) == 1 else order.trackers
                kwargs: dict[str, Any] = {"slot": order.slot_us} if order.slot_us else {}
                if order.slots:
                    kwargs["slots"] = order.slots
                check_task.apply_async((tracker,), kwargs, producer=producer, countdown=countdown, expires=lease_s)

    return {"claimed": engine.dispatch(enqueue)}


@app.task(name="statuswatch.sync_recent")
def sync_recent_task(account: str | None = None, slot: int = 0) -> dict[str, Any]:
    """Batch sync: without ``account``, fan out one task per account that has a batch method,
    each starting at a limiter slot reserved for it (``slot``, epoch µs)."""
    engine = get_engine()
    if account is not None:
        return engine.sync(account, slot)
    targets = engine.sync_targets()
    for alias in targets:
        start_s, slot_us = engine.plan_sync(alias)
        sync_recent_task.apply_async(
            kwargs={"account": alias, **({"slot": slot_us} if slot_us else {})},
            countdown=_countdown(start_s),
            expires=engine.settings.sync_every_s,
        )
    return {"accounts": targets}


@app.task(name="statuswatch.housekeeping")
def housekeeping_task() -> dict[str, Any]:
    """Drop empty account schedules; snapshot the fleet counters (once per period)."""
    return get_engine().housekeeping()


def _countdown(start_s: float) -> float | None:
    """A planned start as a Celery countdown: one under MIN_COUNTDOWN_S goes at once."""
    return start_s if start_s >= MIN_COUNTDOWN_S else None


@app.task(name="statuswatch.check")
def check_task(
    tracker: str | list[str], requeued: int = 0, slot: int = 0, slots: list[int] | None = None
) -> dict[str, Any]:
    """Ask the gateway about one tracker's message and apply the answer. Given a list: with
    ``slots`` (a gang of different credentials' checks, one slot each) run them side by side,
    each from its slot; without (a chunk the dispatcher made for a fast gateway) one after
    another. ``slot``: the limiter slot the dispatcher planned for a single check (epoch µs)."""
    engine = get_engine()
    if not isinstance(tracker, list):
        return _check_one(engine, tracker, requeued, slot)
    if slots is not None:
        if len(slots) != len(tracker):
            raise ValueError(f"slots: {len(slots)} slots for {len(tracker)} trackers")
        results = _side_by_side(engine, tracker, slots)
    else:
        results = [_check_guarded(engine, tid, 0) for tid in tracker]
    return {
        "checked": len(results),
        "settled": sum(1 for r in results if r.get("outcome") == "settled"),
        "requeued": sum(1 for r in results if "requeue_s" in r),
    }


def _side_by_side(engine: Engine, trackers: list[str], slots: list[int]) -> list[dict[str, Any]]:
    """A gang: each check starts as far after the task's start as its slot is after the
    first (at most ``GANG_WINDOW_S``), on a thread of its own; the first on this one."""
    began, first = time.monotonic(), slots[0]

    def run(tid: str, slot: int) -> dict[str, Any]:
        time.sleep(min(GANG_WINDOW_S, max(0.0, began + (slot - first) / 1e6 - time.monotonic())))
        return _check_guarded(engine, tid, slot)

    rest = [_GANG_POOL.submit(run, tid, slot) for tid, slot in zip(trackers[1:], slots[1:], strict=True)]
    return [run(trackers[0], first), *(future.result() for future in rest)]


#: threads for the members of gangs, started as they are needed (none until a gang comes)
_GANG_POOL = ThreadPoolExecutor(max_workers=GANG_THREADS, thread_name_prefix="statuswatch-gang")


def _check_guarded(engine: Engine, tid: str, slot: int) -> dict[str, Any]:
    """One check of a chunk or gang: its failure must not hold the others back a lease."""
    try:
        return _check_one(engine, tid, 0, slot)
    except Exception:
        log.exception("check of %s failed; its lease brings it back", tid)
        return {"tracker": tid, "error": True}


def _check_one(engine: Engine, tracker: str, requeued: int, slot: int) -> dict[str, Any]:
    result = engine.check(tracker, requeued, slot)
    if "requeue_s" in result:  # the limiter said "in a few ms": go again then, never sleep here
        check_task.apply_async(
            (tracker,),
            {"requeued": result["requeued"], **({"slot": result["slot_us"]} if result["slot_us"] else {})},
            countdown=result["requeue_s"],
            expires=engine.settings.lease_s,
        )
    return result
