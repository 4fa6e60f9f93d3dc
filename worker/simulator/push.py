"""The simulated gateways' pushes: each step of a message's life is pushed when it is reached,
to a webhook (an HTTP POST, resent until it gets a 200) or, for GREEN-API instances listed in
`notifications`, onto the instance's notification queue (receiveNotification /
deleteNotification). Sources: GREEN-API outgoingMessageStatus and ReceiveNotification, WAMM.chat's
webhook page (named in `worker/push/parse.py`).

Configured in /_sim/config before the messages are added (a message's steps are scheduled when
it is added):
    push: {credential: {"url": "http://127.0.0.1:PORT/webhooks/...", "token": "..."}}
          the token goes as `Authorization: Bearer` (GREEN-API's webhookUrlToken)
    notifications: [GREEN-API idInstance, ...]   pushes queued instead
Faults, each a share of pushes (seeded RNG): push_duplicate (sent twice), push_reorder (held
back `push_reorder_s`, so a later status of the message may come first), push_unknown (one more
push, for a message nobody sent), push_resend (sent again `push_resend_s` later although it got
its 200). A push that gets no 200 (refused, timed out, nobody listening) is sent again after
`push_resend_s`, at most `push_attempts` times in all.

Standard library only; the pusher runs on the server's event loop and reads the simulator's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .model import Message, Registry
from .policy import Policy

#: what a message shows before any step: never pushed
PENDING = {"wamm": "sending", "greenapi": "pending"}
TICK_S = 0.01
#: the most webhooks on their way at once
CONCURRENCY = 64


@dataclass(order=True)
class Delivery:
    due_s: float
    seq: int
    provider: str = field(compare=False)
    credential: str = field(compare=False)
    body: dict[str, Any] = field(compare=False)
    #: 1 for the first; an extra copy (a duplicate, an unknown message's) is 0: never sent again
    attempt: int = field(default=1, compare=False)
    #: whether its faults were drawn (a held-back or a resent push draws none)
    drawn: bool = field(default=False, compare=False)


def greenapi_body(credential: str, msg: Message, raw: Any, at_s: float) -> dict[str, Any]:
    body = {
        "typeWebhook": "outgoingMessageStatus", "chatId": msg.chat_id,
        "instanceData": {"idInstance": int(credential) if credential.isdigit() else credential,
                         "wid": "79000000000@c.us", "typeInstance": "whatsapp"},
        "timestamp": int(at_s), "idMessage": msg.msg_id, "status": raw, "sendByApi": True,
    }  # fmt: skip
    if raw in ("failed", "noAccount", "notInGroup", "yellowCard"):
        body["description"] = msg.error
    return body


def wamm_body(credential: str, msg: Message, raw: Any, at_s: float) -> dict[str, Any]:
    date = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at_s))
    data = {"msg_id": int(msg.msg_id) if msg.msg_id.isdigit() else msg.msg_id, "from_me": 1, "from_api": 1,
            "phone": msg.phone, "state": raw, "date_upd": date}  # fmt: skip
    return {"tip": "msg_state", "msg_data": data}


BODIES: dict[str, Callable[[str, Message, Any, float], dict[str, Any]]] = {"greenapi": greenapi_body, "wamm": wamm_body}


class Pusher:
    def __init__(
        self, clock: Callable[[], float], policy: Callable[[], Policy], registry: Callable[[], Registry]
    ) -> None:
        self.clock, self.policy, self.registry = clock, policy, registry
        self._seq = itertools.count()
        self._receipts = itertools.count(1)
        self._arrived: dict[str, asyncio.Event] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self.reset()

    def reset(self) -> None:
        """Forget what is scheduled and the counts (what is on its way still arrives)."""
        self._heap: list[Delivery] = []
        self.stats: Counter[str] = Counter()

    def schedule(self, provider: str, credential: str, msg: Message) -> None:
        """Every step of a new message's life, pushed when it is reached."""
        build = BODIES.get(provider)
        if build is None or msg.kind != "message":
            return
        for offset_s, raw in msg.life:
            if raw != PENDING[provider]:
                at_s = msg.created_s + offset_s
                self._add(Delivery(at_s, next(self._seq), provider, credential, build(credential, msg, raw, at_s)))

    def _add(self, delivery: Delivery) -> None:
        heapq.heappush(self._heap, delivery)

    async def run(self) -> None:
        """Deliver what is due, forever (cancelled with the server)."""
        try:
            while True:
                now = self.clock()
                while self._heap and self._heap[0].due_s <= now and len(self._sending) < CONCURRENCY:
                    self._start(heapq.heappop(self._heap), now)
                await asyncio.sleep(TICK_S)
        finally:
            for task in list(self._sending):
                task.cancel()

    def _start(self, delivery: Delivery, now: float) -> None:
        """Draw the faults of a first attempt, then send (or queue) the push."""
        policy = self.policy()
        config, rng = policy.config, policy.rng
        if not delivery.drawn:
            delivery.drawn = True
            if config.push_reorder and rng.random() < config.push_reorder:
                self.stats["reordered"] += 1
                delivery.due_s = now + config.push_reorder_s
                return self._add(delivery)
            if config.push_unknown and rng.random() < config.push_unknown:
                self.stats["unknown"] += 1
                self._send(self._unknown(delivery))
            if config.push_duplicate and rng.random() < config.push_duplicate:
                self.stats["duplicated"] += 1
                self._send(self._copy(delivery, now, 0))
            if config.push_resend and rng.random() < config.push_resend:
                self.stats["resent"] += 1
                self._add(self._copy(delivery, now + config.push_resend_s, 0))
        self._send(delivery)

    def _copy(self, delivery: Delivery, due_s: float, attempt: int, body: dict[str, Any] | None = None) -> Delivery:
        return Delivery(due_s, next(self._seq), delivery.provider, delivery.credential, body or delivery.body,
                        attempt, drawn=True)  # fmt: skip

    def _unknown(self, delivery: Delivery) -> Delivery:
        body = json.loads(json.dumps(delivery.body))
        if delivery.provider == "greenapi":
            body["idMessage"] = "UNKNOWN" + uuid.uuid4().hex[:12].upper()
        else:
            body["msg_data"]["msg_id"] = 900_000_000 + int(uuid.uuid4().int % 99_999_999)
        return self._copy(delivery, delivery.due_s, 0, body)

    def _send(self, delivery: Delivery) -> None:
        config = self.policy().config
        target = config.push.get(delivery.credential)
        if target is None:
            if delivery.credential in config.notifications:
                self._enqueue(delivery)
            else:
                self.stats["no_target"] += 1
            return
        task = asyncio.ensure_future(self._post(delivery, target))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _enqueue(self, delivery: Delivery) -> None:
        account = self.registry().account(delivery.provider, delivery.credential)
        if account is None:
            self.stats["no_target"] += 1
            return
        account.notifications.append((next(self._receipts), delivery.body))
        self.stats["queued"] += 1
        self._event(delivery.credential).set()

    async def _post(self, delivery: Delivery, target: dict[str, str]) -> None:
        config = self.policy().config
        try:
            status = await asyncio.wait_for(post(target, delivery.body), config.push_timeout_s)
        except (TimeoutError, OSError, ValueError):
            status = 0
        self.stats[f"answered:{status}"] += 1
        if status != 200 and 0 < delivery.attempt < config.push_attempts:
            self._add(self._copy(delivery, self.clock() + config.push_resend_s, delivery.attempt + 1))

    # -- the notification queue ------------------------------------------------------------------

    def _event(self, instance: str) -> asyncio.Event:
        event = self._arrived.get(instance)
        if event is None:
            event = self._arrived[instance] = asyncio.Event()
        return event

    async def wait_for(self, instance: str, timeout_s: float) -> None:
        """receiveNotification's long poll: until the queue has one or `timeout_s` passes."""
        account = self.registry().account("greenapi", instance)
        if account is None or account.notifications:
            return
        event = self._event(instance)
        event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)

    def snapshot(self) -> dict[str, Any]:
        queued = sum(len(a.notifications) for a in self.registry().accounts.values())
        return {**self.stats, "scheduled": len(self._heap), "sending": len(self._sending), "queued_now": queued}


async def post(target: dict[str, str], body: dict[str, Any]) -> int:
    """One JSON POST over a fresh connection (`Connection: close`); the answer's status."""
    url = urlsplit(target["url"])
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"push url must be http://host:port/path, got {target['url']!r}")
    payload = json.dumps(body).encode()
    headers = [f"POST {url.path or '/'} HTTP/1.1", f"Host: {url.netloc}", "Content-Type: application/json",
               f"Content-Length: {len(payload)}", "Connection: close"]  # fmt: skip
    if target.get("token"):
        headers.append(f"Authorization: Bearer {target['token']}")
    reader, writer = await asyncio.open_connection(url.hostname, url.port or 80)
    try:
        writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.split()
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
