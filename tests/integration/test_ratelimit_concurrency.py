"""The limiter holds a limit of K/s across processes and threads, and uses almost all of it.

Grant times come from Redis TIME (returned by the script), so the windows are measured on
the one clock the whole fleet shares.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid

import pytest
import redis

from config import Account, Rate
from tests.conftest import REDIS_URL
from worker.keys import Keys, delete_prefix
from worker.ratelimit import Limiter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

K = 20
PROCESSES, THREADS, RUN_S = 5, 10, 4.0


def hammer(namespace: str, rate: float, start: float, until: float, queue: multiprocessing.Queue) -> None:
    """One process: THREADS threads asking for tokens from ``start`` until ``until`` (wall clock)."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    limiter = Limiter(client, Keys(namespace), default_rate=Rate(rate, 1))
    account = Account("a", "wamm", "http://x", {"token": "shared-token"})
    grants: list[int] = []
    denials = [0]

    def run() -> None:
        time.sleep(max(0.0, start - time.time()))
        while time.time() < until:
            decision = limiter.acquire(account, "msg_state")
            if decision.allowed:
                grants.append(decision.granted_at_us)
            else:
                denials[0] += 1
                time.sleep(min(decision.retry_after_s, max(0.0, until - time.time())))

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put((grants, denials[0]))


def test_limit_holds_across_processes_and_is_used() -> None:
    namespace = f"swtest-{uuid.uuid4().hex[:10]}"
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = ctx.Queue()
    start = time.time() + 2.0  # spawning and importing takes a moment: all start together
    procs = [ctx.Process(target=hammer, args=(namespace, K, start, start + RUN_S, queue)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    client = redis.Redis.from_url(REDIS_URL)
    delete_prefix(client, namespace)

    grants = sorted(g for batch, _ in results for g in batch)
    denials = sum(d for _, d in results)
    assert denials > len(grants), "demand should exceed the limit throughout"
    # Every sliding one-second window starting at a grant holds at most K grants.
    worst = max(sum(1 for g in grants[i : i + K + 1] if g < start + 1_000_000) for i, start in enumerate(grants))
    assert worst <= K, f"a one-second window held {worst} grants (limit {K})"
    # Every whole second while demand exceeded K held at least K - 1 grants.
    first_full, last_full = grants[0] // 1_000_000 + 1, grants[-1] // 1_000_000 - 1
    per_second = {s: 0 for s in range(first_full, last_full + 1)}
    for g in grants:
        if g // 1_000_000 in per_second:
            per_second[g // 1_000_000] += 1
    assert len(per_second) >= 2
    assert min(per_second.values()) >= K - 1, per_second
