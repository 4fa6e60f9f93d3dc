"""One scenario for every broker or store fault: a worker and beat under load, the fault, and
then every tracker must finish, with no process restarted by anyone."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.integration.conftest import WAMM_TOKEN
from tests.integration.harness import Deployment
from worker.simulator import SimulatorClient

#: trackers active through the fault, and trackers registered once it is over
TRACKERS = 60
LATE_TRACKERS = 10
#: a tracker is checked at least every 2 s: ~30 checks a second, ~10 in the worker's hands (16 threads)
SETTINGS = {"STATUSWATCH_POLL_MAX_S": "2", "STATUSWATCH_DEFAULT_EXPIRES_S": "600"}
#: the gateway answers after this long, so checks are in hand (unacknowledged) at the fault
GATEWAY_LATENCY_S = 0.3
#: the messages are read this long after they were sent (the test moves the simulator's clock)
READ_AFTER_S = 3600.0
#: gateway requests after the fault that show checks flow again (beyond what was in hand)
FLOWING = 40


@dataclass(frozen=True)
class Outcome:
    #: from the fault's end until checks reach the gateway again
    recovered_s: float
    #: from the fault's end until every tracker (also those registered after it) finished
    finished_s: float
    #: trackers that never finished (the test fails unless 0)
    lost: int

    def line(self, fault: str) -> str:
        return f"{fault}: checks flowing {self.recovered_s:.1f} s after, all finished after {self.finished_s:.1f} s"


def ride_out(
    deployment: Deployment, simulator: SimulatorClient, fault: Callable[[], None], base: int, timeout_s: float = 90
) -> Outcome:
    """Run worker and beat under load, call ``fault()`` (it returns once the fault is over)
    while checks are in hand, and wait until every tracker has finished."""
    msg_ids = [str(base + i) for i in range(TRACKERS)]
    life = [["sent", 0.0], ["delivered", 0.5], ["viewed", READ_AFTER_S]]
    simulator.add_messages([{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": life} for m in msg_ids])
    simulator.configure(latency_s=GATEWAY_LATENCY_S)
    deployment.start_worker("w1", concurrency=16)
    deployment.start_beat()
    deployment.wait_ready(["w1"])
    for m in msg_ids:
        deployment.track(provider="wamm", account="shop", msg_id=m)
    deployment.wait_for(lambda: deployment.tracked() == TRACKERS, 30, f"{TRACKERS} trackers registered")
    deployment.wait_for(lambda: simulator.stats()["in_flight"] >= 5, 30, "checks in flight")
    time.sleep(1.5)  # checks in steady flow, not only the first wave
    pids = {name: proc.pid for name, proc in deployment.procs.items()}

    fault()
    back = time.monotonic()
    requests = simulator.stats()["total"]
    deployment.wait_for(lambda: simulator.stats()["total"] >= requests + FLOWING, timeout_s, "checks flowing again")
    recovered_s = time.monotonic() - back

    late = [str(base + TRACKERS + i) for i in range(LATE_TRACKERS)]
    simulator.add_messages(
        [{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": [["viewed", 0.0]]} for m in late]
    )
    for m in late:
        deployment.track(provider="wamm", account="shop", msg_id=m)
    simulator.advance_clock(READ_AFTER_S)
    everyone = msg_ids + late
    try:
        deployment.wait_for(lambda: _unfinished(deployment, everyone) == 0, timeout_s, "every tracker finished")
    finally:
        lost = _unfinished(deployment, everyone)
    finished_s = time.monotonic() - back

    assert {name: proc.pid for name, proc in deployment.procs.items()} == pids
    assert not deployment.exited()
    for name in pids:
        assert "Unrecoverable error" not in deployment.log(name), deployment.log(name)[-3000:]
    for m, tracker in deployment.trackers("wamm", "shop", everyone).items():
        assert tracker is not None, f"tracker {m} lost"
        assert (tracker.state.value, tracker.outcome.value) == ("read", "settled"), m
    return Outcome(recovered_s, finished_s, lost)


def _unfinished(deployment: Deployment, msg_ids: list[str]) -> int:
    trackers = deployment.trackers("wamm", "shop", msg_ids).values()
    return sum(1 for t in trackers if t is None or t.outcome.value == "active")


def stop(deployment: Deployment) -> None:
    """Stop worker and beat, delete the namespace, and close this process's producer
    connections too (to a proxy or private Redis that goes away after the test)."""
    try:
        deployment.stop()
    finally:
        # kombu keeps the producer's pools in a process-wide registry, open after app.close()
        pool = deployment.producer.amqp.producer_pool
        pool.force_close_all(close_pool=False)
        pool.connections.force_close_all(close_pool=False)
        deployment.producer.close()
