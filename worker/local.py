"""A statuswatch deployment on this machine: Celery worker and beat processes under one
namespace, started and stopped together. Used by ``statuswatch demo`` and by the tests.

It starts real ``celery -A worker worker|beat`` subprocesses, so what runs here is what
runs in production; it leaves no process behind (``stop`` terminates, then kills).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from celery import Celery

from config import load_settings
from config.celery import QUEUES, celery_settings
from worker.runtime import Engine, redis_client

ROOT = Path(__file__).resolve().parents[1]


class LocalStack:
    """Worker and beat processes for one namespace, with a producer and the store at hand."""

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        self.settings = load_settings(self.env)
        self.redis = redis_client(self.settings.redis_url)
        self.engine = Engine.from_settings(self.settings, self.redis)
        self.store = self.engine.store
        self.keys = self.store.keys
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self.producer = Celery("statuswatch-producer", set_as_current=False)
        self.producer.config_from_object(celery_settings(self.settings))

    def start_worker(self, name: str = "w1", concurrency: int = 16, loglevel: str = "INFO") -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable, "-m", "celery", "-A", "worker", "worker", "-P", "threads",
            "-c", str(concurrency), "-Q", ",".join(QUEUES), "-n", f"{name}@{self.settings.namespace}",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", loglevel,
        ]  # fmt: skip
        return self._spawn(name, cmd)

    def start_beat(self, name: str = "beat") -> subprocess.Popen[bytes]:
        schedule = self.workdir / f"{name}-schedule"
        return self._spawn(
            name, [sys.executable, "-m", "celery", "-A", "worker", "beat", "-l", "INFO", "-s", str(schedule)]
        )

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        proc = subprocess.Popen(cmd, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def exited(self) -> dict[str, int]:
        """Processes that have ended, with their exit codes."""
        return {name: code for name, proc in self.procs.items() if (code := proc.poll()) is not None}

    def kill(self, name: str) -> None:
        """SIGKILL one process: no chance to finish or hand back its work."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def track(self, **kwargs: Any) -> None:
        """Send ``statuswatch.track`` by name, as another service would."""
        self.producer.send_task("statuswatch.track", kwargs=kwargs)

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
        for log in self._logs:
            log.close()
        self._logs.clear()

    def delete_namespace(self) -> None:
        """Delete this namespace's keys and its broker keys, and nothing else."""
        prefixes = [self.keys.prefix + ":"]
        if self.settings.broker_key_prefix:
            prefixes.append(self.settings.broker_key_prefix)
        for prefix in prefixes:
            batch = list(self.redis.scan_iter(match=f"{prefix}*", count=1000))
            for i in range(0, len(batch), 500):
                self.redis.delete(*batch[i : i + 500])
