"""The receiveNotification consumer (``worker.push.notifications``) on a fake queue: a
notification is deleted only after it is stored, so a store that fails keeps it queued."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from config import Account
from tests import documented
from worker.keys import Keys
from worker.push.notifications import Consumer
from worker.states import State
from worker.store import Store
from worker.tracking import parse_track_request

ACME = Account("acme", "greenapi", "http://127.0.0.1:1", {"id_instance": "1234", "api_token_instance": "t"},
               notifications=True)  # fmt: skip


class Queue:
    """GREEN-API's FIFO queue: the first notification until it is deleted."""

    def __init__(self, bodies: list[Any]) -> None:
        self.items = list(enumerate(bodies, start=1))
        self.deleted: list[int] = []

    def receive_notification(self, timeout_s: int) -> tuple[int, Any] | None:
        return self.items[0] if self.items else None

    def delete_notification(self, receipt_id: int) -> bool:
        self.deleted.append(receipt_id)
        self.items = [item for item in self.items if item[0] != receipt_id]
        return True


@pytest.fixture
def store(real_redis: redis.Redis, namespace: str) -> Store:
    return Store(real_redis, Keys(namespace), retention_s=60, events_maxlen=1000)


def test_each_notification_is_applied_then_deleted(store: Store) -> None:
    tid = "greenapi:acme:3EB0608D6A2901063D63"
    kw = {"provider": "greenapi", "account": "acme", "msg_id": tid.rsplit(":", 1)[1], "chat_id": "71234567890@c.us"}
    store.register(tid, parse_track_request(kw, None, 3600), State.READ, 60.0)
    queue = Queue([documented.GREENAPI_NOTIFICATION["body"], documented.GREENAPI_STATUS_PUSH, [1],
                   {**documented.GREENAPI_STATUS_PUSH, "instanceData": {"idInstance": 9}}])  # fmt: skip
    consumer = Consumer(store, ACME, queue, 5)
    assert [consumer.step() for _ in range(5)] == ["ignored", "applied", "dropped", "dropped", "empty"]
    assert queue.deleted == [1, 2, 3, 4]
    assert store.get(tid).state is State.FAILED  # type: ignore[union-attr]


def test_a_store_failure_leaves_the_notification_queued(store: Store, namespace: str) -> None:
    down = Store(redis.Redis(port=1, socket_connect_timeout=0.2), Keys(namespace), retention_s=60)
    queue = Queue([documented.GREENAPI_STATUS_PUSH])
    with pytest.raises(redis.exceptions.ConnectionError):
        Consumer(down, ACME, queue, 5).step()
    assert queue.deleted == [] and len(queue.items) == 1
    assert Consumer(store, ACME, queue, 5).step() == "applied"  # read again once the store is back
    assert queue.deleted == [1]
    assert store.redis.hlen(store.keys.push.early) == 1  # nobody tracks it yet: kept for its track request
