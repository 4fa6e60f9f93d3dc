"""Per-token limits under load: statuswatch next to the idiomatic Celery baseline, same run.

    python -m bench.bench_limits [--messages 5000] [--workers 2 4] [--quick] [--cpu-load N]

The same load goes through both: MESSAGES WAMM messages over TOKENS tokens, each token limited
to RATE requests/s (the simulator answers 429 above it and measures every sliding one-second
window), 50 ms gateway latency, every message read within SETTLE_S of being tracked. For each
system and worker count it prints: the largest per-token one-second window / the limit, time
until every message settled against the floor (messages / total allowed rate), utilisation of
the allowed rate while a backlog exists, 429s, gateway requests per settled message and worker
CPU per gateway request against a Celery no-op task's (measured in the same run).

``--cpu-load N``: N processes spin at the workers' priority while each system runs (a busy
machine). The simulator always runs at a higher priority (nice -10), as a gateway on a
machine of its own would: what it counts is when requests arrive, not when a busy machine
let it look.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.load import cpu_hogs
from bench.noop_app import NOOP_TASK
from bench.procs import NOOP_APP, STATUSWATCH_APP, BenchStack, cpu_s
from bench.report import note, show, verdict
from bench.throughput import run_noop, wamm_accounts, wamm_token
from config.celery import CHECK_QUEUE, TRACK_QUEUE
from worker.simulator import start_process

TOKENS, RATE, LATENCY_S, SETTLE_S = 10, 20, 0.05, 20.0
POLL = {"first_s": 5.0, "max_s": 60.0}
RUN_LIMIT_S = 300.0


@dataclass(frozen=True)
class Result:
    system: str
    workers: int
    settled: int
    seconds: float
    worst_window: float
    utilisation: float
    throttled: int
    requests: int
    cpu_s: float
    #: statuswatch's fleet counters (checks, deferrals, re-sent checks); empty for the baseline
    counters: dict[str, int]
    #: requests the gateway admitted in each second of the run
    per_second: list[int]


def lives(messages: int, seed: int = 11) -> dict[tuple[str, str], list[list[object]]]:
    rng = random.Random(seed)
    plan = {}
    for i in range(messages):
        read_s = rng.uniform(1.0, SETTLE_S)
        plan[(f"acct{i % TOKENS:02d}", str(4_000_000 + i))] = [
            ["sent", 0.2 * read_s],
            ["delivered", 0.5 * read_s],
            ["viewed", read_s],
        ]
    return plan


def admitted(sim) -> int:
    stats = sim.client.stats()
    return int(stats["total"]) - int(stats["responses"].get("429", 0))


@dataclass(frozen=True)
class Watched:
    seconds: float
    utilisation: float
    #: requests the gateway admitted in each whole second of the run
    per_second: list[int]


def watch(sim, deployment: BenchStack, done, messages: int, floor_s: float) -> Watched:
    """Wait until ``done()`` reaches ``messages``; the time, the utilisation and the admitted
    requests per second.

    Every message comes due at POLL first_s, and checking each once takes the floor at the
    full allowed rate: from first_s + 1 s for half the floor there is surely a backlog, and
    the admitted requests in that window over the allowed ones are the utilisation.
    """
    window = (POLL["first_s"] + 1.0, POLL["first_s"] + 1.0 + floor_s / 2)
    marks: list[int] = []
    seconds = [admitted(sim)]
    started = time.monotonic()
    while time.monotonic() - started < RUN_LIMIT_S:
        elapsed = time.monotonic() - started
        if len(marks) < 2 and elapsed >= window[len(marks)]:
            marks.append(admitted(sim))
        if elapsed >= len(seconds):
            seconds.append(admitted(sim))
        if done() >= messages:
            break
        deployment.check_alive()
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    utilisation = (marks[1] - marks[0]) / (TOKENS * RATE * (window[1] - window[0])) if len(marks) == 2 else float("nan")
    return Watched(elapsed, utilisation, [b - a for a, b in itertools.pairwise(seconds)])


def summarise(
    system: str, workers: int, sim, watched: Watched, settled: int, cpu: float, counters: dict[str, int]
) -> Result:
    stats = sim.client.stats()
    windows = [peaks.get("*", 0) for token, peaks in stats["max_per_second"].items() if token.startswith("swbench-")]
    return Result(
        system, workers, settled, watched.seconds, max(windows) / RATE, watched.utilisation,
        stats["responses"].get("429", 0), stats["total"], cpu, counters, watched.per_second,
    )  # fmt: skip


def start_fleet(deployment: BenchStack, workers: int, app: str = STATUSWATCH_APP, beat: bool = True) -> list[int]:
    """Start ``workers`` worker processes (and beat) and wait until each answers a ping."""
    pids = [deployment.start_worker(f"w{i}", app=app).pid for i in range(workers)]
    if beat:
        deployment.start_beat()
    deployment.wait_workers(workers)
    return pids


def fleet_cpu_s(pids: list[int]) -> float:
    return sum(cpu_s(p) for p in pids)


def send_tracks(deployment: BenchStack, plan: dict) -> None:
    deployment.send_many("statuswatch.track", (((), {"provider": "wamm", "account": a, "msg_id": m}) for a, m in plan))


def run_statuswatch(workdir: Path, workers: int, plan: dict, sim) -> Result:
    namespace = f"swbench-{uuid.uuid4().hex[:6]}-sw{workers}"
    aliases = sorted({alias for alias, _ in plan})
    deployment = BenchStack(
        workdir, namespace, wamm_accounts(sim.url, aliases, f"{RATE}/s"),
        STATUSWATCH_POLL_FIRST_S=str(POLL["first_s"]), STATUSWATCH_POLL_MAX_S=str(POLL["max_s"]),
        STATUSWATCH_POLL_JITTER="0", STATUSWATCH_DEFAULT_EXPIRES_S="120",
    )  # fmt: skip
    try:
        pids = start_fleet(deployment, workers)
        cpu0 = fleet_cpu_s(pids)
        send_tracks(deployment, plan)
        floor_s = len(plan) / (TOKENS * RATE)

        def done() -> int:
            return sum(n for name, n in deployment.fleet.stats().items() if name.startswith("finished:"))

        watched = watch(sim, deployment, done, len(plan), floor_s)
        cpu = fleet_cpu_s(pids) - cpu0
        trackers = deployment.store.get_many(f"wamm:{a}:{m}" for a, m in plan)
        settled = sum(1 for t in trackers if t and t.outcome.value == "settled" and t.state.value == "read")
        counters = deployment.fleet.stats()
        return summarise("statuswatch", workers, sim, watched, settled, cpu, counters)
    finally:
        deployment.stop()


def run_baseline(workdir: Path, workers: int, plan: dict, sim) -> Result:
    namespace = f"swbench-{uuid.uuid4().hex[:6]}-base{workers}"
    done_key = f"{namespace}:done"
    deployment = BenchStack(
        workdir, namespace, None, BASELINE_RATE_LIMIT=f"{TOKENS * RATE // workers}/s", BASELINE_DONE_KEY=done_key
    )
    try:
        pids = start_fleet(deployment, workers, "bench.baseline_app", beat=False)
        cpu0 = fleet_cpu_s(pids)
        deadline = time.time() + 120
        calls = (((sim.url, wamm_token(a), m, deadline, POLL["first_s"], POLL["max_s"]), {}) for a, m in plan)
        deployment.send_many("baseline.check", calls, countdown=POLL["first_s"])
        floor_s = len(plan) / (TOKENS * RATE)
        watched = watch(sim, deployment, lambda: deployment.redis.hlen(done_key), len(plan), floor_s)
        cpu = fleet_cpu_s(pids) - cpu0
        settled = sum(1 for state in deployment.redis.hvals(done_key) if state == "viewed")
        return summarise("Celery baseline", workers, sim, watched, settled, cpu, {})
    finally:
        deployment.stop()


def run_tracking(workdir: Path, workers: int, plan: dict) -> float:
    """CPU ms per ``statuswatch.track`` on ``workers`` processes: the same track requests as
    the run, registered with their first check an hour away, so nothing but tracking runs."""
    namespace = f"swbench-{uuid.uuid4().hex[:6]}-track{workers}"
    aliases = sorted({alias for alias, _ in plan})
    deployment = BenchStack(
        workdir, namespace, wamm_accounts("http://127.0.0.1:9", aliases, f"{RATE}/s"),
        STATUSWATCH_POLL_FIRST_S="3600", STATUSWATCH_POLL_MAX_S="3600", STATUSWATCH_DEFAULT_EXPIRES_S="7200",
    )  # fmt: skip
    try:
        pids = start_fleet(deployment, workers)
        cpu0 = fleet_cpu_s(pids)
        send_tracks(deployment, plan)
        deadline = time.monotonic() + RUN_LIMIT_S
        while deployment.active() < len(plan) or deployment.queue_length(TRACK_QUEUE):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{deployment.active()} of {len(plan)} registered")
            deployment.check_alive()
            time.sleep(0.05)
        return (fleet_cpu_s(pids) - cpu0) / len(plan) * 1000
    finally:
        deployment.stop()


def run_paced_noop(workdir: Path, workers: int, total: int, rate_per_s: float) -> float:
    """CPU ms per Celery no-op task on ``workers`` worker processes, the tasks arriving at
    ``rate_per_s`` as checks do (a flood drained by one worker costs less per task)."""
    deployment = BenchStack(workdir, f"swbench-{uuid.uuid4().hex[:6]}-noop{workers}")
    try:
        pids = start_fleet(deployment, workers, NOOP_APP, beat=False)
        cpu0 = fleet_cpu_s(pids)
        started = time.monotonic()
        with deployment.producer.producer_or_acquire() as producer:
            for i in range(total):
                time.sleep(max(0.0, started + i / rate_per_s - time.monotonic()))
                deployment.producer.send_task(NOOP_TASK, args=(f"noop:{i}",), producer=producer, expires=60)
        unacked = f"{deployment.settings.broker_key_prefix}unacked"
        deadline = time.monotonic() + 60
        while deployment.queue_length(CHECK_QUEUE) or deployment.redis.hlen(unacked):
            if time.monotonic() > deadline:
                raise TimeoutError("paced no-op tasks not drained within 60 s")
            deployment.check_alive()
            time.sleep(0.05)
        return (fleet_cpu_s(pids) - cpu0) / total * 1000
    finally:
        deployment.stop()


def one(system: str, workdir: Path, workers: int, messages: int, cpu_load: int = 0) -> Result:
    plan = lives(messages)
    with start_process(latency_s=LATENCY_S, rate_limits={"wamm": RATE}, retry_after=False, nice=-10) as sim:
        sim.client.add_messages(
            {"provider": "wamm", "credential": wamm_token(a), "msg_id": m, "life": life}
            for (a, m), life in plan.items()
        )
        runner = run_statuswatch if system == "statuswatch" else run_baseline
        with cpu_hogs(cpu_load, RUN_LIMIT_S + 60):
            return runner(workdir, workers, plan, sim)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--quick", action="store_true", help="1,000 messages, 2 workers")
    parser.add_argument("--cpu-load", type=int, default=0, help="processes spinning alongside each run")
    parser.add_argument("--only", choices=["statuswatch", "baseline"], help="run one system, not both")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.workers = 1000, [2]
    workdir = Path(tempfile.mkdtemp(prefix="swbench-limits-"))
    print(f"bench_limits {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC: {args.messages} messages, "
          f"{TOKENS} tokens x {RATE}/s, {LATENCY_S * 1000:.0f} ms latency, read within {SETTLE_S:.0f} s, "
          f"{args.cpu_load} CPU hogs")  # fmt: skip
    noop = run_noop(workdir, f"swbench-{uuid.uuid4().hex[:6]}-noop", 5000)
    flood_ms = noop.whole.cpu_ms_per_task
    results, paced_ms, track_ms = [], {}, {}
    for workers in args.workers:
        paced_ms[workers] = run_paced_noop(workdir, workers, min(args.messages, 5000), TOKENS * RATE)
        print(f"  done: paced no-op, {workers} workers ({paced_ms[workers]:.2f} ms per task)", flush=True)
        track_ms[workers] = run_tracking(workdir, workers, lives(args.messages))
        print(f"  done: tracking alone, {workers} workers ({track_ms[workers]:.2f} ms per track)", flush=True)
        systems = {"statuswatch": ["statuswatch"], "baseline": ["Celery baseline"]}
        for system in systems.get(args.only, ["Celery baseline", "statuswatch"]):
            results.append(one(system, workdir, workers, args.messages, args.cpu_load))
            print(f"  done: {system}, {workers} workers", flush=True)
    floor_s = args.messages / (TOKENS * RATE)
    rows = []
    for r in results:
        per_request = r.cpu_s / max(r.requests, 1) * 1000
        rows.append([
            r.system, r.workers, f"{r.settled}/{args.messages}", f"{r.seconds:.1f}", f"{r.seconds / floor_s:.2f}",
            f"{r.worst_window:.2f}", f"{r.utilisation:.0%}", r.throttled, f"{r.requests / max(r.settled, 1):.2f}",
            f"{per_request:.2f}", f"{per_request / paced_ms[r.workers]:.2f}", f"{per_request / flood_ms:.2f}",
        ])  # fmt: skip
    show(
        f"Per-token limits, {args.messages} messages (floor {floor_s:.0f} s = messages / total allowed rate)",
        ["system", "workers", "settled", "seconds", "x floor", "worst window / limit", "utilisation", "429s",
         "requests per settled", "CPU ms per request", "x paced no-op", "x flood no-op"],
        rows,
    )  # fmt: skip
    note(
        f"no-op task, same Celery settings, same run: {flood_ms:.2f} ms worker CPU per task drained from a full "
        "queue by one worker; paced (as many worker processes as the row, tasks arriving at the allowed rate "
        f"{TOKENS * RATE}/s): " + ", ".join(f"{w} workers {ms:.2f} ms" for w, ms in paced_ms.items())
    )
    note(
        "statuswatch.track alone (the same requests, no check due): "
        + ", ".join(f"{w} workers {ms:.2f} ms per track" for w, ms in track_ms.items())
        + "; 'tracking taken out' subtracts messages x that from the run's CPU"
    )
    for r in results:
        note(f"{r.system}, {r.workers} workers, admitted requests per second: {' '.join(map(str, r.per_second))}")
    for r in results:
        if r.counters:
            checks = max(r.counters.get("checks", 0), 1)
            deferred = sum(n for k, n in r.counters.items() if k.startswith("deferrals:"))
            note(
                f"statuswatch, {r.workers} workers: {checks} checks, {deferred / checks:.3f} deferrals per check, "
                f"{r.counters.get('requeues:rate', 0) / checks:.3f} re-sent per check; counters {r.counters}"
            )
    sw = {r.workers: r for r in results if r.system == "statuswatch"}
    base = {r.workers: r for r in results if r.system != "statuswatch"}
    targets = []
    for w, s in sw.items():
        per_check = (s.cpu_s * 1000 - args.messages * track_ms[w]) / max(s.requests, 1) / paced_ms[w]
        targets += [
            [f"worst window / limit ({w} workers)", f"{s.worst_window:.2f}", "<= 1.00", verdict(s.worst_window <= 1.0)],
            [f"429s ({w})", s.throttled, "0", verdict(s.throttled == 0)],
            [f"utilisation ({w} workers)", f"{s.utilisation:.0%}", ">= 95%", verdict(s.utilisation >= 0.95)],
            [f"time / floor ({w})", f"{s.seconds / floor_s:.2f}", "<= 1.05", verdict(s.seconds <= 1.05 * floor_s)],
            [f"CPU per check, tracking taken out, / paced no-op ({w})", f"{per_check:.2f}", "<= 1.0",
             verdict(per_check <= 1.0)],
        ]  # fmt: skip
        if (b := base.get(w)) is not None:
            per_settled = s.requests / max(s.settled, 1), b.requests / max(b.settled, 1)
            targets.append([f"requests per settled, vs baseline ({w} workers)",
                            f"{per_settled[0]:.2f} vs {per_settled[1]:.2f}", "<= baseline",
                            verdict(per_settled[0] <= per_settled[1])])  # fmt: skip
    show("Targets", ["figure", "measured", "target", "result"], targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
