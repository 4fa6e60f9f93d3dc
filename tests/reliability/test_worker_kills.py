"""Worker processes killed with SIGKILL again and again while hundreds of trackers are in
flight, thread and prefork pools alike: every tracker ends right, no event twice."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import WAMM_TOKEN, wamm_accounts
from tests.integration.harness import Deployment
from tests.integration.test_end_to_end import assert_transitions_once
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

#: raw WAMM lives spread over several seconds, the state and outcome each must end with,
#: and its deadline (s)
LIVES = {
    "read": ([["sent", 1.0], ["delivered", 3.0], ["viewed", 6.0]], ("read", "settled"), 60),
    "failed": ([["sent", 1.0], ["not sent", 4.0]], ("failed", "settled"), 60),
    # long enough for a check to come back after the kills, on a busy machine too
    "never": ([["sent", 1.0]], ("sent", "timed_out"), 20),
}
TRACKERS = 600
KILLS = 6


def children(pid: int) -> list[int]:
    """The pool processes of a prefork worker."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            return [int(p) for p in file.read().split()]
    except OSError:
        return []


@pytest.fixture
def deployment(tmp_path: Path, namespace: str, simulator: SimulatorClient) -> Iterator[Deployment]:
    # a killed worker's track requests come back after the visibility timeout: short here
    deployment = Deployment(
        tmp_path, namespace, wamm_accounts(simulator.url), STATUSWATCH_BROKER_VISIBILITY_TIMEOUT_S="6"
    )
    yield deployment
    deployment.stop()


def test_repeated_sigkills_of_thread_and_prefork_workers_lose_nothing(
    deployment: Deployment, simulator: SimulatorClient
) -> None:
    kinds = list(LIVES)
    plan = {str(9_300_000 + i): kinds[i % len(kinds)] for i in range(TRACKERS)}
    simulator.add_messages(
        [{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": LIVES[k][0]} for m, k in plan.items()]
    )
    simulator.configure(latency_s=0.05)
    pools = {"threads": "threads", "prefork": "prefork"}
    started = {name: deployment.start_worker(name, concurrency=4 if pool == "prefork" else 16, pool=pool)
               for name, pool in pools.items()}  # fmt: skip
    deployment.start_beat()
    deployment.wait_ready(list(pools))
    for msg_id, kind in plan.items():
        deployment.track(provider="wamm", account="shop", msg_id=msg_id, expires_in=LIVES[kind][2])

    rng = random.Random(11)
    killed: list[str] = []
    for i in range(KILLS):
        time.sleep(1.5)  # the kills are spread over the trackers' lives, not waited on
        name = rng.choice(list(pools))
        proc = started[name]
        pool_children = children(proc.pid)
        if name == "prefork" and pool_children and i % 2:
            os.kill(rng.choice(pool_children), signal.SIGKILL)  # one pool process: its parent replaces it
            killed.append("prefork child")
            continue
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool, as an OOM killer would
        deployment.procs.pop(name).wait(timeout=10)
        killed.append(name)
        started[name] = deployment.start_worker(name, concurrency=4 if name == "prefork" else 16, pool=pools[name])
    assert len(killed) == KILLS

    deployment.wait_for(deployment.all_finished, 150, "every tracker finished after the kills")
    trackers = deployment.trackers("wamm", "shop", list(plan))
    events = deployment.events_by_tracker()
    wrong = {m: (t.state.value, t.outcome.value) for m, t in trackers.items() if t and
             (t.state.value, t.outcome.value) != LIVES[plan[m]][1]}  # fmt: skip
    assert not wrong and all(trackers.values()), f"{len(wrong)} wrong, e.g. {list(wrong.items())[:5]}; kills {killed}"
    for msg_id, kind in plan.items():
        assert_transitions_once(events[msg_id], *LIVES[kind][1])
