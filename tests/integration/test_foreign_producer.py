"""Another service enqueues by name, as docs/contract.md says, from a process that imports
nothing of statuswatch; and one that forgets the queue is found and named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import WAMM_TOKEN, wamm_accounts
from tests.integration.harness import Deployment
from worker.embedded import private_redis
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PRODUCER = Path(__file__).resolve().parents[1] / "foreign" / "producer.py"
LIFE = [["sent", 0.1], ["delivered", 0.2], ["viewed", 0.4]]


def produce(broker: str, sends: list[dict[str, Any]], routes: bool = False) -> None:
    """Run the other service's producer (``python -I``: no PYTHONPATH, no current directory)."""
    plan = json.dumps({"broker": broker, "routes": routes, "sends": sends})
    done = subprocess.run(
        [sys.executable, "-I", str(PRODUCER)], input=plan, capture_output=True, text=True, timeout=60, cwd="/"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {"sent": len(sends), "statuswatch_modules": []}


def track(msg_id: str, queue: str | None = "statuswatch.track") -> dict[str, Any]:
    kwargs = {"provider": "wamm", "account": "shop", "msg_id": msg_id, "until": "read", "expires_in": 60}
    return {"task": "statuswatch.track", "kwargs": kwargs, "queue": queue}


@pytest.fixture
def stack(tmp_path: Path, namespace: str, simulator: SimulatorClient) -> Iterator[Deployment]:
    """A deployment on a Redis of its own, so the producer needs nothing but the broker URL
    (no key prefix), as a real one would."""
    data = tmp_path / "redis"
    data.mkdir()
    with private_redis(data) as own:
        deployment = Deployment(
            tmp_path, namespace, wamm_accounts(simulator.url),
            STATUSWATCH_REDIS_URL=own.url, STATUSWATCH_BROKER_URL=own.url, STATUSWATCH_BROKER_KEY_PREFIX="",
            STATUSWATCH_HOUSEKEEPING_EVERY_S="1",
        )  # fmt: skip
        try:
            yield deployment
        finally:
            deployment.stop()


def test_the_documented_calls_register_and_settle(stack: Deployment, simulator: SimulatorClient) -> None:
    single = [str(8_100_000 + i) for i in range(30)]
    bulk = [str(8_200_000 + i) for i in range(300)]
    routed = [str(8_300_000 + i) for i in range(10)]
    every = single + bulk + routed
    simulator.add_messages([{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": LIFE} for m in every])
    stack.start_worker("w1")
    stack.start_beat()
    stack.wait_ready(["w1"])

    broker = stack.settings.broker_url
    produce(broker, [track(m) for m in single])
    items = [track(m)["kwargs"] for m in bulk]
    produce(broker, [{"task": "statuswatch.track_many", "kwargs": {"items": items}, "queue": "statuswatch.track"}])
    produce(broker, [track(m, queue=None) for m in routed], routes=True)

    stack.wait_for(lambda: stack.tracked() == len(every), timeout_s=30, what=f"{len(every)} trackers registered")
    stack.wait_for(stack.all_finished, timeout_s=60, what="every tracker settled")
    trackers = stack.trackers("wamm", "shop", every)
    assert {(t.state.value, t.outcome.value) for t in trackers.values()} == {("read", "settled")}
    assert stack.fleet.rejected() == []
    assert stack.redis.llen("celery") == 0 and stack.fleet.misrouted() == {}
    assert "track_many" in stack.log("w1") and "'accepted': 300" in stack.log("w1")


def test_a_request_without_the_queue_is_found_and_named(stack: Deployment, tmp_path: Path) -> None:
    broker = stack.settings.broker_url
    produce(broker, [track(str(8_400_000 + i), queue=None) for i in range(7)])
    assert stack.redis.llen("celery") == 7  # Celery's default queue: no statuswatch worker reads it

    stack.start_worker("w1")
    stack.start_beat()
    stack.wait_ready(["w1"])
    named = "7 statuswatch task(s) wait on queue 'celery'"
    stack.wait_for(lambda: named in stack.log("w1"), timeout_s=20, what="the worker to name the misrouted tasks")

    env = {**stack.env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    doctor = subprocess.run(
        [sys.executable, "-m", "worker.cli", "doctor"], env=stack.env, capture_output=True, text=True, timeout=60
    )
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    [line] = [ln for ln in doctor.stdout.splitlines() if "misrouted" in ln]
    assert line.startswith("FAIL") and named in line and "queue='statuswatch.track'" in line

    # housekeeping (every second here) keeps the count where the exporter reads it
    stack.wait_for(lambda: stack.fleet.misrouted() == {"celery": 7}, timeout_s=20, what="housekeeping's count")
    metrics = subprocess.run(
        [sys.executable, "-m", "worker.cli", "metrics", "--once"], env=env | stack.env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert 'statuswatch_misrouted_tasks{queue="celery"} 7.0' in metrics.stdout, metrics.stderr
    assert stack.redis.llen("celery") == 7  # looked at, never consumed
    assert stack.tracked() == 0
