"""Push ingestion end to end: the simulator pushes GREEN-API statuses its journals never show
(failed, noAccount, yellowCard) to a real ``statuswatch webhooks`` process, or queues them for
a real ``statuswatch notifications`` process, next to a real worker and beat; each tracker ends
as the push says. Killed with SIGKILL mid-stream, neither process loses a push: polling cannot
see a failure here, so a lost one would leave its tracker timed out at ``sent``."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.harness import Deployment
from worker.simulator import RunningSimulator, SimulatorClient, start_in_thread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

INSTANCE, API_TOKEN, WEBHOOK_TOKEN = "1101000001", "green-api-tok-81c2", "green-webhook-tok-5d0e"
CHAT = "79001234567@c.us"
#: lives and the state each ends in; the simulator's journal (getMessage) never shows "failed",
#: as GREEN-API's does not: only a push tells those
LIVES: dict[str, tuple[list[list[Any]], str]] = {
    "failed": ([["sent", 0.1], ["failed", 0.5]], "failed"),
    "failed_at_once": ([["failed", 0.3]], "failed"),
    "delivered_then_failed": ([["sent", 0.1], ["delivered", 0.3], ["failed", 0.6]], "failed"),
    "read": ([["sent", 0.1], ["delivered", 0.3], ["read", 0.7]], "read"),
}
DESCRIPTION = "SWE004: the number of participants in the group has been exceeded"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with start_in_thread() as running:
        yield running


def deploy(tmp_path: Path, namespace: str, sim: RunningSimulator, port: int, **account: Any) -> Deployment:
    table = {"provider": "greenapi", "id_instance": INSTANCE, "api_token_instance": API_TOKEN, "api_url": sim.url,
             **account}  # fmt: skip
    return Deployment(
        tmp_path, namespace, {"acme": table}, STATUSWATCH_WEBHOOKS_PORT=str(port),
        STATUSWATCH_NOTIFICATIONS_RECEIVE_TIMEOUT_S="5", STATUSWATCH_PUSH_SAFETY_POLL_S="1",
    )  # fmt: skip


def plan(count: int, prefix: str) -> dict[str, str]:
    kinds = list(LIVES)
    return {f"{prefix}{i:04d}": kinds[i % len(kinds)] for i in range(count)}


def messages(plan_: dict[str, str], spread_s: float = 0.0) -> list[dict[str, Any]]:
    """The planned messages, each life shifted by up to ``spread_s`` so they end over a while."""
    out = []
    for i, (msg_id, kind) in enumerate(plan_.items()):
        shift = spread_s * i / max(1, len(plan_))
        life = [[raw, at + shift] for raw, at in LIVES[kind][0]]
        out.append({"provider": "greenapi", "credential": INSTANCE, "api_token": API_TOKEN, "msg_id": msg_id,
                    "chat_id": CHAT, "life": life, "error": DESCRIPTION})  # fmt: skip
    return out


def track_all(deployment: Deployment, plan_: dict[str, str]) -> None:
    for msg_id in plan_:
        deployment.track(provider="greenapi", account="acme", msg_id=msg_id, chat_id=CHAT, expires_in=60)


def wait_healthy(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("the webhook receiver did not come up")


def assert_ended_as_pushed(deployment: Deployment, plan_: dict[str, str]) -> None:
    deployment.wait_for(lambda: deployment.tracked() == len(plan_) and deployment.all_finished(), 90, "all finished")
    trackers = deployment.trackers("greenapi", "acme", list(plan_))
    wrong = {m: (t.state.value, t.outcome.value) for m, t in trackers.items()
             if (t.state.value, t.outcome.value) != (LIVES[plan_[m]][1], "settled")}  # fmt: skip
    assert wrong == {}
    reasons = {m: deployment.redis.hget(deployment.keys.tracker(f"greenapi:acme:{m}"), "reason") for m in plan_}
    for msg_id, kind in plan_.items():
        if LIVES[kind][1] == "failed":
            assert DESCRIPTION in (reasons[msg_id] or ""), (msg_id, reasons[msg_id])
    assert "Traceback" not in deployment.log("w1")


def test_failures_only_a_webhook_tells_end_failed(tmp_path: Path, namespace: str, sim: RunningSimulator) -> None:
    port = free_port()
    deployment = deploy(tmp_path, namespace, sim, port, webhook_token=WEBHOOK_TOKEN)
    try:
        url = f"http://127.0.0.1:{port}/webhooks/greenapi/acme"
        sim.client.configure(push={INSTANCE: {"url": url, "token": WEBHOOK_TOKEN}}, push_duplicate=0.3,
                             push_reorder=0.2, push_reorder_s=0.3, push_unknown=0.2, push_resend_s=1, seed=14)
        deployment.start_command("webhooks", "webhooks")
        wait_healthy(port)
        early, late = plan(20, "E"), plan(40, "L")
        sim.client.add_messages(messages(early))
        time.sleep(1.5)  # every push of these comes before its track request
        deployment.start_worker("w1", concurrency=16)
        deployment.start_beat()
        sim.client.add_messages(messages(late))
        track_all(deployment, {**early, **late})
        assert_ended_as_pushed(deployment, {**early, **late})
        stats = deployment.redis.hgetall(deployment.keys.stats)
        assert int(stats["push:greenapi:early_applied"]) >= 20 and int(stats["push:greenapi:statuses"]) > 60
        assert WEBHOOK_TOKEN not in deployment.log("webhooks")
    finally:
        deployment.stop()


def test_failures_only_the_notification_queue_tells_end_failed(
    tmp_path: Path, namespace: str, sim: RunningSimulator
) -> None:
    deployment = deploy(tmp_path, namespace, sim, free_port(), notifications=True)
    try:
        sim.client.configure(notifications=[INSTANCE], push_duplicate=0.3, push_reorder=0.2, push_reorder_s=0.3)
        deployment.start_command("notifications", "notifications")
        deployment.start_worker("w1", concurrency=16)
        deployment.start_beat()
        batch = plan(40, "N")
        sim.client.add_messages(messages(batch))
        track_all(deployment, batch)
        assert_ended_as_pushed(deployment, batch)
        assert requests.get(f"{sim.url}/_sim/push", timeout=5).json()["queued_now"] == 0
    finally:
        deployment.stop()


def kill_mid_stream(deployment: Deployment, name: str, args: list[str], stream_s: float) -> None:
    """SIGKILL ``name`` halfway through the pushes, and start it again a second later."""
    time.sleep(stream_s / 2)
    deployment.kill(name)
    time.sleep(1.0)
    deployment.start_command(name, *args)


@pytest.mark.parametrize("via", ["webhooks", "notifications"])
def test_a_receiver_killed_mid_stream_loses_no_push(
    tmp_path: Path, namespace: str, sim: RunningSimulator, via: str
) -> None:
    port = free_port()
    account = {"webhook_token": WEBHOOK_TOKEN} if via == "webhooks" else {"notifications": True}
    deployment = deploy(tmp_path, namespace, sim, port, **account)
    client: SimulatorClient = sim.client
    try:
        if via == "webhooks":
            url = f"http://127.0.0.1:{port}/webhooks/greenapi/acme"
            client.configure(push={INSTANCE: {"url": url, "token": WEBHOOK_TOKEN}}, push_resend_s=1, push_attempts=20)
        else:
            client.configure(notifications=[INSTANCE])
        deployment.start_command(via, via)
        if via == "webhooks":
            wait_healthy(port)
        deployment.start_worker("w1", concurrency=16)
        deployment.start_beat()
        batch = {f"K{i:04d}": "failed" for i in range(60)}
        track_all(deployment, batch)
        deployment.wait_for(lambda: deployment.tracked() == len(batch), 30, "all tracked")
        client.add_messages(messages(batch, spread_s=4.0))  # failures arrive over 4 s
        kill_mid_stream(deployment, via, [via], 4.0)
        assert_ended_as_pushed(deployment, batch)
        answered = requests.get(f"{sim.url}/_sim/push", timeout=5).json()
        if via == "webhooks":
            assert answered.get("answered:0", 0) > 0, answered  # some pushes met nobody: resent
    finally:
        deployment.stop()
