"""``statuswatch up``: Redis (a private one if none answers), the workers and beat, and with
``--simulator`` the gateway simulator and an accounts file for it, until Ctrl-C; every
process through ``worker.local.LocalStack``."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import TextIO

from config import load_settings
from worker.embedded import RedisInUse, redis_for
from worker.local import LocalStack, write_accounts
from worker.simulator import SimulatorProcess, start_process

#: where ``statuswatch up`` keeps its logs, beat schedule and simulator accounts file
UP_DIR = Path(".statuswatch/up")
#: the WAMM token of ``statuswatch up --simulator``'s account (the simulator is local)
SIM_TOKEN = "local-simulator-token"


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
            sim_account = {"provider": "wamm", "token": SIM_TOKEN, "base_url": sim.url}
            accounts = write_accounts(workdir / "simulator-accounts.toml", {"sim": sim_account})
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
