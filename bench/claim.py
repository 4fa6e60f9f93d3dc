"""Figure 3: how fast the dispatcher claims due trackers.

Trackers with realistic ids (as in figure 2) are registered due at once (first check delay
0), then ``Store.claim_due(group, batch, lease)`` is timed, account by account as the
dispatcher goes, until nothing is due, for several batch sizes (the configured default
among them). Then, for information, ``Engine.dispatch`` with the enqueue of
``tasks.tracking.dispatch_task`` (one ``statuswatch.check`` message per id, ``expires`` =
lease) into a broker prefix of its own: what a dispatch really achieves, publishing
included. No accounts file is configured there, so no rate limit plans countdowns: every
check is published for "now".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench import memory
from bench.procs import BenchStack, redis_client
from config import PollPolicy, Settings
from config.celery import CHECK_QUEUE
from worker.fleet import Fleet
from worker.keys import Keys, delete_prefix
from worker.messages import TaskCall
from worker.runtime import Engine
from worker.store import Store

LEASE_S = Settings().lease_s
#: every tracker is due the moment it is registered
DUE_AT_ONCE = PollPolicy(first_s=0.0, jitter=0.0)


@dataclass(frozen=True)
class ClaimFigure:
    label: str
    batch: int
    claimed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.claimed / self.seconds


def fill_due(store: Store, total: int) -> list[str]:
    """``total`` trackers due now; returns their ``provider:account`` groups."""
    memory.fill(store, total, DUE_AT_ONCE, observe=False)
    return Fleet(store.redis, store.keys).groups()


def claim_all(store: Store, groups: list[str], batch: int) -> ClaimFigure:
    """Claim every group's schedule empty, ``batch`` at a time."""
    claimed, started = 0, time.perf_counter()
    for group in groups:
        while got := len(store.claim_due(group, batch, LEASE_S)):
            claimed += got
    return ClaimFigure("Store.claim_due", batch, claimed, time.perf_counter() - started)


def measure_claims(namespace: str, total: int, batches: list[int]) -> list[ClaimFigure]:
    """``total`` due trackers per batch size (registered afresh each time), claimed until none is due."""
    client = redis_client()
    store = Store(client, Keys(namespace), retention_s=60)
    figures = []
    try:
        for batch in batches:
            delete_prefix(client, namespace)
            groups = fill_due(store, total)
            figures.append(claim_all(store, groups, batch))
        return figures
    finally:
        delete_prefix(client, namespace)
        client.close()


def measure_dispatch(workdir: Path, namespace: str, total: int) -> ClaimFigure:
    """``Engine.dispatch`` with the real enqueue, until ``total`` ids are claimed and published."""
    deployment = BenchStack(workdir, namespace)
    engine = Engine.from_settings(deployment.settings, deployment.redis)
    producer_app = deployment.producer

    def send(calls: list[TaskCall]) -> None:
        """As ``tasks.tracking.dispatch_task`` does."""
        with producer_app.producer_or_acquire() as producer:
            for call in calls:
                producer_app.send_task(
                    "statuswatch.check", call.args, call.kwargs, producer=producer, countdown=call.countdown,
                    expires=call.expires,
                )  # fmt: skip

    try:
        fill_due(engine.store, total)
        claimed, started = 0, time.perf_counter()
        while claimed < total:
            got = engine.dispatch(send)
            if not got:
                break
            claimed += got
        seconds = time.perf_counter() - started
        if deployment.queue_length(CHECK_QUEUE) != claimed:
            raise RuntimeError("dispatch: the check queue does not hold one message per claimed id")
        return ClaimFigure("Engine.dispatch + enqueue", engine.settings.dispatch_batch, claimed, seconds)
    finally:
        deployment.stop()
