"""The limit holds where the gateway counts, on a busy machine: two processes spin on the
machine's two cores at the workers' own priority while four workers check ten tokens'
messages at their limit. The simulator counts every sliding one-second window of arrivals
per token, and answers 429 over the limit; it runs at a higher priority, as a gateway on a
machine of its own would (the load competes with statuswatch, not with the gateway's clock).

No timing is asserted: only what the gateway saw, and that every message settled."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load import cpu_hogs
from tests.integration.harness import Deployment
from tests.integration.test_limits import accounts, wamm
from worker.simulator import start_process

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

TOKENS = [f"busy-tok-{i:02d}" for i in range(10)]
MESSAGES = [str(2000 + i) for i in range(50)]
LIMIT = 20


@pytest.mark.parametrize("run", range(3))  # repeated: a bound that holds only sometimes is no bound
def test_ten_tokens_keep_their_limits_with_the_cpu_taken(tmp_path: Path, namespace: str, run: int) -> None:
    with start_process(latency_s=0.05, rate_limits={"wamm": LIMIT}, nice=-10) as running:
        simulator = running.client
        for token in TOKENS:
            simulator.add_messages(wamm(token, MESSAGES, [["viewed", 0.0]]))
        deployment = Deployment(tmp_path, namespace, accounts(simulator.url, TOKENS, f"{LIMIT}/s"))
        try:
            for i in range(len(TOKENS)):
                for m in MESSAGES:
                    deployment.track(provider="wamm", account=f"a{i}", msg_id=m)
            names = [f"w{w}" for w in range(4)]
            for name in names:
                deployment.start_worker(name, concurrency=4)
            deployment.wait_ready(names)
            with cpu_hogs(2, 120):
                deployment.start_beat()
                deployment.wait_all_finished(len(TOKENS) * len(MESSAGES), 150)
            counters = deployment.fleet.stats()
        finally:
            deployment.stop()
        stats = simulator.stats()
    assert stats["responses"].get("429", 0) == 0, stats["responses"]
    peaks = {token: stats["max_per_second"][token]["*"] for token in TOKENS}
    assert max(peaks.values()) <= LIMIT, peaks
    assert counters["checks"] == len(TOKENS) * len(MESSAGES)
    # every request was timed from its grant to its first byte
    sent = sum(n for name, n in counters.items() if name.startswith("send_delay:wamm:"))
    assert sent >= len(TOKENS) * len(MESSAGES), counters
    print(f"run {run}: peaks {sorted(peaks.values())}, stale grants {counters.get('grants:stale:wamm', 0)} of {sent}")
