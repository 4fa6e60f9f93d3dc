"""The Celery tasks: thin. Each takes primitive, secret-free arguments and calls the engine."""

from __future__ import annotations

import logging
from typing import Any

from worker.app import app
from worker.runtime import CheckOrder, Engine, get_engine

log = logging.getLogger("statuswatch")

#: a start closer than this is sent at once: the limiter evens out a few ms, and a Celery
#: ETA costs the worker more CPU than the check itself
MIN_COUNTDOWN_S = 0.02


@app.task(name="statuswatch.track")
def track_task(**kwargs: Any) -> dict[str, Any]:
    """Register a tracker (validated again here; a bad request is recorded, not retried)."""
    return get_engine().track(kwargs)


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
                countdown = order.start_s if order.start_s >= MIN_COUNTDOWN_S else None
                tracker = order.trackers[0] if len(order.trackers) == 1 else order.trackers
                kwargs = {"slot": order.slot_us} if order.slot_us else {}
                check_task.apply_async((tracker,), kwargs, producer=producer, countdown=countdown, expires=lease_s)

    return {"claimed": engine.dispatch(enqueue)}


@app.task(name="statuswatch.sync_recent")
def sync_recent_task(account: str | None = None) -> dict[str, Any]:
    """Batch sync: without ``account``, fan out one task per account that has a batch method."""
    engine = get_engine()
    if account is not None:
        return engine.sync(account)
    targets = engine.sync_targets()
    for alias in targets:
        sync_recent_task.apply_async(kwargs={"account": alias}, expires=engine.settings.sync_every_s)
    return {"accounts": targets}


@app.task(name="statuswatch.housekeeping")
def housekeeping_task() -> dict[str, Any]:
    """Drop empty account schedules; snapshot the fleet counters (once per period)."""
    return get_engine().housekeeping()


@app.task(name="statuswatch.check")
def check_task(tracker: str | list[str], requeued: int = 0, slot: int = 0) -> dict[str, Any]:
    """Ask the gateway about one tracker's message and apply the answer; given a list (a
    chunk the dispatcher made for a fast gateway), do so for each, one after another.
    ``slot``: the limiter slot the dispatcher planned for a single check (epoch µs)."""
    engine = get_engine()
    if isinstance(tracker, list):
        results = []
        for tid in tracker:
            try:
                results.append(_check_one(engine, tid, 0, 0))
            except Exception:  # one tracker's failure must not hold the rest back a lease
                log.exception("check of %s failed; its lease brings it back", tid)
                results.append({"tracker": tid, "error": True})
        return {
            "checked": len(results),
            "settled": sum(1 for r in results if r.get("outcome") == "settled"),
            "requeued": sum(1 for r in results if "requeue_s" in r),
        }
    return _check_one(engine, tracker, requeued, slot)


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
