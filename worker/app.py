"""The Celery application: ``celery -A worker worker|beat|flower``.

Settings come from ``config`` (validated at import, so a bad variable stops the worker
with its name); the tasks live in ``tasks/`` and are imported by name.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals

from config import load_settings
from config.celery import celery_settings
from worker.broker import reuse_publish_clients, survive_closed_connections
from worker.connections import eviction_policy
from worker.flower_guard import guard_flower_command
from worker.malloc import cap_arenas
from worker.redact import install_log_redaction
from worker.runtime import get_engine

log = logging.getLogger("statuswatch")

cap_arenas()  # before any pool thread: see worker/malloc.py
reuse_publish_clients()  # kombu builds a redis-py client per published message otherwise
survive_closed_connections()  # Celery 5.7.0 + Redis broker: a lost connection kills the worker otherwise
app = Celery("statuswatch", include=["tasks.tracking", "tasks.notify"])
app.config_from_object(celery_settings(load_settings()))
guard_flower_command()  # `celery -A worker flower`: loopback, or basic auth from the environment


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _redact_logs(**_: Any) -> None:
    """Every log record a worker writes passes through the redactor of its accounts' secrets."""
    install_log_redaction(get_engine().redactor)


@signals.worker_ready.connect
def _check_redis(**_: Any) -> None:
    """Warn loudly when the store could lose trackers to eviction, or producers' requests wait
    on a queue no statuswatch worker reads (housekeeping looks again every period)."""
    engine = get_engine()
    engine.upkeep.look_for_misrouted()
    try:
        policy = eviction_policy(engine.store.redis)
    except Exception as exc:  # CONFIG may be disabled on managed Redis
        log.info("could not read Redis maxmemory-policy (%s)", type(exc).__name__)
        return
    if policy and policy != "noeviction":
        log.warning(
            "Redis maxmemory-policy is %r: trackers can be evicted; statuswatch needs 'noeviction'",
            policy,
        )
