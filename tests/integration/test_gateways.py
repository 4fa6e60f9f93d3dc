"""All three gateways end to end on a real worker: batch sync, GREEN-API chat messages and
Status posts, WBizTool's ceiling, and every tracker right under injected faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import WAMM_TOKEN, wamm_accounts
from tests.integration.harness import Deployment
from worker.local import AccountTables
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

GREEN_INSTANCE, GREEN_TOKEN = "1101000001", "green-tok-8d2f"
WBIZ_CLIENT, WBIZ_KEY = 4321, "wbiz-key-61c0"


def all_accounts(url: str) -> AccountTables:
    return {
        **wamm_accounts(url),
        "support": {"provider": "greenapi", "id_instance": GREEN_INSTANCE, "api_token_instance": GREEN_TOKEN,
                    "api_url": url},
        "billing": {"provider": "wbiztool", "client_id": WBIZ_CLIENT, "api_key": WBIZ_KEY, "base_url": url},
    }  # fmt: skip


def green(msg_id: str, life: list[list[object]], **extra: object) -> dict[str, object]:
    return {"provider": "greenapi", "credential": GREEN_INSTANCE, "api_token": GREEN_TOKEN, "msg_id": msg_id,
            "life": life, **extra}  # fmt: skip


def wbiz(msg_id: str, life: list[list[object]], **extra: object) -> dict[str, object]:
    return {"provider": "wbiztool", "credential": WBIZ_KEY, "client_id": WBIZ_CLIENT, "msg_id": msg_id,
            "life": life, **extra}  # fmt: skip


def test_batch_sync_settles_wamm_messages_with_fewer_requests(
    tmp_path: Path, namespace: str, simulator: SimulatorClient
) -> None:
    ids = [str(5_000_000 + i) for i in range(300)]
    simulator.add_messages(
        [{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": [["viewed", 0.1]]} for m in ids]
    )
    deployment = Deployment(
        tmp_path,
        namespace,
        wamm_accounts(simulator.url),
        STATUSWATCH_POLL_FIRST_S="3",
        STATUSWATCH_POLL_MAX_S="5",
        STATUSWATCH_SYNC_EVERY_S="0.5",
    )
    try:
        for m in ids:
            deployment.track(provider="wamm", account="shop", msg_id=m)
        deployment.start_worker()
        deployment.start_beat()
        deployment.wait_for(
            lambda: (
                sum(t is not None for t in deployment.trackers("wamm", "shop", ids).values()) == 300
                and deployment.all_finished()
            ),
            60,
            "300 trackers settled",
        )
        trackers = deployment.trackers("wamm", "shop", ids)
    finally:
        deployment.stop()

    assert {(t.state.value, t.outcome.value) for t in trackers.values()} == {("read", "settled")}
    calls = simulator.stats()["by_credential"][WAMM_TOKEN]
    per_message = simulator.requests_by_message()[WAMM_TOKEN]["msg_state"]
    newest = ids[-100:]  # msg_get_last shows only the newest 100
    assert calls["msg_get_last"] >= 1
    assert calls["msg_state"] + calls["msg_get_last"] < len(ids), calls
    assert [m for m in newest if per_message.get(m)] == [], "msg_state asked about a message the batch settled"
    assert all(per_message.get(m, 0) >= 1 for m in ids[:-100])


def test_greenapi_chat_message_status_post_and_wbiztool(
    tmp_path: Path, namespace: str, simulator: SimulatorClient
) -> None:
    simulator.add_messages(
        [
            green("BAE5CHAT0001", [["sent", 0.05], ["delivered", 0.1], ["read", 0.2]], chat_id="79001234567@c.us"),
            green("BAE5CHAT0002", [["sent", 0.05], ["noAccount", 0.1]], chat_id="79001234568@c.us"),
            green(
                "BAE5POST0001",
                [["sent", 0.0]],
                kind="status_post",
                viewers={"79000000001@c.us": [["read", 0.1]], "79000000002@c.us": [["delivered", 0.1]]},
            ),
            wbiz("901", [[1, 0.1]]),
            wbiz("902", [[2, 0.1]], error="Invalid phone number"),
        ]
    )
    # no batch sync during the test: a chat message can only settle through its own getMessage
    deployment = Deployment(tmp_path, namespace, all_accounts(simulator.url), STATUSWATCH_SYNC_EVERY_S="3600")
    try:
        deployment.start_worker()
        deployment.start_beat()
        deployment.track(provider="greenapi", account="support", msg_id="BAE5CHAT0001", chat_id="79001234567@c.us")
        deployment.track(provider="greenapi", account="support", msg_id="BAE5CHAT0002", chat_id="79001234568@c.us")
        deployment.track(
            provider="greenapi", account="support", msg_id="BAE5POST0001", kind="status_post", until="delivered"
        )
        deployment.track(provider="wbiztool", account="billing", msg_id="901")
        deployment.track(provider="wbiztool", account="billing", msg_id="902")
        deployment.wait_all_finished(5, 60)
        chat, no_account, post = deployment.store.get_many(
            [f"greenapi:support:{m}" for m in ("BAE5CHAT0001", "BAE5CHAT0002", "BAE5POST0001")]
        )
        sent, failed = deployment.store.get_many(["wbiztool:billing:901", "wbiztool:billing:902"])
    finally:
        deployment.stop()

    assert (chat.state.value, chat.outcome.value, chat.raw_state) == ("read", "settled", "read")
    assert (no_account.state.value, no_account.raw_state) == ("failed", "noAccount")
    assert (post.state.value, post.outcome.value) == ("delivered", "settled")
    assert post.as_json()["detail"] == {"79000000001@c.us": "read", "79000000002@c.us": "delivered"}  # per viewer
    assert (sent.state.value, sent.outcome.value) == ("sent", "settled")  # WBizTool's ceiling
    assert (failed.state.value, failed.raw_state) == ("failed", "2")
    assert failed.as_json()["detail"] == {"error": "Invalid phone number"}
    green_calls = simulator.stats()["by_credential"][GREEN_INSTANCE]
    asked = simulator.requests_by_message()[GREEN_INSTANCE]
    assert green_calls.get("lastOutgoingMessages", 0) == 0, green_calls
    assert set(asked["getMessage"]) == {"BAE5CHAT0001", "BAE5CHAT0002"}
    assert set(asked["getStatusStatistic"]) == {"BAE5POST0001"}


def test_every_tracker_right_under_faults(tmp_path: Path, namespace: str, simulator: SimulatorClient) -> None:
    read_life = [["sent", 0.1], ["delivered", 0.3], ["viewed", 0.6]]
    green_read = [["sent", 0.1], ["delivered", 0.3], ["read", 0.6]]
    messages = (
        [{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": str(100 + i), "life": read_life} for i in range(30)]
        + [{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": str(200 + i), "life": [["not sent", 0.3]]}
           for i in range(10)]
        + [green(f"BAE5R{i:04d}", green_read, chat_id=f"7900000{i:04d}@c.us") for i in range(15)]
        + [green(f"BAE5F{i:04d}", [["sent", 0.1], ["failed", 0.3]], chat_id=f"7911000{i:04d}@c.us") for i in range(5)]
        + [wbiz(str(300 + i), [[1, 0.2]]) for i in range(15)]
        + [wbiz(str(400 + i), [[3, 0.2]]) for i in range(5)]
    )  # fmt: skip
    expected = (
        {f"wamm:shop:{100 + i}": ("read", "settled") for i in range(30)}
        | {f"wamm:shop:{200 + i}": ("failed", "settled") for i in range(10)}
        | {f"greenapi:support:BAE5R{i:04d}": ("read", "settled") for i in range(15)}
        # Journals never record "failed": polling can only see "sent" until the deadline.
        | {f"greenapi:support:BAE5F{i:04d}": ("sent", "timed_out") for i in range(5)}
        | {f"wbiztool:billing:{300 + i}": ("sent", "settled") for i in range(15)}
        | {f"wbiztool:billing:{400 + i}": ("cancelled", "settled") for i in range(5)}
    )
    simulator.add_messages(messages)
    simulator.configure(fault_5xx=0.2, fault_timeout=0.05, fault_malformed=0.05, timeout_hold_s=1.5, seed=11)
    deployment = Deployment(
        tmp_path,
        namespace,
        all_accounts(simulator.url),
        STATUSWATCH_HTTP_TIMEOUT_S="0.5",
        STATUSWATCH_SYNC_EVERY_S="0.5",
    )
    try:
        deployment.start_worker(concurrency=32)
        deployment.start_beat()
        for tid in expected:
            provider, account, msg_id = tid.split(":", 2)
            extra = (
                {"chat_id": next(m["chat_id"] for m in messages if m["msg_id"] == msg_id)}
                if provider == "greenapi"
                else {}
            )
            deployment.track(provider=provider, account=account, msg_id=msg_id, expires_in=12, **extra)
        deployment.wait_all_finished(len(expected), 90)
        trackers = dict(zip(expected, deployment.store.get_many(expected), strict=True))
    finally:
        deployment.stop()

    wrong = {
        tid: (t.state.value, t.outcome.value)
        for tid, t in trackers.items()
        if (t.state.value, t.outcome.value) != expected[tid]
    }
    assert wrong == {}
    stats = simulator.stats()
    assert set(stats["faults"]) == {"timeout", "5xx", "malformed"}, stats["faults"]  # each injected at least once
    responses = stats["responses"]
    assert responses.get("timeout", 0) > 0 and sum(int(k) >= 500 for k in responses if k.isdigit()) > 0
