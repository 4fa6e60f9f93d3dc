"""Publishing through kombu's Redis transport reuses one client per channel, and still works."""

from __future__ import annotations

import uuid

import redis
from kombu import Connection

from tests.conftest import REDIS_URL
from worker.broker import reuse_publish_clients
from worker.keys import delete_prefix


def test_a_channel_publishes_every_message_through_one_client() -> None:
    reuse_publish_clients()
    reuse_publish_clients()  # idempotent
    prefix = f"swtest-{uuid.uuid4().hex[:10]}-broker:"
    with Connection(REDIS_URL, transport_options={"global_keyprefix": prefix}) as conn:
        channel = conn.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
        queue = conn.SimpleQueue("q")
        for i in range(3):
            queue.put({"n": i})
        assert [queue.get(timeout=2).payload["n"] for _ in range(3)] == [0, 1, 2]
        queue.close()
    client = redis.Redis.from_url(REDIS_URL)
    delete_prefix(client, prefix)
    assert not list(client.scan_iter(match=f"{prefix}*"))
    client.close()
