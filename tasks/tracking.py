"""The Celery tasks: thin. Each takes primitive, secret-free arguments, makes one call of the
engine (``worker.runtime``) and returns its result's summary; the messages the engine asks
for (checks, re-sent checks, syncs) are sent here as it describes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery.exceptions import Reject

from worker.app import app
from worker.errors import StoreUnreachable
from worker.messages import TaskCall
from worker.results import Accepted, Bulk, Rejected, Untracked
from worker.runtime import get_engine

#: what an intake call answers
Intake = Accepted | Bulk | Rejected | Untracked


@app.task(name="statuswatch.track", bind=True)
def track_task(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Register a tracker (validated again here; a bad request is recorded, not retried).
    Takes ``*args`` only to record a producer's positional arguments as a rejection."""
    return _intake(get_engine().track, self, args, kwargs)


@app.task(name="statuswatch.track_many", bind=True)
def track_many_task(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Register many trackers (``items``): each accepted or rejected on its own, counted."""
    return _intake(get_engine().track_many, self, args, kwargs)


@app.task(name="statuswatch.untrack", bind=True)
def untrack_task(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """End a tracker as cancelled."""
    return _intake(get_engine().untrack, self, args, kwargs)


def _intake(call: Callable[..., Intake], task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """One intake call's summary; a request the store did not answer goes back to the broker
    (acknowledged as done, it would be lost)."""
    try:
        return call(kwargs, args, task_id=task.request.id or "").summary()
    except StoreUnreachable as exc:
        raise Reject(str(exc), requeue=True) from exc


@app.task(name="statuswatch.dispatch")
def dispatch_task() -> dict[str, int]:
    """Claim due trackers and queue their checks (beat runs this every second)."""

    def send(calls: list[TaskCall]) -> None:
        with app.producer_or_acquire() as producer:
            for call in calls:
                _send(check_task, call, producer)

    return {"claimed": get_engine().dispatch(send)}


@app.task(name="statuswatch.sync_recent")
def sync_recent_task(account: str | None = None, slot: int = 0) -> dict[str, Any]:
    """Batch sync: without ``account``, fan out one task per account that has a batch method,
    each starting at a limiter slot reserved for it (``slot``, epoch µs)."""
    return get_engine().sync(account, slot, send=lambda call: _send(sync_recent_task, call)).summary()


@app.task(name="statuswatch.housekeeping")
def housekeeping_task() -> dict[str, Any]:
    """Drop empty account schedules; snapshot the fleet counters (once per period)."""
    return get_engine().housekeeping().summary()


@app.task(name="statuswatch.check")
def check_task(
    tracker: str | list[str], requeued: int = 0, slot: int = 0, slots: list[int] | None = None
) -> dict[str, Any]:
    """Ask the gateway about one tracker's message and apply the answer. Given a list: with
    ``slots`` (a gang of different credentials' checks, one slot each) run them side by side,
    each from its slot; without (a chunk the dispatcher made for a fast gateway) one after
    another. ``slot``: the limiter slot the dispatcher planned for a single check (epoch µs)."""
    return get_engine().check(tracker, requeued, slot, slots, resend=lambda call: _send(check_task, call)).summary()


def _send(task: Any, call: TaskCall, producer: Any = None) -> None:
    task.apply_async(
        args=call.args, kwargs=call.kwargs, producer=producer, countdown=call.countdown, expires=call.expires
    )
