"""A statuswatch deployment on this machine: Celery worker and beat processes under one
namespace, started and stopped together. The one local harness: ``statuswatch demo``,
``statuswatch up`` (``worker.up``), the integration tests (``tests/integration/harness.py``)
and the benchmarks (``bench/procs.py``) all start their processes through ``LocalStack``.

It starts real ``celery -A worker worker|beat`` subprocesses, so what runs here is what
runs in production; it leaves no process behind (``stop`` terminates, then kills). Each
child runs in a session of its own, so a terminal's Ctrl-C reaches only ``statuswatch``,
which stops them in order (worker and beat before the Redis they use), and on Linux each
gets SIGTERM if ``statuswatch`` itself dies.

Accounts files are written by ``accounts_toml``/``write_accounts`` (tomli-w: every string
escaped), never by string formatting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import tomli_w
from celery import Celery

from config import load_settings
from config.celery import QUEUES, celery_settings
from worker.embedded import die_with_parent
from worker.fleet import Fleet
from worker.keys import delete_prefix
from worker.runtime import Engine, redis_client

ROOT = Path(__file__).resolve().parents[1]


#: an accounts file's content: account alias -> its fields (``provider``, credentials, ...)
AccountTables = Mapping[str, Mapping[str, Any]]


def accounts_toml(accounts: AccountTables) -> str:
    """The text of an accounts file: one ``[accounts.ALIAS]`` table per entry, in order.

    Written by tomli-w, so every string (a token, a URL) and every alias is quoted and
    escaped as TOML needs; ``config.accounts`` reads it back as given.
    """
    return tomli_w.dumps({"accounts": {alias: dict(fields) for alias, fields in accounts.items()}})


def write_accounts(path: Path, accounts: AccountTables) -> Path:
    """Write ``accounts_toml(accounts)`` to ``path``; returns the path."""
    path.write_text(accounts_toml(accounts), encoding="utf-8")
    return path


class LocalStack:
    """Worker and beat processes for one namespace, with a producer and the store at hand.

    ``env`` holds the deployment's settings (``STATUSWATCH_*``); they override this
    process's environment, whose ``STATUSWATCH_*`` variables the children also get unless
    ``inherit_settings`` is false (then ``env`` alone configures them).
    """

    def __init__(self, workdir: Path, env: Mapping[str, str], *, inherit_settings: bool = True) -> None:
        self.workdir = workdir
        inherited = {k: v for k, v in os.environ.items() if inherit_settings or not k.startswith("STATUSWATCH_")}
        self.env = {**inherited, "PYTHONPATH": str(ROOT), **env}
        self.settings = load_settings(self.env)
        self.redis = redis_client(self.settings.redis_url)
        self.engine = Engine.from_settings(self.settings, self.redis)
        self.store = self.engine.store
        self.keys = self.store.keys
        self.fleet = Fleet(self.redis, self.keys)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        #: each worker's name and where its log starts for this run (logs are appended to)
        self.workers: dict[str, int] = {}
        self.producer = Celery("statuswatch-producer", set_as_current=False)
        self.producer.config_from_object(celery_settings(self.settings))

    def start_worker(
        self,
        name: str = "w1",
        *,
        app: str = "worker",
        pool: str | None = None,
        concurrency: int | None = None,
        loglevel: str = "INFO",
        heartbeat: bool = True,
    ) -> subprocess.Popen[bytes]:
        """``celery -A app worker`` on statuswatch's queues, as ``name@namespace``.

        Args:
            app: the Celery app (the benchmarks also start their no-op and baseline apps here).
            pool, concurrency: ``-P``/``-c``; None leaves them to the app's configuration
                (``config.celery``: threads, 16), as the Procfile does.
            loglevel: ``-l``; ``wait_ready`` reads the INFO line that says a worker is ready.
            heartbeat: False adds ``--without-heartbeat``. It stays on in the product:
                without it (and gossip, and task events) Celery builds no event dispatcher,
                and Flower could not turn task events on.
        """
        cmd = [sys.executable, "-m", "celery", "-A", app, "worker"]
        if pool is not None:
            cmd += ["-P", pool]
        if concurrency is not None:
            cmd += ["-c", str(concurrency)]
        cmd += [
            "-Q", ",".join(QUEUES), "-n", f"{name}@{self.settings.namespace}",
            # workers of one machine need no gossip or start-up sync with each other
            "--without-gossip", "--without-mingle", "-l", loglevel,
        ]  # fmt: skip
        if not heartbeat:
            cmd.append("--without-heartbeat")
        proc = self._spawn(name, cmd)
        self.workers[name] = self._logs[-1].tell()
        return proc

    def start_beat(self, name: str = "beat", *, loglevel: str = "INFO") -> subprocess.Popen[bytes]:
        """``celery -A worker beat``, its schedule file in the workdir."""
        schedule = self.workdir / f"{name}-schedule"
        return self._spawn(
            name, [sys.executable, "-m", "celery", "-A", "worker", "beat", "-l", loglevel, "-s", str(schedule)]
        )

    def start_command(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """``statuswatch ARGS...`` as process ``name`` (``webhooks``, ``notifications``, ``metrics``)."""
        return self._spawn(name, [sys.executable, "-m", "worker.cli", *args])

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        proc = subprocess.Popen(
            cmd, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def wait_ready(self, names: Iterable[str] | None = None, timeout_s: float = 60.0) -> None:
        """Wait until the named workers (default: every one started) say they are ready to take tasks.

        Raises:
            RuntimeError: a process exited, or a worker was not ready within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        waiting = {name: self.workers[name] for name in names} if names is not None else dict(self.workers)
        while True:
            self.check_alive()
            for name, start in list(waiting.items()):
                with open(self.workdir / f"{name}.log", "rb") as log:
                    log.seek(start)
                    if b" ready." in log.read():
                        del waiting[name]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{', '.join(waiting)} not ready within {timeout_s} s")
            time.sleep(0.1)

    def exited(self) -> dict[str, int]:
        """Processes that have ended, with their exit codes."""
        return {name: code for name, proc in self.procs.items() if (code := proc.poll()) is not None}

    def check_alive(self) -> None:
        """Raise if one of the processes has ended.

        Raises:
            RuntimeError: naming the process and its exit code, and ending with its log.
        """
        for name, code in self.exited().items():
            raise RuntimeError(f"{name} exited with {code}; its log:\n{self.log(name)[-3000:]}")

    def kill(self, name: str) -> None:
        """SIGKILL one process: no chance to finish or hand back its work."""
        proc = self.procs.pop(name)
        self.workers.pop(name, None)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def track(self, **kwargs: Any) -> None:
        """Send ``statuswatch.track`` by name, as another service would."""
        self.producer.send_task("statuswatch.track", kwargs=kwargs)

    def queue_length(self, queue: str) -> int:
        """Messages waiting on one of this deployment's broker queues."""
        return int(self.redis.llen(f"{self.settings.broker_key_prefix}{queue}"))

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop every process (SIGTERM, then SIGKILL after ``timeout_s``)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        self.workers.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def delete_namespace(self) -> int:
        """Delete every key under this namespace (``{namespace}:``) and under its broker key
        prefix, and nothing else; returns how many. Without a broker key prefix of its own the
        broker's keys are shared, and stay."""
        deleted = delete_prefix(self.redis, f"{self.settings.namespace}:")
        if self.settings.broker_key_prefix:
            deleted += delete_prefix(self.redis, self.settings.broker_key_prefix)
        return deleted
