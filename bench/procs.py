"""The bench's deployments (``worker.local.LocalStack`` under a namespace of their own, so
the worker processes are started by the product's own command) and its measurements of
them: CPU and memory from /proc, Redis helpers, waiting.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import redis

from worker.keys import prefix_pattern
from worker.local import AccountTables, LocalStack, write_accounts

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("SWBENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
STOP_TIMEOUT_S = 20.0
#: Celery apps the bench starts workers of
STATUSWATCH_APP = "worker"
NOOP_APP = "bench.noop_app"

#: one task message: positional and keyword arguments
Call = tuple[tuple[Any, ...], dict[str, Any]]


# -- one process, seen from /proc ------------------------------------------------------


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads included."""
    with open(f"/proc/{pid}/stat") as file:
        after_name = file.read().rsplit(")", 1)[1].split()
    # fields 14 and 15 of proc(5) (utime, stime); after_name starts at field 3
    return (int(after_name[11]) + int(after_name[12])) / CLOCK_TICKS_PER_S


def rss_mb(pid: int) -> float:
    """Resident set size of a process, MiB."""
    with open(f"/proc/{pid}/statm") as file:
        resident_pages = int(file.read().split()[1])
    return resident_pages * PAGE_BYTES / 2**20


def thread_count(pid: int) -> int:
    """Threads of a process (a thread pool starts its threads as it gets busy)."""
    with open(f"/proc/{pid}/status") as file:
        return next(int(line.split()[1]) for line in file if line.startswith("Threads:"))


# -- Redis -----------------------------------------------------------------------------


def redis_client() -> redis.Redis:
    client: redis.Redis = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    return client


def count_prefix(client: redis.Redis, prefix: str) -> int:
    return sum(1 for _ in client.scan_iter(match=prefix_pattern(prefix), count=1000))


def redis_version(client: redis.Redis) -> str:
    return str(client.info("server")["redis_version"])


# -- a deployment ----------------------------------------------------------------------


class BenchStack(LocalStack):
    """``LocalStack`` under a namespace and broker key prefix of its own, its settings from
    ``overrides`` alone (inherited ``STATUSWATCH_*`` are dropped); ``stop`` ends the
    processes and deletes its keys.

    Its workers are the product's: ``LocalStack.start_worker``'s defaults (pool and
    concurrency from ``config.celery``, INFO, heartbeat on), as ``statuswatch up`` starts them.
    """

    def __init__(self, workdir: Path, namespace: str, accounts: AccountTables | None = None, **overrides: str) -> None:
        workdir = workdir / namespace
        workdir.mkdir(parents=True, exist_ok=True)
        env = {
            "STATUSWATCH_REDIS_URL": REDIS_URL,
            "STATUSWATCH_BROKER_URL": REDIS_URL,
            "STATUSWATCH_NAMESPACE": namespace,
            "STATUSWATCH_BROKER_KEY_PREFIX": f"{namespace}-broker:",
        }
        if accounts is not None:
            env["STATUSWATCH_ACCOUNTS_FILE"] = str(write_accounts(workdir / "accounts.toml", accounts))
        super().__init__(workdir, {**env, **overrides}, inherit_settings=False)
        self.namespace = namespace

    def wait_workers(self, count: int, timeout_s: float = 60.0) -> None:
        """Wait until ``count`` workers answer a ping, so CPU measured from here leaves their start-up out.

        Raises:
            TimeoutError: fewer answered within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while len(self.producer.control.ping(timeout=0.5)) < count:
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} workers answered a ping within {timeout_s:.0f} s")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """End the processes, close the logs and delete this deployment's keys."""
        super().stop(timeout_s)
        self.delete_namespace()
        self.redis.close()

    # -- broker ----------------------------------------------------------------------------

    def send_many(self, task: str, calls: Iterable[Call], **options: Any) -> int:
        """Publish one message per ``(args, kwargs)`` over one connection; returns how many."""
        sent = 0
        with self.producer.producer_or_acquire() as producer:
            for args, kwargs in calls:
                self.producer.send_task(task, args=args, kwargs=kwargs, producer=producer, **options)
                sent += 1
        return sent

    def active(self) -> int:
        """Active trackers, all accounts together."""
        return sum(self.fleet.active_counts().values())


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, alive: Callable[[], None], poll_s: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        alive()
        time.sleep(poll_s)
