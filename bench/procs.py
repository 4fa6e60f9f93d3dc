"""Worker and beat subprocesses under a namespace of their own, their CPU and memory, and cleanup.

The approach of ``tests/integration/harness.py`` (real ``celery`` processes, an environment
per deployment, a broker key prefix per namespace), without importing the test package.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import redis
from celery import Celery

from config import Settings, load_settings
from config.celery import QUEUES, celery_settings
from worker.fleet import Fleet
from worker.keys import Keys
from worker.store import Store

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


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    """SCAN + DEL the keys under ``prefix`` (and only those); returns how many were deleted."""
    deleted, batch = 0, []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) == 500:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted


def count_prefix(client: redis.Redis, prefix: str) -> int:
    return sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=1000))


def redis_version(client: redis.Redis) -> str:
    return str(client.info("server")["redis_version"])


# -- a deployment ----------------------------------------------------------------------


def bench_env(namespace: str, accounts_file: Path | None, overrides: Mapping[str, str]) -> dict[str, str]:
    """The environment of every process of one deployment; inherited STATUSWATCH_* are dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSWATCH_")}
    env.update(
        {
            "STATUSWATCH_REDIS_URL": REDIS_URL,
            "STATUSWATCH_BROKER_URL": REDIS_URL,
            "STATUSWATCH_NAMESPACE": namespace,
            "STATUSWATCH_BROKER_KEY_PREFIX": f"{namespace}-broker:",
            "PYTHONPATH": str(ROOT),
            **({"STATUSWATCH_ACCOUNTS_FILE": str(accounts_file)} if accounts_file else {}),
            **overrides,
        }
    )
    return env


class Deployment:
    """Worker and beat processes with their own namespace; ``stop`` ends them and deletes its keys."""

    def __init__(self, workdir: Path, namespace: str, accounts_toml: str | None = None, **overrides: str) -> None:
        self.workdir = workdir / namespace
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        accounts = None
        if accounts_toml is not None:
            accounts = self.workdir / "accounts.toml"
            accounts.write_text(accounts_toml)
        self.env = bench_env(namespace, accounts, overrides)
        self.settings: Settings = load_settings(self.env)
        self.redis = redis_client()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self.producer = Celery(f"bench-producer-{namespace}", set_as_current=False)
        self.producer.config_from_object(celery_settings(self.settings))
        self.store = Store(self.redis, Keys(namespace), retention_s=self.settings.retention_s)
        self.fleet = Fleet(self.redis, self.store.keys)

    @property
    def broker_prefix(self) -> str:
        return self.settings.broker_key_prefix

    # -- processes -----------------------------------------------------------------------

    def start_worker(self, app: str = STATUSWATCH_APP, name: str = "worker") -> subprocess.Popen[bytes]:
        """``celery -A app worker -P threads``; concurrency and prefetch come from the config."""
        cmd = [
            sys.executable, "-m", "celery", "-A", app, "worker", "-P", "threads",
            "-Q", ",".join(QUEUES), "-n", f"{name}@{self.namespace}",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
        ]  # fmt: skip
        return self._spawn(name, cmd)

    def start_beat(self, name: str = "beat") -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable, "-m", "celery", "-A", STATUSWATCH_APP, "beat", "-l", "WARNING",
            "-s", str(self.workdir / f"{name}-schedule"),
        ]  # fmt: skip
        return self._spawn(name, cmd)

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        proc = subprocess.Popen(cmd, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def wait_workers(self, count: int, timeout_s: float = 60.0) -> None:
        """Wait until ``count`` workers answer a ping, so CPU measured from here leaves their start-up out.

        Raises:
            TimeoutError: fewer answered within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while len(self.producer.control.ping(timeout=0.5)) < count:
            self.assert_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} workers answered a ping within {timeout_s:.0f} s")

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def assert_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")

    def stop_process(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def stop(self) -> int:
        """End the processes, close the logs and delete this deployment's keys; returns how many."""
        for name in list(self.procs):
            self.stop_process(name)
        for log in self._logs:
            log.close()
        deleted = delete_prefix(self.redis, self.namespace)
        self.redis.close()
        return deleted

    # -- broker ----------------------------------------------------------------------------

    def send_many(self, task: str, calls: Iterable[Call], **options: Any) -> int:
        """Publish one message per ``(args, kwargs)`` over one connection; returns how many."""
        sent = 0
        with self.producer.producer_or_acquire() as producer:
            for args, kwargs in calls:
                self.producer.send_task(task, args=args, kwargs=kwargs, producer=producer, **options)
                sent += 1
        return sent

    def queue_length(self, queue: str) -> int:
        return int(self.redis.llen(f"{self.broker_prefix}{queue}"))

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
