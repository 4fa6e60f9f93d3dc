"""``worker.misrouted.find`` against the real brokers: it counts statuswatch tasks where no
statuswatch worker reads, and only those, without consuming anything."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from kombu import Connection, Queue

from config import load_settings
from tests.conftest import REDIS_URL
from worker.doctor import _misrouted
from worker.keys import delete_prefix
from worker.misrouted import find

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"swtest-{uuid.uuid4().hex[:10]}-broker:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    delete_prefix(client, prefix)
    client.close()


def test_redis_counts_statuswatch_tasks_on_every_bound_queue_but_ours(prefix: str) -> None:
    app = Celery("another-service", broker=REDIS_URL, set_as_current=False)
    app.conf.broker_transport_options = {"global_keyprefix": prefix}
    for _ in range(3):
        app.send_task("statuswatch.track", kwargs={"provider": "wamm"})  # the default queue: celery
    app.send_task("statuswatch.track_many", kwargs={"items": []}, queue="billing", priority=7)
    app.send_task("billing.invoice", kwargs={}, queue="billing")  # the service's own: not counted
    app.send_task("statuswatch.track", kwargs={}, queue="statuswatch.track")  # right: not counted
    app.close()
    settings = load_settings({"STATUSWATCH_BROKER_URL": REDIS_URL, "STATUSWATCH_BROKER_KEY_PREFIX": prefix})
    found = {f.queue: (f.count, f.exact) for f in find(settings)}
    assert found == {"billing": (1, True), "celery": (3, True)}  # billing found by its kombu binding
    client = redis.Redis.from_url(REDIS_URL)
    assert client.llen(f"{prefix}celery") == 3 and client.llen(f"{prefix}billing") == 1  # nothing consumed
    client.close()


def test_rabbitmq_gives_the_depth_and_consumers_of_the_watched_queues() -> None:
    name = f"swtest-{uuid.uuid4().hex[:10]}"
    # publisher confirms: each publish returns once the broker has the message, so the depth
    # read next counts all three (without, it once read 1)
    with Connection(RABBITMQ_URL, connect_timeout=5, transport_options={"confirm_publish": True}) as conn:
        queue = Queue(name, routing_key=name, auto_delete=False)
        with conn.Producer() as producer:
            for _ in range(3):
                producer.publish({"x": 1}, routing_key=name, declare=[queue], serializer="json")
        try:
            settings = load_settings(
                {"STATUSWATCH_BROKER_URL": RABBITMQ_URL, "STATUSWATCH_WATCH_QUEUES": f"{name},swtest-no-such-queue"}
            )
            [finding] = find(settings)
            assert dataclasses.astuple(finding) == (name, 3, False, 0)
            [verdict] = _misrouted(settings)
            assert verdict.level == "warn" and f"3 message(s) wait on queue '{name}'" in verdict.detail
        finally:
            queue.bind(conn.default_channel).delete()
