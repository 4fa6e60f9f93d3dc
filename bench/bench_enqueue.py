"""Producer intake: track requests per second from one producer process, bulk next to single, same run.

    python -m bench.bench_enqueue [--bulk 50000] [--single 5000] [--rounds 2] [--register 20000]

1. Enqueue: one producer process (this one) sends track requests into the real Redis broker
   through ``statuswatch_client.Client``: ``track`` once per message, ``track_many`` 1,000 a
   message, and, as the floor of what any producer pays, a bare ``send_task`` per message
   with no validation. The order alternates between rounds; each round uses a fresh prefix.
2. Register: the same requests taken in by one statuswatch worker (16 threads): trackers
   registered per second and worker CPU per tracker, bulk and single.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from statuswatch_client import TRACK_QUEUE, Client

from bench.procs import REDIS_URL, BenchStack, cpu_s, redis_client, wait_until
from bench.report import note, show, verdict
from worker.keys import delete_prefix

GOAL_PER_S = 10_000


def requests(n: int, start: int) -> list[dict[str, object]]:
    return [{"provider": "wamm", "account": "shop", "msg_id": start + i, "expires_in": 3600} for i in range(n)]


def enqueue_round(n_bulk: int, n_single: int, order: Sequence[str]) -> dict[str, float]:
    """Messages per second by path, each into a broker key prefix of its own."""
    rates = {}
    for path in order:
        prefix = f"swbench-{uuid.uuid4().hex[:8]}-broker:"
        client = Client(broker_url=REDIS_URL, transport_options={"global_keyprefix": prefix})
        n = n_bulk if path == "track_many" else n_single
        items = requests(n, 1)
        send = _sender(client, path, items)
        client.track("wamm", "shop", 0)  # connect first: the connection is not what is measured
        began = time.perf_counter()
        send()
        rates[path] = n / (time.perf_counter() - began)
        client.app.close()
        delete_prefix(redis_client(), prefix)
    return rates


def _sender(client: Client, path: str, items: list[dict[str, object]]) -> Callable[[], object]:
    def bulk() -> object:
        return client.track_many(items)

    def single() -> object:
        return [client.track(**item) for item in items]  # type: ignore[arg-type]

    def bare() -> object:  # what a producer pays with no validation at all
        return [client.app.send_task("statuswatch.track", kwargs=item, queue=TRACK_QUEUE) for item in items]

    return {"track_many": bulk, "track": single, "send_task": bare}[path]


def register(workdir: Path, n_bulk: int, n_single: int) -> list[list[object]]:
    """One worker takes in n_bulk trackers sent as track_many, then n_single sent as track."""
    deployment = BenchStack(
        workdir, f"swbench-{uuid.uuid4().hex[:8]}", {"shop": {"provider": "wamm", "token": "bench-token"}},
        STATUSWATCH_POLL_FIRST_S="3600", STATUSWATCH_POLL_MAX_S="3600",  # no checks: intake alone
    )  # fmt: skip
    rows = []
    try:
        worker = deployment.start_worker()
        deployment.wait_workers(1)
        client = Client(deployment.producer)
        total = 0
        for path, n in (("track_many", n_bulk), ("track", n_single)):
            items = requests(n, 1_000_000 + total)
            cpu0, began = cpu_s(worker.pid), time.perf_counter()
            if path == "track_many":
                client.track_many(items)
            else:
                for item in items:
                    client.track(**item)  # type: ignore[arg-type]
            total += n
            wait_until(lambda t=total: deployment.active() >= t, 600, f"{total} trackers", deployment.check_alive)
            seconds, cpu = time.perf_counter() - began, cpu_s(worker.pid) - cpu0
            rows.append([path, n, round(seconds, 2), n / seconds, cpu / n * 1000])
    finally:
        deployment.stop()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_enqueue", description=__doc__.split("\n")[0])
    parser.add_argument("--bulk", type=int, default=50_000, help="requests sent through track_many per round")
    parser.add_argument("--single", type=int, default=5_000, help="requests sent one by one per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--register", type=int, default=20_000, help="trackers a worker takes in via track_many")
    args = parser.parse_args(argv)

    paths = ["track_many", "track", "send_task"]
    rows = []
    for r in range(args.rounds):
        order = paths if r % 2 == 0 else paths[::-1]
        rates = enqueue_round(args.bulk, args.single, order)
        rows += [[r + 1, path, args.bulk if path == "track_many" else args.single, rates[path]] for path in paths]
        print(f"round {r + 1} done", file=sys.stderr, flush=True)
    show("Enqueue: track requests per second from one producer process", ["round", "path", "requests", "per s"], rows)
    bulk = sorted(row[3] for row in rows if row[1] == "track_many")
    single = sorted(row[3] for row in rows if row[1] == "track")
    worst = bulk[0]
    passed = verdict(worst >= GOAL_PER_S)
    note(f"track_many, worst round: {worst:,.0f}/s (goal >= {GOAL_PER_S:,}/s: {passed}); "
         f"{worst / single[-1]:.1f}x the best single-call round")  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="swbench-") as tmp:
        reg = register(Path(tmp), args.register, args.single)
    show(
        "Register: one worker (16 threads) taking in the requests",
        ["path", "trackers", "seconds", "registered per s", "worker CPU ms per tracker"], reg,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
