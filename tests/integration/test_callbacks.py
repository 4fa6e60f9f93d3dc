"""Events reach producers: webhooks to a loopback receiver that fails its first attempts,
a receiver that refuses, another service's Celery task, and a worker killed mid-delivery."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import WAMM_TOKEN, wamm_accounts
from tests.integration.harness import Deployment
from worker.notify.notifier import delivery_state
from worker.receiver import Receiver
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SECRET = "whsec-it-0d6a2f9b"
LIFE = [["sent", 1.0], ["delivered", 2.0], ["viewed", 3.0]]  # each state seen by a check (polling at most 0.4 s)
CONSUMER = Path(__file__).resolve().parents[1] / "foreign" / "consumer.py"
NOTIFY = {
    "STATUSWATCH_CALLBACK_SECRET": SECRET,
    "STATUSWATCH_CALLBACK_ALLOW_NETWORKS": "127.0.0.0/8",
    "STATUSWATCH_NOTIFY_EVERY_S": "0.2",
    "STATUSWATCH_NOTIFY_BACKOFF_S": "0.05",
    "STATUSWATCH_NOTIFY_MAX_BACKOFF_S": "0.5",
    "STATUSWATCH_NOTIFY_TIMEOUT_S": "0.5",
    "STATUSWATCH_NOTIFY_URL_CONCURRENCY": "16",
    "STATUSWATCH_NOTIFY_URL_RATE": "2000/s",
}


def documented_verify() -> Callable[[str, bytes, str], bool]:
    """The verification snippet of docs/contract.md, run as a receiver would paste it."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text(encoding="utf-8")
    [snippet] = [block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify(" in block]
    scope: dict[str, Any] = {}
    exec(snippet, scope)
    verify: Callable[[str, bytes, str], bool] = scope["verify"]
    return verify


@pytest.fixture
def deployment(tmp_path: Path, namespace: str, simulator: SimulatorClient) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path, namespace, wamm_accounts(simulator.url), **NOTIFY)
    yield deployment
    deployment.stop()


def add(simulator: SimulatorClient, msg_ids: list[str]) -> None:
    simulator.add_messages([{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": LIFE} for m in msg_ids])


def by_tracker(events: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    grouped: dict[str, list[tuple[str, str]]] = {}
    for e in events:
        grouped.setdefault(e["msg_id"], []).append((e["state"], e["outcome"]))
    return grouped


def first_of_each(received: list[Any]) -> list[Any]:
    """Each event once (the first delivery of each event_id), in arrival order."""
    seen: set[str] = set()
    return [r for r in received if not (r.event_id in seen or seen.add(r.event_id))]


def test_every_event_of_200_trackers_reaches_a_failing_receiver_in_order(
    deployment: Deployment, simulator: SimulatorClient
) -> None:
    msg_ids = [str(6_100_000 + i) for i in range(200)]
    failures = ("500", "reset", "hang", "503", "429")
    with Receiver(fail_first=2, failures=failures, hang_s=1.0) as receiver:
        deployment.start_worker("w1", concurrency=16)
        deployment.start_beat()
        deployment.wait_ready()
        add(simulator, msg_ids)
        for m in msg_ids:
            deployment.track(provider="wamm", account="shop", msg_id=m, expires_in=60, callback_url=receiver.url,
                             meta={"order": m})  # fmt: skip
        deployment.wait_for(lambda: deployment.tracked() == 200, timeout_s=30, what="200 trackers registered")
        deployment.wait_for(lambda: deployment.all_finished() and delivered_all(deployment), timeout_s=150,
                            what="every tracker finished and its events delivered")
        delivered = receiver.delivered
        attempts = receiver.count
    verify = documented_verify()
    assert all(verify(r.signature, r.body, SECRET) for r in delivered)
    events = [r.event for r in first_of_each(delivered)]
    # the stream holds the same objects, in the same order per tracker, as the receiver got
    stream = [json.loads(line) for line in _events_json(deployment)]
    assert len(stream) > 200 and {e["msg_id"] for e in stream} == set(msg_ids)
    assert sorted(events, key=lambda e: e["event_id"]) == sorted(stream, key=lambda e: e["event_id"])
    assert by_tracker(events) == by_tracker(stream)
    assert all(trail[-1] == ("read", "settled") for trail in by_tracker(events).values())
    assert all(e["meta"] == {"order": e["msg_id"]} for e in events)
    assert attempts >= 3 * len(stream)  # two refused attempts at every event, then the delivery
    # a tampered body, an old timestamp, another secret: refused by the documented snippet
    sample = delivered[0]
    assert not verify(sample.signature, sample.body.replace(b"active", b"settled"), SECRET)
    assert not verify(sample.signature, sample.body, "not-the-secret")
    old = re.sub(r"t=\d+", f"t={int(time.time()) - 3600}", sample.signature)
    assert not verify(old, sample.body, SECRET)
    stats = deployment.fleet.stats()
    print(f"events {len(stream)}, attempts {attempts}, delivered twice {len(delivered) - len(events)}, "
          f"counters { {k: v for k, v in stats.items() if k.startswith('notify:')} }")
    assert stats.get("notify:delivered") == len(stream) and stats.get("notify:retried", 0) >= 2 * len(stream)


def delivered_all(deployment: Deployment) -> bool:
    """No tracker has an event left to deliver."""
    return deployment.redis.zcard(deployment.keys.notify.due) == 0

def _events_json(deployment: Deployment) -> list[str]:
    return _cli(deployment, "events", "--count", "1000", "--json")


def _cli(deployment: Deployment, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], env=deployment.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_refusing_receiver_is_given_up_on_and_recorded(deployment: Deployment, simulator: SimulatorClient) -> None:
    msg_ids = [str(6_200_000 + i) for i in range(5)]
    with Receiver(status=403) as receiver:
        deployment.start_worker("w1")
        deployment.start_beat()
        deployment.wait_ready()
        add(simulator, msg_ids)
        for m in msg_ids:
            deployment.track(provider="wamm", account="shop", msg_id=m, callback_url=receiver.url)
        deployment.wait_for(lambda: deployment.fleet.stats().get("notify:given_up") == 15, timeout_s=60,
                            what="15 events given up")  # fmt: skip
        assert len(receiver.attempts) == 15  # once each: a 403 is not tried again
    state = delivery_state(deployment.redis, deployment.keys, f"wamm:shop:{msg_ids[0]}")
    assert state is not None and state["given_up"] == 3 and state["last_error"].startswith("HTTP 403")
    [status] = _cli(deployment, "status", "wamm", "shop", msg_ids[0], "--json")
    assert json.loads(status)["delivery"] == state
    # a consumer group reads the same events, each once, acknowledged
    read = _cli(deployment, "events", "--group", "audit", "--consumer", "c1", "--from-start", "--json", "--count=99")
    assert len(read) == 15 and _cli(deployment, "events", "--group", "audit", "--consumer", "c2", "--json") == []
    assert "gave up on event" in deployment.log("w1") and receiver.url not in deployment.log("w1")


def test_another_services_task_gets_every_event_in_order(
    deployment: Deployment, simulator: SimulatorClient, tmp_path: Path
) -> None:
    msg_ids = [str(6_300_000 + i) for i in range(50)]
    out = tmp_path / "events.jsonl"
    out.touch()
    queue = f"{deployment.namespace}.billing"
    # the deployment's broker key prefix, as docs/contract.md tells a producer to set it
    settings = deployment.settings
    consumer = subprocess.Popen(
        [sys.executable, "-I", str(CONSUMER), settings.broker_url, settings.broker_key_prefix, queue, str(out)],
        cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deployment.start_worker("w1")
        deployment.start_beat()
        deployment.wait_ready()
        add(simulator, msg_ids)
        for m in msg_ids[:25]:
            deployment.track(provider="wamm", account="shop", msg_id=m, callback_task="billing.on_status",
                             callback_queue=queue)  # fmt: skip
        for m in msg_ids[25:]:  # these time out before the gateway says anything
            deployment.track(provider="wamm", account="shop", msg_id=m, expires_in=0.3,
                             callback_task="billing.on_status", callback_queue=queue)  # fmt: skip

        def lines() -> list[dict[str, Any]]:
            return [json.loads(line) for line in out.read_text().splitlines()]

        def complete() -> bool:  # every tracker's last event there, and as many as the stream holds
            got, stream = by_tracker(lines()), by_tracker([json.loads(line) for line in _events_json(deployment)])
            return all(
                got.get(m) and got[m][-1][1] in ("settled", "timed_out") and len(got[m]) >= len(stream.get(m, []))
                for m in msg_ids
            )

        # how many events a tracker has depends on which states its checks happened to see
        deployment.wait_for(complete, timeout_s=90, what="every event as a task")
        assert consumer.poll() is None
    finally:
        consumer.terminate()
        _, err = consumer.communicate(timeout=30)
    got = by_tracker(lines())
    stream = by_tracker([json.loads(line) for line in _events_json(deployment)])
    assert {m: got[m] for m in msg_ids[:25]} == {m: stream[m] for m in msg_ids[:25]}
    assert all(got[m][-1] == ("read", "settled") for m in msg_ids[:25])
    for m in msg_ids[25:]:
        assert got[m][-1][1] == "timed_out" and len(got[m]) == 1, (m, got[m])
    assert b"statuswatch" not in err or b"Traceback" not in err


def test_a_worker_killed_mid_delivery_delivers_everything_after_restart(
    deployment: Deployment, simulator: SimulatorClient
) -> None:
    msg_ids = [str(6_400_000 + i) for i in range(60)]
    with Receiver(delay_s=0.3) as receiver:
        deployment.start_worker("doomed", concurrency=16)
        deployment.start_beat()
        deployment.wait_ready()
        add(simulator, msg_ids)
        for m in msg_ids:
            deployment.track(provider="wamm", account="shop", msg_id=m, callback_url=receiver.url)
        deployment.wait_for(lambda: len(receiver.attempts) >= 40, timeout_s=60, what="deliveries under way")
        deployment.kill("doomed")
        at_kill = len(receiver.attempts)
        deployment.start_worker("survivor", concurrency=16)
        deployment.wait_for(lambda: deployment.all_finished() and delivered_all(deployment), timeout_s=120,
                            what="every tracker finished and its events delivered")  # fmt: skip
        delivered = receiver.delivered
    events = [r.event for r in first_of_each(delivered)]
    stream = [json.loads(line) for line in _events_json(deployment)]
    assert at_kill < len(stream) and {e["msg_id"] for e in stream} == set(msg_ids)
    assert by_tracker(events) == by_tracker(stream)
    duplicates = len(delivered) - len(events)
    redelivered = int(deployment.fleet.stats().get("notify:redelivered", 0))
    print(f"events {len(stream)}, delivered at the kill {at_kill}, duplicates {duplicates}, redelivered {redelivered}")
    assert redelivered >= 1 and duplicates <= redelivered
