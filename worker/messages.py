"""Task messages the engine asks the task layer to send: the arguments, when, and until when.

The engine knows what a message must say (a check order's trackers and slots, a requeued
check's count, an account's batch sync); ``tasks/`` only hands it to Celery.
"""

from __future__ import annotations

from typing import Any, NamedTuple

#: a start closer than this is sent at once: the limiter evens out a few ms, and a Celery
#: ETA costs the worker more CPU than the check itself
MIN_COUNTDOWN_S = 0.02


class TaskCall(NamedTuple):
    """One message for a task: ``task.apply_async(args, kwargs, countdown=, expires=)``."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    #: seconds from now (None: at once)
    countdown: float | None
    #: seconds after which a worker drops the message unrun
    expires: float


def countdown(start_s: float) -> float | None:
    """A planned start as a Celery countdown: one under MIN_COUNTDOWN_S goes at once."""
    return start_s if start_s >= MIN_COUNTDOWN_S else None
