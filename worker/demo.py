"""``statuswatch demo``: the whole thing on this machine, watched live.

Starts the gateway simulator, a Celery worker and beat (and a private Redis when none
answers at STATUSWATCH_REDIS_URL, ``worker.embedded``), tracks a few thousand WAMM
messages with realistic lives through the public task, shows progress, and ends with a
summary. Everything it starts is stopped on exit or Ctrl-C, and its keys are deleted.
"""

from __future__ import annotations

import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TextIO

from config import load_settings
from worker.embedded import redis_for
from worker.keys import tracker_id
from worker.local import LocalStack, write_accounts
from worker.simulator import start_process

#: (weight, raw WAMM life as [state, seconds after sending] steps) — a realistic mix
LIVES: list[tuple[float, list[tuple[str, float]]]] = [
    (0.62, [("sent", 1), ("delivered", 3), ("viewed", 8)]),
    (0.12, [("sent", 1), ("delivered", 4)]),  # delivered, never read
    (0.08, [("sent", 2)]),  # stuck at sent: recipient offline
    (0.08, [("noAccount", 2)]),
    (0.05, [("not sent", 3)]),
    (0.05, [("sent", 1), ("delivered", 2), ("deleted", 6)]),
]


def random_life(rng: random.Random, spread_s: float) -> list[list[object]]:
    _, life = rng.choices(LIVES, weights=[w for w, _ in LIVES])[0]
    start = rng.uniform(0, spread_s)
    return [[raw, round(start + at * rng.uniform(0.5, 1.5), 3)] for raw, at in life]


#: the demo deployment's settings: fast polling, short leases, a short retention
SETTINGS = {
    "STATUSWATCH_POLL_FIRST_S": "1",
    "STATUSWATCH_POLL_FACTOR": "1.5",
    "STATUSWATCH_POLL_MAX_S": "5",
    "STATUSWATCH_LEASE_S": "15",
    "STATUSWATCH_DISPATCH_EVERY_S": "0.5",
    "STATUSWATCH_RETENTION_S": "600",
}


def run_demo(messages: int, deadline_s: float, workers: int, out: TextIO = sys.stdout) -> int:
    """Run the demo; returns 0 when every tracker ended as its life says it should."""
    rng = random.Random(7)
    token = "demo-" + secrets.token_hex(8)
    namespace = f"statuswatch-demo-{secrets.token_hex(4)}"
    with (
        redis_for(load_settings().redis_url) as server,
        tempfile.TemporaryDirectory(prefix="statuswatch-demo-") as tmp,
        start_process() as simulator,
    ):
        print(server.describe(), file=out, flush=True)
        demo_account = {"provider": "wamm", "token": token, "base_url": simulator.url, "rate_limit": "400/s"}
        accounts = write_accounts(Path(tmp) / "accounts.toml", {"demo": demo_account})
        env = {
            **server.env(),
            **SETTINGS,
            "STATUSWATCH_NAMESPACE": namespace,
            "STATUSWATCH_BROKER_KEY_PREFIX": f"{namespace}-broker:",
            "STATUSWATCH_ACCOUNTS_FILE": str(accounts),
        }
        stack = LocalStack(Path(tmp), env)
        try:
            stack.redis.ping()
            ids = [str(10_000_000 + i) for i in range(messages)]
            spread = min(20.0, messages / 200)
            simulator.client.add_messages(
                {"provider": "wamm", "credential": token, "msg_id": m, "life": random_life(rng, spread)} for m in ids
            )
            _start(stack, workers)
            print(f"statuswatch demo: {messages} messages, {workers} worker(s), simulator at {simulator.url}", file=out)
            for m in ids:
                stack.track(provider="wamm", account="demo", msg_id=m, expires_in=deadline_s)
            return _watch(stack, simulator.client, ids, deadline_s + 30, out)
        finally:
            stack.stop()
            stack.delete_namespace()


def _start(stack: LocalStack, workers: int) -> None:
    for i in range(workers):
        stack.start_worker(f"worker{i + 1}", concurrency=16)
    stack.start_beat()


def _watch(stack: LocalStack, simulator: object, ids: list[str], limit_s: float, out: TextIO) -> int:
    started = time.monotonic()
    interactive = out.isatty()
    last_print = 0.0
    tids = [tracker_id("wamm", "demo", m) for m in ids]
    last_total, last_t = 0, started
    while True:
        time.sleep(0.5)
        counts = Counter((t.outcome.value, t.state.value) if t else ("queued", "") for t in stack.store.get_many(tids))
        total = int(simulator.stats()["total"])  # type: ignore[attr-defined]
        now = time.monotonic()
        rate, last_total, last_t = (total - last_total) / (now - last_t), total, now
        finished = sum(n for (outcome, _), n in counts.items() if outcome not in ("active", "queued"))
        done = finished == len(ids)
        if interactive or done or now - last_print >= 5:
            _progress(counts, finished, len(ids), rate, now - started, out, interactive)
            last_print = now
        if finished == len(ids) or now - started > limit_s or stack.exited():
            break
    if interactive:
        print(file=out)
    _summary(counts, now - started, total, out)
    for name, code in stack.exited().items():
        print(f"{name} exited with {code}; its log:\n{stack.log(name)[-2000:]}", file=out)
    return 0 if finished == len(ids) else 1


def _progress(
    counts: Counter[tuple[str, str]], finished: int, n: int, rate: float, elapsed: float, out: TextIO, same_line: bool
) -> None:
    tracked = n - counts[("queued", "")]
    settled = sum(v for (o, s), v in counts.items() if o == "settled" and s in ("read", "delivered", "sent"))
    failed = sum(v for (o, s), v in counts.items() if o == "settled" and s in ("failed", "deleted"))
    timed_out = sum(v for (o, _), v in counts.items() if o == "timed_out")
    figures = (
        f"{finished}/{n}  tracked {tracked}  settled {settled}  failed {failed}  timed out {timed_out}"
        f"  checks/s {rate:6.0f}  {elapsed:5.1f}s"
    )
    # a redrawn line must fit the terminal (a wrapped one is redrawn as a new line): the bar gives way
    room = shutil.get_terminal_size().columns - 1 if same_line else 200
    width = min(30, room - len(figures) - 3)
    bar = (
        "[" + "#" * int(width * finished / n) + "-" * (width - int(width * finished / n)) + "] " if width >= 10 else ""
    )
    line = ("\r" if same_line else "") + (bar + figures)[:room]
    print(line, end="" if same_line else "\n", file=out, flush=True)


def _summary(counts: Counter[tuple[str, str]], elapsed: float, checks: int, out: TextIO) -> None:
    print(f"\n{'outcome':<10} {'state':<10} {'trackers':>8}", file=out)
    for (outcome, state), n in sorted(counts.items()):
        print(f"{outcome:<10} {state:<10} {n:>8}", file=out)
    print(f"\n{checks} gateway requests in {elapsed:.1f} s", file=out)
