"""Consumer groups on the events stream, and the delivery metrics (the real Redis)."""

from __future__ import annotations

import time

import pytest
import redis

from worker.groups import EventGroup, group_lags
from worker.keys import Keys
from worker.notify.metrics import notify_metrics
from worker.states import Observation, State
from worker.store import Store
from worker.tracking import parse_track_request

R = State.READ


@pytest.fixture
def store(real_redis: redis.Redis, namespace: str) -> Store:
    return Store(real_redis, Keys(namespace), retention_s=60, events_maxlen=1000)


def change(store: Store, msg_id: str, **options: object) -> str:
    tid = f"wamm:shop:{msg_id}"
    kwargs = {"provider": "wamm", "account": "shop", "msg_id": msg_id, **options}
    store.register(tid, parse_track_request(kwargs, None, 3600), R, 0)
    store.observe(tid, Observation(State.SENT, "sent"), ceiling=R, next_delay_s=0)
    return tid


def test_each_event_goes_to_one_consumer_and_a_dead_ones_are_reclaimed(store: Store) -> None:
    a = EventGroup(store.redis, store.keys, "billing", "a", min_idle_s=0.05)
    b = EventGroup(store.redis, store.keys, "billing", "b", min_idle_s=0.05)
    for i in range(4):
        change(store, str(i))
    taken = a.read(count=3)
    assert [e["msg_id"] for e in taken] == ["0", "1", "2"] and taken[0]["state"] == "sent"
    assert [e["msg_id"] for e in b.read(count=10)] == ["3"]  # not a's again
    b.ack([])
    time.sleep(0.1)  # a dies without acknowledging: b takes them over, and its own "3"
    again = b.read(count=10)
    assert sorted(e["msg_id"] for e in again) == ["0", "1", "2", "3"]
    assert b.ack(e["event_id"] for e in again) == 4
    assert b.read(count=10) == []
    assert group_lags(store.redis, store.keys)["billing"][0] == 0.0


def test_a_group_from_the_start_sees_old_entries_and_its_backlog_is_measured(store: Store) -> None:
    change(store, "9")
    late = EventGroup(store.redis, store.keys, "late", "c")
    assert late.read() == []  # "$": new entries only
    whole = EventGroup(store.redis, store.keys, "audit", "c", start="0")
    [event] = whole.read()
    time.sleep(0.05)
    age, _ = group_lags(store.redis, store.keys)["audit"]
    assert age >= 0.05 and event["msg_id"] == "9"


def test_the_delivery_metrics(store: Store) -> None:
    change(store, "1", callback_url="http://127.0.0.1:9/")
    EventGroup(store.redis, store.keys, "billing", "a", start="0").read()
    stats = {"notify:delivered": 5, "notify:given_up": 1, "notify:attempts:webhook": 9, "notify:webhook:5xx": 3,
             "notify:overflowed": 2}  # fmt: skip
    families = {f.name: f for f in notify_metrics(store.redis, store.keys, stats, now_s=time.time() + 10)}
    value = {(s.name, tuple(s.labels.values())): s.value for f in families.values() for s in f.samples}
    assert value[("statuswatch_notify_deliveries_total", ("delivered",))] == 5
    assert value[("statuswatch_notify_attempts_total", ("webhook",))] == 9
    assert value[("statuswatch_notify_webhook_answers_total", ("5xx",))] == 3
    assert value[("statuswatch_notify_overflowed_total", ())] == 2
    assert value[("statuswatch_notify_trackers_waiting", ())] == 1
    assert value[("statuswatch_notify_oldest_undelivered_seconds", ())] >= 9.9
    assert value[("statuswatch_events_group_oldest_pending_seconds", ("billing",))] >= 9.9


class Redis62:
    """The real client, but XAUTOCLAIM answers as Redis 6.2 does: an entry deleted (trimmed)
    since it was read comes back as its id with no fields, and stays pending; 7.0 drops it."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)

    def xautoclaim(self, stream: str, group: str, consumer: str, min_idle: int, start: str, count: int) -> list[object]:
        pending = self._client.xpending_range(stream, group, "-", "+", count, idle=min_idle)
        ids = [p["message_id"] for p in pending]
        if not ids:
            return ["0-0", [], []]
        live = [i for i in ids if self._client.xrange(stream, i, i)]
        claimed = dict(self._client.xclaim(stream, group, consumer, min_idle, live)) if live else {}
        return ["0-0", [(i, claimed.get(i, {})) for i in ids], []]


def test_a_trimmed_entry_reclaimed_on_redis_6_2_is_acknowledged(store: Store) -> None:
    client = Redis62(store.redis)
    dead = EventGroup(client, store.keys, "billing", "dead", min_idle_s=0.05)
    for i in range(2):
        change(store, str(i))
    first, second = dead.read(count=10)
    store.redis.xdel(store.keys.events, first["event_id"])  # trimmed while pending
    time.sleep(0.1)
    live = EventGroup(client, store.keys, "billing", "live", min_idle_s=0.05)
    assert [e["event_id"] for e in live.read(count=10)] == [second["event_id"]]
    pending = store.redis.xpending_range(store.keys.events, "billing", "-", "+", 10)
    assert [p["message_id"] for p in pending] == [second["event_id"]]  # the trimmed one is acknowledged
