"""The event object: what the scripts write on the stream and, for a tracker with a
callback, in its outbox; one documented object either way (real Redis: the outbox is
written with Lua's cjson)."""

from __future__ import annotations

import json
import time

import pytest
import redis

from worker.events import FIELDS, event_object, from_outbox
from worker.fleet import Fleet
from worker.keys import Keys
from worker.states import Observation, State
from worker.store import Store
from worker.tracking import parse_track_request

R = State.READ
TID = "greenapi:green:BAE5"


@pytest.fixture
def store(real_redis: redis.Redis, namespace: str) -> Store:
    return Store(real_redis, Keys(namespace), retention_s=60, events_maxlen=1000)


def track(store: Store, tid: str = TID, **options: object) -> None:
    provider, account, msg_id = tid.split(":")
    kwargs = {"provider": provider, "account": account, "msg_id": msg_id, **options}
    if provider == "greenapi":
        kwargs.setdefault("chat_id", "79001234567@c.us")
    store.register(tid, parse_track_request(kwargs, None, 3600), R, 0)


def stream(store: Store) -> list[dict[str, object]]:
    return [event_object(e["id"], e) for e in Fleet(store.redis, store.keys).events()]


def test_an_event_has_every_documented_field(store: Store) -> None:
    track(store, kind="status_post", meta={"order": 7, "tags": ["a"]})
    post = Observation(State.DELIVERED, "delivered", detail={"1@c.us": "read", "2@c.us": "delivered"},
                       provider_ts=1587129319.0)  # fmt: skip
    store.observe(TID, post, ceiling=R, next_delay_s=0)
    [event] = stream(store)
    assert list(event) == list(FIELDS)
    assert event["tracker"] == TID and (event["provider"], event["account"], event["msg_id"]) == tuple(TID.split(":"))
    assert (event["state"], event["previous"], event["raw_state"], event["outcome"]) == (
        "delivered", "pending", "delivered", "active")  # fmt: skip
    assert event["provider_ts"] == 1587129319.0
    assert isinstance(event["observed_at"], float) and event["observed_at"] > 1.7e9
    assert event["detail"] == {"1@c.us": "read", "2@c.us": "delivered"}
    assert event["meta"] == {"order": 7, "tags": ["a"]}
    assert event["reason"] is None and event["error"] is None
    assert isinstance(event["event_id"], str) and "-" in str(event["event_id"])


def test_no_outbox_without_a_callback(store: Store) -> None:
    track(store)
    store.observe(TID, Observation(State.SENT, "sent"), ceiling=R, next_delay_s=0)
    assert store.redis.llen(store.keys.notify.outbox(TID)) == 0
    assert store.redis.zcard(store.keys.notify.due) == 0


@pytest.mark.parametrize("callback", [{"callback_url": "http://127.0.0.1:9/hook"}, {"callback_task": "billing.on"}])
def test_the_outbox_holds_the_streams_events_in_order(store: Store, callback: dict[str, str]) -> None:
    track(store, meta={"k": "v"}, **callback)
    store.observe(TID, Observation(State.SENT, "sent"), ceiling=R, next_delay_s=0)
    store.observe(TID, Observation(State.DELIVERED, "delivered"), ceiling=R, next_delay_s=0)
    store.untrack(TID)
    outbox = [from_outbox(e) for e in store.redis.lrange(store.keys.notify.outbox(TID), 0, -1)]
    assert outbox == stream(store)
    assert [(e["state"], e["outcome"]) for e in outbox] == [
        ("sent", "active"), ("delivered", "active"), ("delivered", "cancelled")]  # fmt: skip
    assert store.redis.zscore(store.keys.notify.due, TID) is not None
    assert store.redis.zscore(store.keys.notify.since, TID) is not None
    assert "callback_url" not in json.dumps(outbox) and "127.0.0.1" not in json.dumps(outbox)


def test_a_timeout_and_a_not_found_carry_their_reason_and_the_gateways_words(store: Store) -> None:
    tid = "wamm:shop:1001"
    track(store, tid, callback_task="billing.on")
    store.observe(tid, None, ceiling=R, next_delay_s=0, error="wamm: msg_state: err 'msg not be'", not_found=True)
    [event] = stream(store)
    assert (event["state"], event["outcome"], event["reason"]) == ("failed", "settled", "not_found")
    assert event["error"] == "wamm: msg_state: err 'msg not be'"

    other = "wamm:shop:1002"
    track(store, other, callback_task="billing.on", expires_in=0.001)
    time.sleep(0.01)
    store.observe(other, None, ceiling=R, next_delay_s=0, error="wamm: GET: timed out")
    last = stream(store)[-1]
    assert (last["tracker"], last["outcome"], last["error"]) == (other, "timed_out", "wamm: GET: timed out")
    assert [from_outbox(e)["outcome"] for e in store.redis.lrange(store.keys.notify.outbox(other), 0, -1)] == [
        "timed_out"
    ]


def test_a_claimed_tracker_past_its_deadline_puts_its_timeout_in_the_outbox(store: Store) -> None:
    tid = "wamm:shop:1003"
    track(store, tid, callback_url="http://127.0.0.1:9/", expires_in=0.001)
    time.sleep(0.01)
    assert store.claim_due("wamm:shop", 10, lease_s=5) == []
    [entry] = store.redis.lrange(store.keys.notify.outbox(tid), 0, -1)
    assert from_outbox(entry)["outcome"] == "timed_out"
