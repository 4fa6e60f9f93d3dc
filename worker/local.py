"""A statuswatch deployment on this machine: Celery worker and beat processes under one
namespace, started and stopped together. Used by ``statuswatch demo``, ``statuswatch up``
(``run_up``) and by the tests.

It starts real ``celery -A worker worker|beat`` subprocesses, so what runs here is what
runs in production; it leaves no process behind (``stop`` terminates, then kills). Each
child runs in a session of its own, so a terminal's Ctrl-C reaches only ``statuswatch``,
which stops them in order (worker and beat before the Redis they use), and on Linux each
gets SIGTERM if ``statuswatch`` itself dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, TextIO

from celery import Celery

from config import load_settings
from config.celery import QUEUES, celery_settings
from worker.embedded import RedisInUse, die_with_parent, redis_for
from worker.fleet import Fleet
from worker.runtime import Engine, redis_client
from worker.simulator import SimulatorProcess, start_process

ROOT = Path(__file__).resolve().parents[1]
#: where ``statuswatch up`` keeps its logs, beat schedule and simulator accounts file
UP_DIR = Path(".statuswatch/up")
#: the WAMM token of ``statuswatch up --simulator``'s account (the simulator is local)
SIM_TOKEN = "local-simulator-token"


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
        self.fleet = Fleet(self.redis, self.keys)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        #: each worker's name and where its log starts for this run (logs are appended to)
        self.workers: dict[str, int] = {}
        self.producer = Celery("statuswatch-producer", set_as_current=False)
        self.producer.config_from_object(celery_settings(self.settings))

    def start_worker(
        self, name: str = "w1", concurrency: int = 16, loglevel: str = "INFO", pool: str = "threads"
    ) -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable, "-m", "celery", "-A", "worker", "worker", "-P", pool,
            "-c", str(concurrency), "-Q", ",".join(QUEUES), "-n", f"{name}@{self.settings.namespace}",
            # the heartbeat stays: without it (and gossip, and task events) Celery builds no
            # event dispatcher, and Flower could not turn task events on
            "--without-gossip", "--without-mingle", "-l", loglevel,
        ]  # fmt: skip
        proc = self._spawn(name, cmd)
        self.workers[name] = self._logs[-1].tell()
        return proc

    def start_beat(self, name: str = "beat") -> subprocess.Popen[bytes]:
        schedule = self.workdir / f"{name}-schedule"
        return self._spawn(
            name, [sys.executable, "-m", "celery", "-A", "worker", "beat", "-l", "INFO", "-s", str(schedule)]
        )

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

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until every worker says it is ready to take tasks.

        Raises:
            RuntimeError: a process exited, or a worker was not ready within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        waiting = dict(self.workers)
        while waiting:
            for name, code in self.exited().items():
                raise RuntimeError(f"{name} exited with {code}; its log:\n{self.log(name)[-2000:]}")
            for name, start in list(waiting.items()):
                with open(self.workdir / f"{name}.log", "rb") as log:
                    log.seek(start)
                    if b" ready." in log.read():
                        del waiting[name]
            if time.monotonic() > deadline:
                raise RuntimeError(f"{', '.join(waiting)} not ready within {timeout_s} s")
            time.sleep(0.1)

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
        self.workers.clear()
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


def run_up(workers: int, simulator: bool, out: TextIO = sys.stdout) -> int:
    """``statuswatch up``: Redis (a private one if none answers), worker(s) and beat, and the
    simulator if asked, until Ctrl-C or one of them exits (then 1); stops all on the way out.

    Raises:
        ValueError: no accounts file and no ``--simulator``.
    """
    settings = load_settings()
    if settings.accounts_file is None and not simulator:
        raise ValueError("statuswatch up needs STATUSWATCH_ACCOUNTS_FILE (the accounts TOML), or --simulator")
    workdir = UP_DIR.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as started:  # exits in reverse: stack, simulator, then Redis
        server = started.enter_context(redis_for(settings.redis_url))
        print(server.describe(), file=out, flush=True)
        env = server.env()
        sim = None
        if simulator:
            sim = started.enter_context(start_process(credentials=[SIM_TOKEN]))
            accounts = workdir / "simulator-accounts.toml"
            accounts.write_text(f'[accounts.sim]\nprovider = "wamm"\ntoken = "{SIM_TOKEN}"\nbase_url = "{sim.url}"\n')
            env["STATUSWATCH_ACCOUNTS_FILE"] = str(accounts)
        stack = LocalStack(workdir, env)
        started.callback(stack.stop)
        for i in range(workers):
            stack.start_worker(f"worker{i + 1}")
        stack.start_beat()
        try:
            stack.wait_ready()
        except RuntimeError as exc:
            print(f"statuswatch up: {exc}", file=out, flush=True)
            return 1
        _print_usage(stack, sim, out)
        return _until_one_exits(stack, server, sim, out)


def _print_usage(stack: LocalStack, sim: SimulatorProcess | None, out: TextIO) -> None:
    settings = stack.settings
    exports = {
        "STATUSWATCH_REDIS_URL": settings.redis_url,
        "STATUSWATCH_BROKER_URL": settings.broker_url,
        "STATUSWATCH_ACCOUNTS_FILE": str(settings.accounts_file),
    }
    if settings.namespace != "statuswatch":
        exports["STATUSWATCH_NAMESPACE"] = settings.namespace
    if settings.broker_key_prefix:
        exports["STATUSWATCH_BROKER_KEY_PREFIX"] = settings.broker_key_prefix
    lines = [f"statuswatch up: {len(stack.workers)} worker(s) and beat ready; logs in {stack.workdir}/"]
    track = "statuswatch track PROVIDER ACCOUNT MSG_ID --expires-in 600"
    status = "statuswatch status PROVIDER ACCOUNT MSG_ID"
    if sim is not None:
        life = [["sent", 1], ["delivered", 3], ["viewed", 8]]
        body = json.dumps({"messages": [{"provider": "wamm", "credential": SIM_TOKEN, "msg_id": "1001", "life": life}]})
        lines += [
            f"simulator: {sim.url} (WAMM account 'sim'); give it a message to report on:",
            f"  curl -s {sim.url}/_sim/messages -d {shlex.quote(body)}",
        ]
        track, status = "statuswatch track wamm sim 1001 --expires-in 600", "statuswatch status wamm sim 1001"
    lines += [
        "in another shell:",
        "  export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in exports.items()),
        f"  {track}",
        f"  {status}",
        "  statuswatch events --follow",
        "  statuswatch stats",
        "  statuswatch metrics        # Prometheus metrics on http://127.0.0.1:9808/metrics",
        "Ctrl-C stops everything statuswatch up started.",
    ]
    print("\n".join(lines), file=out, flush=True)


def _until_one_exits(stack: LocalStack, server: RedisInUse, sim: SimulatorProcess | None, out: TextIO) -> int:
    while True:
        ended = stack.exited()
        if sim is not None and (code := sim.process.poll()) is not None:
            ended["simulator"] = code
        if server.process is not None and (code := server.process.poll()) is not None:
            ended["redis-server"] = code
        if ended:
            break
        time.sleep(0.5)
    for name, code in ended.items():
        tail = f"; its log:\n{stack.log(name)[-2000:]}" if name in stack.procs else ""
        print(f"{name} exited with {code}{tail}", file=out, flush=True)
    return 1
