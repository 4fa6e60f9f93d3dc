"""Webhook deliveries per second in one process, and the CPU one costs next to a check's.

    .venv/bin/python -m bench.bench_notify [--n 3000] [--threads 16] [--runs 3]

One process with the worker's thread count, no broker on either side (the ``deliver`` and
``check`` tasks' own work: their Redis scripts and HTTP exchange):

- notify: N trackers with one undelivered event each, delivered by ``Notifier.deliver`` to
  a fast loopback receiver (``worker.receiver``, in a child process: its CPU is not ours);
- check (the baseline, in the same run): N trackers checked once by ``Engine.check``
  against the gateway simulator (child process, zero latency).

Runs alternate (notify first, then check first). Redis keys live under ``swbench-<random>``
and are deleted at the end.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from config import load_settings
from worker.keys import delete_prefix
from worker.local import write_accounts
from worker.providers import CEILINGS
from worker.runtime import Engine
from worker.simulator import SimulatorClient, start_process
from worker.tracking import parse_track_request

TOKEN = "bench-token-5a1f"
RECEIVER = (
    "import sys, time\nfrom worker.receiver import Receiver\n"
    "with Receiver(record=False) as r:\n    print(r.url, flush=True)\n    sys.stdin.read()\n"
)


def engine_for(namespace: str, workdir: Path, simulator_url: str) -> Engine:
    accounts = write_accounts(workdir / "accounts.toml", {
        "shop": {"provider": "wamm", "token": TOKEN, "base_url": simulator_url, "rate_limit": "1000000/s"},
    })  # fmt: skip
    env = {
        "STATUSWATCH_NAMESPACE": namespace, "STATUSWATCH_ACCOUNTS_FILE": str(accounts),
        "STATUSWATCH_CALLBACK_SECRET": "bench-secret", "STATUSWATCH_CALLBACK_ALLOW_NETWORKS": "127.0.0.0/8",
        "STATUSWATCH_NOTIFY_URL_CONCURRENCY": "1000", "STATUSWATCH_NOTIFY_URL_RATE": "1000000/s",
    }  # fmt: skip
    return Engine.from_settings(load_settings(env))


def timed(work: Callable[[str], object], ids: Sequence[str], threads: int) -> tuple[float, float]:
    """(per second, CPU ms per item) of ``work`` over ``ids`` on ``threads`` threads."""
    cpu, wall = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, ids))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(ids) / wall, cpu / len(ids) * 1000


def run_notify(engine: Engine, url: str, n: int, threads: int, tag: str) -> tuple[float, float]:
    ids = []
    for i in range(n):
        msg_id = f"{tag}{i}"
        tid = f"wamm:shop:{msg_id}"
        request = parse_track_request({"provider": "wamm", "account": "shop", "msg_id": msg_id, "callback_url": url},
                                      None, 3600)  # fmt: skip
        engine.store.register(tid, request, CEILINGS["wamm"], 60)
        engine.store.untrack(tid)  # one event: cancelled
        ids.append(tid)
    result = timed(lambda tid: engine.notifier.deliver(tid, None), ids, threads)
    assert engine.store.redis.zcard(engine.store.keys.notify.due) == 0, "not every event was delivered"
    return result


def run_check(engine: Engine, sim: SimulatorClient, n: int, threads: int, tag: str) -> tuple[float, float]:
    ids = [f"wamm:shop:{tag}{i}" for i in range(n)]
    sim.add_messages([{"provider": "wamm", "credential": TOKEN, "msg_id": t.split(":")[2],
                       "life": [["sent", 0.0]]} for t in ids])  # fmt: skip
    for tid in ids:
        msg_id = tid.split(":")[2]
        request = parse_track_request({"provider": "wamm", "account": "shop", "msg_id": msg_id}, None, 3600)
        engine.store.register(tid, request, CEILINGS["wamm"], 60)
    return timed(lambda tid: engine.check(tid, resend=lambda call: None), ids, threads)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    namespace = f"swbench-{secrets.token_hex(4)}"
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)  # fmt: skip
    assert receiver.stdout is not None
    url = receiver.stdout.readline().strip()
    notify: list[tuple[float, float]] = []
    check: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp, start_process(latency_s=0.0) as running:
        engine = engine_for(namespace, Path(tmp), running.url)
        sim = SimulatorClient(running.url)
        try:
            for run in range(args.runs):
                order = ("notify", "check") if run % 2 == 0 else ("check", "notify")
                for kind in order:
                    if kind == "notify":
                        notify.append(run_notify(engine, url, args.n, args.threads, f"{run}0"))
                    else:
                        check.append(run_check(engine, sim, args.n, args.threads, f"{run}1"))
        finally:
            delete_prefix(engine.store.redis, f"{namespace}:")
            receiver.communicate("", timeout=10)
    print(f"{args.n} items per run, {args.threads} threads, {args.runs} runs (median; each run)")
    for name, rows in (("webhook delivery", notify), ("check (baseline)", check)):
        rates, cpus = [r for r, _ in rows], [c for _, c in rows]
        print(f"{name:<18} {statistics.median(rates):8.0f}/s  CPU {statistics.median(cpus):.3f} ms each   "
              f"({', '.join(f'{r:.0f}' for r in rates)} /s; {', '.join(f'{c:.3f}' for c in cpus)} ms)")
    ratio = statistics.median([c for _, c in notify]) / statistics.median([c for _, c in check])
    print(f"a delivery costs {ratio:.2f} x a check's CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
