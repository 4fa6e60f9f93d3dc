"""The simulator's pushes (``worker/simulator/push.py``): webhooks as each step of a life is
reached, resent until a 200, with the faults (duplicates, held back, unknown messages, resends
after a 200), and GREEN-API's notification queue (receiveNotification / deleteNotification)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

from worker.receiver import Receiver
from worker.simulator import Clock, RunningSimulator, SimulatorClient

INSTANCE, TOKEN = "1101000001", "api-token"


def green(msg_id: str, life: list[list[Any]], **extra: Any) -> dict[str, Any]:
    return {"provider": "greenapi", "credential": INSTANCE, "api_token": TOKEN, "msg_id": msg_id,
            "chat_id": "79001234567@c.us", "life": life, **extra}  # fmt: skip


def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def bodies(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.delivered]


def test_each_step_is_pushed_when_it_is_reached(control: SimulatorClient, clock: Clock) -> None:
    with Receiver() as receiver:
        control.configure(push={INSTANCE: {"url": receiver.url, "token": "wh"}})
        control.add_messages([green("M1", [["sent", 0], ["failed", 5]], error="SWE004: 1000")])
        until(lambda: len(receiver.delivered) == 1)
        control.advance_clock(6)
        until(lambda: len(receiver.delivered) == 2)
    first, second = bodies(receiver)
    assert first["typeWebhook"] == "outgoingMessageStatus" and first["status"] == "sent"
    assert first["instanceData"]["idInstance"] == int(INSTANCE) and first["idMessage"] == "M1"
    assert second["status"] == "failed" and second["description"] == "SWE004: 1000"


def test_a_wamm_push_and_the_bearer_token(sim: RunningSimulator, control: SimulatorClient) -> None:
    seen: list[str] = []
    with Receiver() as receiver:
        control.configure(push={"TOK": {"url": receiver.url}})
        control.add_messages([{"provider": "wamm", "credential": "TOK", "msg_id": "77", "life": [["delivered", 0]]}])
        until(lambda: len(receiver.delivered) == 1)
        seen = [r.path for r in receiver.delivered]
    (body,) = bodies(receiver)
    assert body["tip"] == "msg_state" and body["msg_data"]["msg_id"] == 77 and body["msg_data"]["state"] == "delivered"
    assert seen == ["/hook"]


def test_a_push_without_a_200_is_sent_again(control: SimulatorClient, clock: Clock) -> None:
    with Receiver(fail_first=2) as receiver:
        control.configure(push={INSTANCE: {"url": receiver.url}}, push_resend_s=1)
        control.add_messages([green("M1", [["read", 0]])])
        until(lambda: receiver.count == 1)
        for expected in (2, 3):
            control.advance_clock(1.5)
            until(lambda n=expected: receiver.count == n)  # type: ignore[misc]
        assert len(receiver.delivered) == 1


def test_the_faults(control: SimulatorClient, clock: Clock, http: requests.Session, sim: RunningSimulator) -> None:
    with Receiver() as receiver:
        control.configure(push={INSTANCE: {"url": receiver.url}}, push_duplicate=1.0, push_unknown=1.0, seed=1)
        control.add_messages([green("M1", [["sent", 0]])])
        until(lambda: len(receiver.delivered) == 3)
        ids = sorted(b["idMessage"] for b in bodies(receiver))
        assert ids[:2] == ["M1", "M1"] and ids[2].startswith("UNKNOWN")
        control.configure(push_duplicate=0.0, push_unknown=0.0, push_reorder=1.0, push_reorder_s=2)
        control.add_messages([green("M2", [["delivered", 0]])])
        time.sleep(0.3)
        assert len(receiver.delivered) == 3  # held back
        control.advance_clock(3)
        until(lambda: len(receiver.delivered) == 4)
    stats = http.get(f"{sim.url}/_sim/push").json()
    assert stats["duplicated"] == 1 and stats["unknown"] == 1 and stats["reordered"] == 1


def test_the_notification_queue(sim: RunningSimulator, control: SimulatorClient, http: requests.Session) -> None:
    base = f"{sim.url}/waInstance{INSTANCE}"
    control.configure(notifications=[INSTANCE])
    control.add_messages([green("M1", [["sent", 0], ["delivered", 0]])])
    until(lambda: http.get(f"{sim.url}/_sim/push").json().get("queued_now") == 2)
    first = http.get(f"{base}/receiveNotification/{TOKEN}", params={"receiveTimeout": 5}).json()
    again = http.get(f"{base}/receiveNotification/{TOKEN}", params={"receiveTimeout": 5}).json()
    assert first == again and first["body"]["status"] == "sent"  # first until deleted
    assert http.delete(f"{base}/deleteNotification/{TOKEN}/{first['receiptId']}").json() == {"result": True}
    assert http.delete(f"{base}/deleteNotification/{TOKEN}/{first['receiptId']}").json() == {"result": False}
    second = http.get(f"{base}/receiveNotification/{TOKEN}", params={"receiveTimeout": 5}).json()
    assert second["body"]["status"] == "delivered"
    http.delete(f"{base}/deleteNotification/{TOKEN}/{second['receiptId']}")
    control.configure(notification_wait_max_s=0.3)
    started = time.monotonic()
    assert http.get(f"{base}/receiveNotification/{TOKEN}", params={"receiveTimeout": 5}).json() is None
    assert 0.25 < time.monotonic() - started < 3
    assert http.get(f"{base}/receiveNotification/{TOKEN}", params={"receiveTimeout": 1}).status_code == 400
    assert http.get(f"{base}/receiveNotification/wrong").status_code == 401
