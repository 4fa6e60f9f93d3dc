"""A kombu Redis channel whose broker connection is closed fails with a connection error
(which Celery's cleanup ignores), not AttributeError (which stops the worker)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from kombu import Connection
from kombu.transport import redis as kombu_redis

from tests.conftest import REDIS_URL, delete_prefix
from worker.broker import reuse_publish_clients, survive_closed_connections

pytestmark = pytest.mark.reliability


@pytest.fixture
def connection() -> Iterator[Connection]:
    reuse_publish_clients()
    survive_closed_connections()
    survive_closed_connections()  # idempotent
    prefix = f"swtest-{uuid.uuid4().hex[:10]}-broker:"
    conn = Connection(REDIS_URL, transport_options={"global_keyprefix": prefix})
    yield conn
    conn.release()
    client = redis.Redis.from_url(REDIS_URL)
    delete_prefix(client, prefix)
    client.close()


def test_a_collected_connection_leaves_a_channel_that_raises_a_connection_error(connection: Connection) -> None:
    channel = connection.default_channel
    queue = connection.SimpleQueue("q")
    queue.put({"n": 1})
    message = queue.get(timeout=2)  # delivered, not acknowledged
    assert channel.qos._delivered
    channel._disconnect_pools()  # as Channel.close does before handing messages back
    connection._do_close_transport()  # as Connection.collect does at the end (transport.client = None)

    with pytest.raises(redis.ConnectionError), channel.conn_or_acquire():
        pass
    assert isinstance(redis.ConnectionError("x"), connection.connection_errors)
    with pytest.raises(redis.ConnectionError):
        channel.qos.restore_unacked()  # what the second close would do: now a connection error
    assert message.delivery_tag in channel.qos._delivered  # left for the visibility timeout


def test_a_channel_with_its_connection_still_connects(connection: Connection) -> None:
    channel = connection.default_channel
    channel._disconnect_pools()
    with channel.conn_or_acquire() as client:
        assert client.ping()


def test_the_patch_is_kombus_connparams_wrapped_once() -> None:
    survive_closed_connections()
    assert getattr(kombu_redis.Channel._connparams, "_statuswatch", False)
