"""The delivery tasks: beat's ``statuswatch.notify`` hands out due trackers, one
``statuswatch.deliver`` each sends a tracker's events to its callbacks (``worker.notify``)."""

from __future__ import annotations

from typing import Any

from worker.app import app
from worker.runtime import get_engine

#: how many due trackers one notify run hands out at most
CLAIM_LIMIT = 500


def publish(task: str, kwargs: dict[str, Any], queue: str) -> None:
    """A producer's callback task, by name on its queue, JSON; the broker's errors raise."""
    app.send_task(
        task, kwargs=kwargs, queue=queue, serializer="json",
        retry=True, retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
    )  # fmt: skip


@app.task(name="statuswatch.notify")
def notify_task() -> dict[str, int]:
    """Hand out the trackers whose next delivery is due (beat runs this every NOTIFY_EVERY_S).

    Each deliver task expires a lease after it is sent: by then the claim has come due again
    and handed the tracker out anew, so a notify queue more than a lease behind does not
    pile up deliveries of the same tracker (the stale ones are dropped unrun)."""
    notifier = get_engine().notifier
    ids = notifier.claim(CLAIM_LIMIT)
    expires_s = notifier.lease_ms / 1000
    with app.producer_or_acquire() as producer:
        for tid in ids:
            deliver_task.apply_async(args=(tid,), producer=producer, expires=expires_s)
    return {"claimed": len(ids)}


@app.task(name="statuswatch.deliver")
def deliver_task(tracker: str) -> dict[str, Any]:
    """Deliver one tracker's due events, oldest first."""
    return get_engine().notifier.deliver(tracker, publish).summary()
