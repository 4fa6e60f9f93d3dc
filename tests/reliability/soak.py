"""Issue 11's acceptance run: thousands of trackers through repeated worker SIGKILLs (thread
and prefork pools) and one Redis SIGKILL + restart, then every tracker checked (not part of
the suite; about 2-4 minutes):

    python -m tests.reliability.soak [--trackers 5000] [--kills 6] [--redis-down 10]

A private Redis (broker and store, AOF everysec), the simulator in a process of its own, a
thread-pool worker and a prefork worker, beat. Every tracker is registered first; then a
worker (the whole process group, as an OOM killer would, or one prefork pool process) is
killed every few seconds and started again, and halfway through Redis is killed and
started again from its data. It prints one JSON object: trackers lost, with the wrong final
state, duplicate events, how late timed-out trackers ended after their deadline, and the
recovery time after each fault; exit 1 if anything was lost, wrong or duplicated.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from typing import Any

from tests.integration.conftest import WAMM_TOKEN
from tests.integration.harness import Deployment
from tests.reliability.faults import RedisServer
from tests.reliability.private import private_deployment
from worker.simulator import SimulatorClient

#: raw WAMM lives (seconds after the message is added), the (state, outcome) each must end
#: with, and its deadline, s
LIVES = {
    "read": ([["sent", 1.0], ["delivered", 5.0], ["viewed", 15.0]], ("read", "settled"), 600),
    "failed": ([["sent", 1.0], ["not sent", 8.0]], ("failed", "settled"), 600),
    "never": ([["sent", 1.0]], ("sent", "timed_out"), 120),
}
SETTINGS = {
    "STATUSWATCH_LEASE_S": "5",
    "STATUSWATCH_POLL_FIRST_S": "0.5",
    "STATUSWATCH_POLL_MAX_S": "10",
    "STATUSWATCH_BROKER_VISIBILITY_TIMEOUT_S": "10",
}
POOLS = {"threads": ("threads", 16), "prefork": ("prefork", 4)}
POLL_S = 0.2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--trackers", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=6, help="worker SIGKILLs (each worker started again)")
    parser.add_argument("--every", type=float, default=4.0, help="seconds between kills")
    parser.add_argument("--redis-down", type=float, default=10.0, help="seconds Redis stays down after its SIGKILL")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    with private_deployment("soak", SETTINGS, 0.05) as (deployment, sim, server):
        result = run(deployment, sim, server, args)
    print(json.dumps(result, indent=1))
    bad = result["lost"] or result["wrong"] or result["duplicate_events"] or result["unfinished"]
    return 1 if bad or not result["alive"] else 0


def run(deployment: Deployment, sim: SimulatorClient, server: RedisServer, args: argparse.Namespace) -> dict[str, Any]:
    kinds = list(LIVES)
    plan = {str(7_000_000 + i): kinds[i % len(kinds)] for i in range(args.trackers)}
    sim.add_messages(
        [{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": LIVES[k][0]} for m, k in plan.items()]
    )
    procs = {name: start(deployment, name) for name in POOLS}
    deployment.start_beat()
    deployment.wait_ready(list(POOLS), timeout_s=60)
    began = time.monotonic()
    items = [{"provider": "wamm", "account": "shop", "msg_id": m, "expires_in": LIVES[k][2]} for m, k in plan.items()]
    for i in range(0, len(items), 1000):  # registering is not what is tested: the bulk path
        deployment.producer.send_task("statuswatch.track_many", kwargs={"items": items[i : i + 1000]})
    _wait(lambda: deployment.tracked() == args.trackers, args.timeout, deployment)
    registered_s = time.monotonic() - began

    rng, faults = random.Random(args.seed), []
    for i in range(args.kills):
        time.sleep(args.every)
        if i == args.kills // 2:
            faults.append(redis_fault(deployment, sim, server, args.redis_down))
        faults.append(worker_fault(deployment, sim, procs, rng, i))
    finished = _wait(deployment.all_finished, args.timeout, deployment)
    last = faults[-1]["at"]
    for fault in faults:
        fault["at"] = round(fault["at"] - began, 1)  # seconds since the first track request
    return {
        "trackers": args.trackers,
        "registered_s": round(registered_s, 1),
        **verdicts(deployment, plan),
        "faults": faults,
        "finished_after_last_fault_s": None if finished is None else round(finished - last, 1),
        "alive": not deployment.exited(),
    }


def start(deployment: Deployment, name: str) -> Any:
    pool, concurrency = POOLS[name]
    return deployment.start_worker(name, concurrency=concurrency, pool=pool)


def worker_fault(
    deployment: Deployment, sim: SimulatorClient, procs: dict[str, Any], rng: random.Random, i: int
) -> dict[str, Any]:
    """Kill a worker's process group (or, every other time for prefork, one pool process) and
    start it again; recovery: the restarted worker ready."""
    name = rng.choice(list(POOLS))
    at = time.monotonic()
    children = _children(procs[name].pid)
    if name == "prefork" and children and i % 2:
        os.kill(rng.choice(children), signal.SIGKILL)  # its parent starts another
        return {"fault": "prefork pool process", "at": at, "recovered_s": _checks_resume(sim, deployment, at)}
    os.killpg(procs[name].pid, signal.SIGKILL)
    deployment.procs.pop(name).wait(timeout=10)
    procs[name] = start(deployment, name)
    offset = deployment.workers[name]  # where this run's lines begin in the appended log
    ready = _wait(lambda: b" ready." in deployment.log(name).encode()[offset:], 60, deployment)
    return {"fault": f"{name} worker", "at": at, "recovered_s": None if ready is None else round(ready - at, 1)}


def redis_fault(deployment: Deployment, sim: SimulatorClient, server: RedisServer, down_s: float) -> dict[str, Any]:
    """SIGKILL Redis, start it again after ``down_s``; recovery: gateway checks flowing again."""
    server.kill()
    time.sleep(down_s)
    server.start()
    at = time.monotonic()
    return {"fault": f"redis SIGKILL, {down_s:g} s down", "at": at, "recovered_s": _checks_resume(sim, deployment, at)}


def verdicts(deployment: Deployment, plan: dict[str, str]) -> dict[str, Any]:
    trackers = deployment.trackers("wamm", "shop", list(plan))
    events = deployment.events_by_tracker()
    lost = [m for m, t in trackers.items() if t is None]
    wrong = {m: (t.state.value, t.outcome.value) for m, t in trackers.items()
             if t is not None and (t.state.value, t.outcome.value) != LIVES[plan[m]][1]}  # fmt: skip
    duplicates = sum(
        n - 1
        for entries in events.values()
        for n in Counter((e["previous"], e["state"], e["outcome"]) for e in entries).values()
        if n > 1
    )
    late_ms = [
        int(t.fields["finished_at"]) - t.expires_at_ms
        for t in trackers.values()
        if t is not None and t.outcome.value == "timed_out"
    ]
    return {
        "lost": len(lost),
        "wrong": len(wrong),
        "wrong_examples": list(wrong.items())[:5],
        "duplicate_events": duplicates,
        "unfinished": sum(1 for t in trackers.values() if t is not None and t.outcome.value == "active"),
        "timed_out": len(late_ms),
        "timed_out_late_ms_max": max(late_ms, default=0),
        "timed_out_late_ms_p99": sorted(late_ms)[int(len(late_ms) * 0.99)] if late_ms else 0,
    }


def _checks_resume(sim: SimulatorClient, deployment: Deployment, since: float) -> float | None:
    """Seconds from ``since`` until the gateway has seen 20 more requests."""
    total = sim.stats()["total"]
    done = _wait(lambda: sim.stats()["total"] >= total + 20, 120, deployment)
    return None if done is None else round(done - since, 1)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            return [int(p) for p in file.read().split()]
    except OSError:
        return []


def _wait(condition: Any, timeout_s: float, deployment: Deployment) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(POLL_S)
    return None


if __name__ == "__main__":
    sys.exit(main())
