"""Figure 1: checks/s of track → dispatch → check → observe on a real worker, next to a no-op task.

Both workers are ``celery -A ... worker -P threads`` subprocesses with the project's Celery
configuration (``config.celery.celery_settings``: concurrency, prefetch, ``acks_late``,
events, ignored results). Their queue is filled before they start, and a sampler reads
progress and the worker's CPU time (``/proc/<pid>/stat``) every ``SAMPLE_S``:

- no-op: ``bench.noop`` messages left in the check queue;
- statuswatch, track phase: the active counter rising as ``statuswatch.track`` registers;
- statuswatch, check phase (beat started): the active counter falling as each tracker's one
  check settles it (the simulator answers ``viewed`` at once, zero latency).

"whole" spans the first to the last completion (for statuswatch it includes every dispatch,
which runs on the same worker); "steady" spans 10 % to 90 % of completions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.noop_app import NOOP_TASK
from bench.procs import NOOP_APP, BenchStack, Call, cpu_s
from config.celery import CHECK_QUEUE
from worker.local import AccountTables
from worker.simulator import SimulatorClient

ACCOUNT = "shop"
GROUP = f"wamm:{ACCOUNT}"
#: so high that the per-credential limiter (still asked once per check) never binds and the
#: dispatcher's planned slots are all under a millisecond away (no countdowns)
UNBOUNDED_RATE = "100000000/s"
#: a life that settles at the first check: "viewed" from the start
SETTLED_AT_ONCE = [["viewed", 0]]
#: project defaults, except that a new tracker is due at once (nothing to wait for)
STATUSWATCH_OVERRIDES = {"STATUSWATCH_POLL_FIRST_S": "0"}
#: the no-op messages wait in the queue before the worker starts: keep them from expiring
NOOP_EXPIRES_S = 3600.0
SAMPLE_S = 0.05
STEADY = (0.1, 0.9)


def wamm_token(alias: str) -> str:
    return f"swbench-{alias}-token-5e1f0c"


def wamm_accounts(url: str, aliases: list[str], rate_limit: str) -> AccountTables:
    """The accounts file: one WAMM account per alias, all on the simulator."""
    return {
        alias: {"provider": "wamm", "token": wamm_token(alias), "base_url": url, "rate_limit": rate_limit}
        for alias in aliases
    }


@dataclass(frozen=True)
class Sample:
    at_s: float
    done: int
    cpu_s: float


@dataclass(frozen=True)
class Span:
    """Completions, wall seconds and worker CPU seconds between two samples."""

    tasks: int
    seconds: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds if self.seconds > 0 else float("nan")

    @property
    def cpu_ms_per_task(self) -> float:
        return 1000 * self.cpu_s / self.tasks if self.tasks else float("nan")


@dataclass(frozen=True)
class Run:
    label: str
    whole: Span
    steady: Span
    extra: dict[str, Any] = field(default_factory=dict)


def span(samples: list[Sample], lo: int, hi: int) -> Span:
    """From the first sample with ``done >= lo`` to the first with ``done >= hi``."""
    start = next(s for s in samples if s.done >= lo)
    end = next(s for s in samples if s.done >= hi)
    return Span(end.done - start.done, end.at_s - start.at_s, end.cpu_s - start.cpu_s)


def run_of(label: str, samples: list[Sample], total: int, **extra: Any) -> Run:
    lo, hi = (max(1, int(total * f)) for f in STEADY)
    return Run(label, span(samples, 1, total), span(samples, lo, hi), extra)


def sample_progress(
    done: Callable[[], int], pid: int, total: int, timeout_s: float, alive: Callable[[], None]
) -> list[Sample]:
    """Sample ``done()`` and the worker's CPU until ``done() >= total``.

    Raises:
        TimeoutError: not done within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    samples: list[Sample] = []
    while True:
        sample = Sample(time.monotonic(), done(), cpu_s(pid))
        samples.append(sample)
        if sample.done >= total:
            return samples
        if sample.at_s > deadline:
            raise TimeoutError(f"{sample.done} of {total} done after {timeout_s:.0f} s")
        alive()
        time.sleep(SAMPLE_S)


def phase_timeout_s(total: int) -> float:
    """Generous: a run slower than 25 tasks/s is broken, not slow."""
    return 60.0 + total / 25


def run_noop(workdir: Path, namespace: str, total: int) -> Run:
    """The baseline: ``total`` no-op tasks queued, then one worker drains them."""
    deployment = BenchStack(workdir, namespace)
    try:
        calls: Iterator[Call] = (((f"{GROUP}:{i}",), {}) for i in range(total))
        deployment.send_many(NOOP_TASK, calls, expires=NOOP_EXPIRES_S)
        worker = deployment.start_worker("noop", app=NOOP_APP)

        def done() -> int:
            return total - deployment.queue_length(CHECK_QUEUE)

        samples = sample_progress(done, worker.pid, total, phase_timeout_s(total), deployment.check_alive)
        return run_of("no-op task", samples, total)
    finally:
        deployment.stop()


def run_statuswatch(workdir: Path, namespace: str, total: int, sim_url: str, first_id: int) -> tuple[Run, Run]:
    """``total`` track requests queued; worker registers them; then beat starts and each is checked once."""
    simulator = SimulatorClient(sim_url)
    msg_ids = [str(first_id + i) for i in range(total)]
    simulator.add_messages(
        {"provider": "wamm", "credential": wamm_token(ACCOUNT), "msg_id": m, "life": SETTLED_AT_ONCE} for m in msg_ids
    )
    accounts = wamm_accounts(sim_url, [ACCOUNT], UNBOUNDED_RATE)
    deployment = BenchStack(workdir, namespace, accounts, **STATUSWATCH_OVERRIDES)
    try:
        calls = (((), {"provider": "wamm", "account": ACCOUNT, "msg_id": m}) for m in msg_ids)
        deployment.send_many("statuswatch.track", calls)
        worker = deployment.start_worker()

        active = deployment.active
        timeout_s = phase_timeout_s(total)
        tracked = sample_progress(active, worker.pid, total, timeout_s, deployment.check_alive)
        requests_before = simulator.stats()["total"]
        deployment.start_beat()
        checked = sample_progress(lambda: total - active(), worker.pid, total, timeout_s, deployment.check_alive)
        requests = simulator.stats()["total"] - requests_before
        leftovers = deployment.fleet.due_count()
        return (
            run_of("statuswatch.track", tracked, total),
            run_of("statuswatch check", checked, total, gateway_requests=requests, due_left=leftovers),
        )
    finally:
        deployment.stop()
