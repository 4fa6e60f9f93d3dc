"""Celery settings chosen for this workload, and the beat schedule, in one place.

- JSON only: producers in other services and Flower read the messages.
- Results ignored: the store is the record; a result backend would only duplicate it.
- ``acks_late`` with reject on worker loss: a check lost with its worker is redelivered;
  the store's lease brings it back even if the broker does not.
- One queue per kind of work, so a flood of checks never starves ``track`` or ``dispatch``.
- Thread pool: a check waits on the gateway almost all the time (I/O-bound), threads cost
  little memory, and the per-token limiter lives in Redis, not in the process.
"""

from __future__ import annotations

from typing import Any

from kombu import Queue  # type: ignore[attr-defined]

from config.settings import Settings

TRACK_QUEUE = "statuswatch.track"
DISPATCH_QUEUE = "statuswatch.dispatch"
CHECK_QUEUE = "statuswatch.check"
#: deliveries to producers' callbacks: a slow receiver never holds up checks
NOTIFY_QUEUE = "statuswatch.notify"
QUEUES = (TRACK_QUEUE, DISPATCH_QUEUE, CHECK_QUEUE, NOTIFY_QUEUE)

#: seconds running tasks get to finish on a cold shutdown before the worker exits
SOFT_SHUTDOWN_S = 10.0


def celery_settings(settings: Settings) -> dict[str, Any]:
    """The Celery configuration of the statuswatch app."""
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": broker_transport_options(settings),
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 4,
        "worker_pool": "threads",
        "worker_concurrency": 16,
        # Task events (Celery's default: off) cost a busy worker dearly (docs/decisions.md,
        # "Task events off by default"). Flower turns them on in the workers it watches (its
        # `--enable_events`, every 5 s), and they stay on until the worker restarts; a worker
        # nobody has watched sends none. `celery -A worker worker -E` turns them on from the
        # start. A worker needs its heartbeat (or gossip) for Flower to turn them on: with
        # neither and no task events Celery builds no event dispatcher at all. "Sent" events
        # stay off: they would add a message to every published check for little.
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # After a lost broker connection Celery lowers the prefetch count and raises it again
        # with each acknowledgement, from the thread that ran the task: with the thread pool
        # and RabbitMQ several threads then send basic.qos and read replies on the consumer's
        # connection at once (py-amqp is not thread-safe) and the worker stops consuming for
        # good (docs/reliability.md). Off: the worker reconnects at the full prefetch count.
        "worker_enable_prefetch_count_reduction": False,
        # Soft shutdown: on a cold shutdown (second Ctrl-C, SIGQUIT) running checks get this
        # long to finish (a check is bounded by the HTTP timeout and ~1 s of retries), and
        # checks held with a countdown go back to the broker even when none is running.
        "worker_soft_shutdown_timeout": SOFT_SHUTDOWN_S,
        "worker_enable_soft_shutdown_on_idle": True,
        "task_queues": [Queue(name, routing_key=name) for name in QUEUES],
        "task_default_queue": CHECK_QUEUE,
        "task_routes": {
            "statuswatch.track": {"queue": TRACK_QUEUE, "routing_key": TRACK_QUEUE},
            "statuswatch.track_many": {"queue": TRACK_QUEUE, "routing_key": TRACK_QUEUE},
            "statuswatch.untrack": {"queue": TRACK_QUEUE, "routing_key": TRACK_QUEUE},
            "statuswatch.dispatch": {"queue": DISPATCH_QUEUE, "routing_key": DISPATCH_QUEUE},
            "statuswatch.check": {"queue": CHECK_QUEUE, "routing_key": CHECK_QUEUE},
            "statuswatch.sync_recent": {"queue": DISPATCH_QUEUE, "routing_key": DISPATCH_QUEUE},
            "statuswatch.housekeeping": {"queue": DISPATCH_QUEUE, "routing_key": DISPATCH_QUEUE},
            "statuswatch.notify": {"queue": DISPATCH_QUEUE, "routing_key": DISPATCH_QUEUE},
            "statuswatch.deliver": {"queue": NOTIFY_QUEUE, "routing_key": NOTIFY_QUEUE},
        },
        # No task time limits: the thread pool cannot enforce them. A check is bounded
        # instead by the gateway request timeout and tenacity's bounded retries.
        "beat_schedule": beat_schedule(settings),
        "timezone": "UTC",
        "enable_utc": True,
    }


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    """Redis-broker options; other transports ignore them.

    A message a worker took and never acknowledged (the worker was killed: a track request
    in hand, or prefetched) goes back to its queue once it is ``visibility_timeout`` old, at
    the next sweep of any worker: every ``unacked_restore_interval`` seconds, each sweep a
    real one (kombu's default sweeps every 100 s, and waits an hour).
    """
    timeout_s = settings.broker_visibility_timeout_s
    options: dict[str, Any] = {
        "visibility_timeout": timeout_s,
        "unacked_restore_interval": max(1, min(10, round(timeout_s / 4))),
        "unacked_restore_throttle": 1,
    }
    if settings.broker_key_prefix:
        options["global_keyprefix"] = settings.broker_key_prefix
    return options


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Periodic work: every entry is idempotent, so two beats by mistake do no harm."""
    return {
        "statuswatch.dispatch": {
            "task": "statuswatch.dispatch",
            "schedule": settings.dispatch_every_s,
            # A dispatch that waited longer than this is stale: a newer one is queued.
            "options": {"expires": settings.dispatch_every_s * 5},
        },
        "statuswatch.sync_recent": {
            "task": "statuswatch.sync_recent",
            "schedule": settings.sync_every_s,
            "options": {"expires": settings.sync_every_s},
        },
        "statuswatch.notify": {
            "task": "statuswatch.notify",
            "schedule": settings.notify_every_s,
            "options": {"expires": settings.notify_every_s * 5},
        },
        "statuswatch.housekeeping": {
            "task": "statuswatch.housekeeping",
            "schedule": settings.housekeeping_every_s,
            "options": {"expires": settings.housekeeping_every_s},
        },
    }
