"""The baseline: a Celery app with statuswatch's own configuration and one task that does nothing.

Run as its own worker (``celery -A bench.noop_app worker -P threads ...``) with the same
environment as a statuswatch worker, so pool, concurrency, prefetch, ``acks_late``, events
and result settings are the project's (``config.celery.celery_settings``). ``bench.noop``
takes one tracker id, like ``statuswatch.check``, and is routed to the check queue.
"""

from __future__ import annotations

from celery import Celery

from config import load_settings
from config.celery import celery_settings

NOOP_TASK = "bench.noop"

app = Celery("bench-noop")
app.config_from_object(celery_settings(load_settings()))


@app.task(name=NOOP_TASK)  # type: ignore[untyped-decorator]
def noop(tracker: str) -> None:
    """Nothing: the cost of a Celery task on this configuration, and no more."""
