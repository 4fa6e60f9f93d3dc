"""Deliveries to callbacks, driven by hand: the real Redis (the scripts use Lua's cjson), a
loopback receiver in this process (``worker.receiver``), the Notifier called directly."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from config import Settings
from worker.keys import Keys
from worker.notify.guard import Guard, Refused
from worker.notify.notifier import Notifier, delivery_state
from worker.notify.signing import signature_header, verify
from worker.notify.webhook import Webhooks
from worker.receiver import Receiver
from worker.redact import Redactor
from worker.states import Observation, State
from worker.store import Store
from worker.tracking import parse_track_request

SECRET = "whsec-test-6c1f0b"
R = State.READ
SETTINGS = Settings(
    callback_secrets=(SECRET,), callback_allow_networks=("127.0.0.0/8",), notify_backoff_s=0.01,
    notify_max_backoff_s=0.05, notify_timeout_s=0.5, notify_retry_s=30,
)  # fmt: skip


@pytest.fixture
def store(real_redis: redis.Redis, namespace: str) -> Store:
    return Store(real_redis, Keys(namespace), retention_s=60, events_maxlen=1000)


def notifier(store: Store, settings: Settings = SETTINGS) -> Notifier:
    webhooks = Webhooks(settings.callback_secrets, Guard(settings.callback_allow_networks), settings.notify_timeout_s)
    return Notifier(settings, store.redis, store.keys, Redactor([SECRET]), webhooks, draw=lambda: 0.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def track(store: Store, msg_id: str, **options: Any) -> str:
    kwargs = {"provider": "wamm", "account": "shop", "msg_id": msg_id, **options}
    tid = f"wamm:shop:{msg_id}"
    store.register(tid, parse_track_request(kwargs, None, 3600), R, 0)
    return tid


def life(store: Store, tid: str) -> None:
    for state in (State.SENT, State.DELIVERED, State.READ):
        store.observe(tid, Observation(state, state.value), ceiling=R, next_delay_s=0)


def drain(n: Notifier, publish: Any = None, rounds: int = 200) -> None:
    """Claim and deliver until nothing is due any more (bounded)."""
    for _ in range(rounds):
        ids = n.claim(100)
        for tid in ids:
            n.deliver(tid, publish)
        if not ids and n.redis.zcard(n.keys.notify.due) == 0:
            return
        time.sleep(0.01)
    raise AssertionError("deliveries did not drain")


# -- the guard ---------------------------------------------------------------------------


def resolving(mapping: dict[str, list[str]]) -> Any:
    def resolver(host: str, port: int) -> list[tuple[Any, ...]]:
        return [(2, 1, 6, "", (address, port)) for address in mapping.get(host, [host])]

    return resolver


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"), ("10.0.0.1", "private"), ("169.254.169.254", "cloud metadata"),
        ("::1", "loopback"), ("::ffff:10.0.0.1", "private"), ("fe80::1", "link-local"),
        ("hooks.example", "private"), ("metadata.example", "cloud metadata"), ("local.example", "loopback"),
        ("2002:a9fe:a9fe::", "cloud metadata"), ("2002:7f00:1::", "loopback"), ("2002:a00:1::1", "private"),
        ("fec0::1", "site-local"), ("64:ff9b::7f00:1", "loopback"), ("64:ff9b::a00:1", "private"),
    ],
)  # fmt: skip
def test_a_callback_host_that_is_not_public_is_refused(host: str, kind: str) -> None:
    names = {"hooks.example": ["93.184.216.34", "10.0.0.1"], "metadata.example": ["169.254.169.254"],
             "local.example": ["127.0.0.1"]}  # fmt: skip
    with pytest.raises(Refused, match=kind) as refused:
        Guard(resolver=resolving(names)).addresses(host, 443)
    assert "STATUSWATCH_CALLBACK_ALLOW_NETWORKS" in str(refused.value)


def test_public_hosts_pass_and_an_allowed_network_lets_loopback_through() -> None:
    guard = Guard(resolver=resolving({"hooks.example": ["93.184.216.34"]}))
    assert guard.addresses("hooks.example", 443) == ["93.184.216.34"]
    for public in ("2002:5db8:d822::1", "2606:4700::1111"):  # 6to4 of a public IPv4, a public IPv6
        assert Guard(resolver=resolving({})).addresses(public, 443) == [public]
    assert Guard(["127.0.0.0/8"], resolver=resolving({})).addresses("127.0.0.1", 80) == ["127.0.0.1"]
    with pytest.raises(Refused):
        Guard(["127.0.0.0/8"], resolver=resolving({})).addresses("10.0.0.1", 80)


def test_a_refused_url_gives_up_at_once_and_is_recorded(store: Store) -> None:
    names = resolving({"hooks.example": ["10.0.0.1"]})
    n = notifier(store)
    n.webhooks = Webhooks((SECRET,), Guard(resolver=names), 1.0)
    tid = track(store, "1", callback_url="https://hooks.example/in")
    store.untrack(tid)
    drain(n)
    state = delivery_state(store.redis, store.keys, tid)
    assert state is not None and state["given_up"] == 1 and state["pending"] == 0
    assert "10.0.0.1, a private address" in state["last_error"]


# -- signing -----------------------------------------------------------------------------


def test_the_signature_verifies_and_a_tampered_body_or_old_stamp_does_not() -> None:
    body = b'{"event_id":"1-0"}'
    header = signature_header([SECRET, "old-secret"], body, timestamp=int(time.time()))
    assert header.count("v1=") == 2
    assert verify(header, body, SECRET) and verify(header, body, "old-secret")
    assert not verify(header, body + b" ", SECRET)
    assert not verify(header, body, "another")
    stale = signature_header([SECRET], body, timestamp=int(time.time()) - 301)
    assert not verify(stale, body, SECRET)


# -- deliveries --------------------------------------------------------------------------


def test_every_event_reaches_the_receiver_in_order_signed(store: Store, receiver: Receiver) -> None:
    tid = track(store, "10", callback_url=receiver.url, meta={"order": 1})
    life(store, tid)
    drain(notifier(store))
    got = [r.event for r in receiver.delivered]
    assert [(e["state"], e["outcome"]) for e in got] == [("sent", "active"), ("delivered", "active"),
                                                         ("read", "settled")]  # fmt: skip
    assert all(e["meta"] == {"order": 1} for e in got)
    assert all(verify(r.signature, r.body, SECRET) and r.event_id == r.event["event_id"] for r in receiver.delivered)
    assert store.redis.llen(store.keys.notify.outbox(tid)) == 0 and store.redis.zcard(store.keys.notify.due) == 0
    state = delivery_state(store.redis, store.keys, tid)
    assert state is not None and (state["delivered"], state["last_event"]) == (3, got[-1]["event_id"])


def test_failures_are_retried_and_the_order_holds(store: Store) -> None:
    with Receiver(fail_first=3, failures=("500", "reset", "429", "hang"), hang_s=1.0) as receiver:
        ids = [track(store, str(100 + i), callback_url=receiver.url) for i in range(5)]
        for tid in ids:
            life(store, tid)
        drain(notifier(store, dataclasses.replace(SETTINGS, notify_timeout_s=0.2)), rounds=2000)
        by_tracker: dict[str, list[str]] = {}
        for r in receiver.delivered:
            by_tracker.setdefault(r.event["tracker"], []).append(r.event["state"])
        assert by_tracker == {tid: ["sent", "delivered", "read"] for tid in ids}
        assert receiver.count >= 4 * 15
    assert int(store.redis.hget(store.keys.stats, "notify:retried") or 0) >= 45


def test_a_refusing_receiver_is_given_up_on_and_recorded(store: Store) -> None:
    with Receiver(status=404) as receiver:
        tid = track(store, "20", callback_url=receiver.url)
        life(store, tid)
        drain(notifier(store))
        assert len(receiver.attempts) == 3  # each event once: a 404 is not retried
    state = delivery_state(store.redis, store.keys, tid)
    assert state is not None and state["given_up"] == 3 and "HTTP 404" in state["last_error"]
    assert int(store.redis.hget(store.keys.stats, "notify:given_up") or 0) == 3


def test_past_the_retry_time_an_event_is_given_up_and_the_next_goes(store: Store) -> None:
    settings = dataclasses.replace(SETTINGS, notify_retry_s=0.2)
    with Receiver(fail_first=1000, failures=("503",)) as receiver:
        tid = track(store, "30", callback_url=receiver.url)
        store.untrack(tid)
        drain(notifier(store, settings), rounds=2000)
    state = delivery_state(store.redis, store.keys, tid)
    assert state is not None and state["given_up"] == 1 and "gave up after" in state["last_error"]


def test_a_callback_task_gets_the_event_and_a_broker_error_is_retried(store: Store) -> None:
    sent: list[tuple[str, dict[str, Any], str]] = []
    failures = iter([True, False, False, False, True, False])

    def publish(task: str, kwargs: dict[str, Any], queue: str) -> None:
        if next(failures, False):
            raise ConnectionError("broker away")
        sent.append((task, kwargs, queue))

    tid = track(store, "40", callback_task="billing.on_status", callback_queue="billing")
    life(store, tid)
    drain(notifier(store), publish)
    assert [(t, q) for t, _, q in sent] == [("billing.on_status", "billing")] * 3
    assert [kw["event"]["state"] for _, kw, _ in sent] == ["sent", "delivered", "read"]


def test_both_callbacks_and_a_task_sent_once_while_its_webhook_is_retried(store: Store) -> None:
    sent: list[str] = []
    with Receiver(fail_first=2, failures=("500",)) as receiver:
        tid = track(store, "50", callback_task="billing.on", callback_url=receiver.url)
        store.untrack(tid)
        drain(notifier(store), lambda task, kw, q: sent.append(kw["event"]["event_id"]))
        assert len(receiver.delivered) == 1 and len(receiver.attempts) == 3
    assert sent == [receiver.delivered[0].event_id]


def test_one_holder_at_a_time(store: Store, receiver: Receiver) -> None:
    tid = track(store, "60", callback_url=receiver.url)
    store.untrack(tid)
    n = notifier(store)
    keys = store.keys
    begun = n._begin(
        (
            keys.notify.outbox(tid),
            keys.notify.delivery(tid),
            keys.tracker(tid),
            keys.notify.due,
            keys.notify.since,
            keys.stats,
        ),
        (tid, "holder", 60_000),
    )
    assert begun[0] == "go"
    assert n.deliver(tid, None).status == "busy"
    assert receiver.attempts == []


def test_an_attempt_that_never_reported_is_counted_when_it_goes_again(store: Store, receiver: Receiver) -> None:
    tid = track(store, "70", callback_url=receiver.url)
    store.untrack(tid)
    n = notifier(store)
    keys = store.keys
    n._begin(
        (
            keys.notify.outbox(tid),
            keys.notify.delivery(tid),
            keys.tracker(tid),
            keys.notify.due,
            keys.notify.since,
            keys.stats,
        ),
        (tid, "dead-worker", 1),
    )  # its worker dies: the 1 ms lease runs out
    time.sleep(0.01)
    assert n.deliver(tid, None).results == {"delivered": 1}
    assert store.redis.hget(keys.stats, "notify:redelivered") == "1"


def test_without_a_secret_webhooks_wait(store: Store, receiver: Receiver) -> None:
    n = notifier(store, dataclasses.replace(SETTINGS, callback_secrets=()))
    n.webhooks = Webhooks((), Guard(["127.0.0.0/8"]), 1.0)
    tid = track(store, "80", callback_url=receiver.url)
    store.untrack(tid)
    assert n.deliver(tid, None).results == {"retry": 1}
    assert receiver.attempts == []
    state = delivery_state(store.redis, store.keys, tid)
    assert state is not None and "STATUSWATCH_CALLBACK_SECRET" in state["last_error"] and state["pending"] == 1


class Recording:
    """A Webhooks stand-in: records the delivery's lease end at each post, answers 2xx."""

    def __init__(self, store: Store, tid: str) -> None:
        self.store, self.tid, self.lease_ends = store, tid, []  # type: list[int]

    def post(self, url: str, event_id: str, body: bytes) -> Any:
        from worker.notify.webhook import Outcome

        until = self.store.redis.hget(self.store.keys.notify.delivery(self.tid), "lease_until")
        self.lease_ends.append(int(until))
        return Outcome("delivered", kind="2xx")


def test_the_lease_is_renewed_after_the_callback_task_before_the_webhook(store: Store, receiver: Receiver) -> None:
    tid = track(store, "90", callback_task="billing.on", callback_url=receiver.url)
    store.untrack(tid)
    n = notifier(store)
    n.webhooks = recording = Recording(store, tid)  # type: ignore[assignment]
    delivery = store.keys.notify.delivery(tid)

    def slow_publish(task: str, kwargs: dict[str, Any], queue: str) -> None:
        # the publish took nearly all of the lease
        store.redis.hset(delivery, "lease_until", int(time.time() * 1000) + 5)

    assert n.deliver(tid, slow_publish).results == {"delivered": 1}
    assert recording.lease_ends[0] >= time.time() * 1000 + n.lease_ms - 1000


def test_a_lease_lost_during_the_callback_task_sends_no_webhook(store: Store, receiver: Receiver) -> None:
    tid = track(store, "91", callback_task="billing.on", callback_url=receiver.url)
    store.untrack(tid)
    n = notifier(store)

    def outlasting_publish(task: str, kwargs: dict[str, Any], queue: str) -> None:
        store.redis.hset(store.keys.notify.delivery(tid), "lease", "another-worker")

    n.deliver(tid, outlasting_publish)
    assert receiver.attempts == []


# -- backoff -----------------------------------------------------------------------------


def backoff_of(store: Store, draw: float) -> Notifier:
    settings = dataclasses.replace(SETTINGS, notify_backoff_s=1.0, notify_max_backoff_s=600.0)
    n = notifier(store, settings)
    n.draw = lambda: draw
    return n


def test_the_backoff_doubles_with_jitter_between_half_and_all_and_stops_at_the_top(store: Store) -> None:
    low, high = backoff_of(store, 0.0), backoff_of(store, 1.0)
    assert [low.backoff_s(a) for a in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [high.backoff_s(a) for a in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_of(store, 0.5).backoff_s(3) == 3.0
    assert low.backoff_s(30) == 300.0 and high.backoff_s(30) == 600.0  # 2^29 s capped at 600


def test_retry_after_is_followed_clamped_and_never_undoes_the_backoff(store: Store) -> None:
    n = backoff_of(store, 1.0)
    assert n.backoff_s(1, 30.0) == 30.0  # longer than the backoff: followed
    assert n.backoff_s(1, 10**9) == 600.0  # clamped to notify_max_backoff_s
    assert n.backoff_s(6, 0.0) == 16.0  # Retry-After: 0 at attempt 6: half the 32 s backoff
    assert n.backoff_s(6, -5.0) == 16.0
    assert n.backoff_s(1, 0.0) == 0.5


def test_a_receiver_answering_retry_after_0_is_still_backed_off(store: Store) -> None:
    settings = dataclasses.replace(SETTINGS, notify_backoff_s=0.2, notify_max_backoff_s=10.0)
    with Receiver(fail_first=1000, failures=("429",)) as receiver:  # 429 with Retry-After: 0
        tid = track(store, "95", callback_url=receiver.url)
        store.untrack(tid)
        n = notifier(store, settings)
        end = time.monotonic() + 0.4
        while time.monotonic() < end:  # the beat, every 10 ms
            for claimed in n.claim(10):
                n.deliver(claimed, None)
            time.sleep(0.01)
        # the delays are at least half the backoff: 0.05, 0.1, 0.2 s (jitter drawn 0)
        assert 1 <= len(receiver.attempts) <= 4


# -- the beat task -----------------------------------------------------------------------


def test_deliver_tasks_expire_a_lease_after_they_are_sent(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    import types

    from tasks import notify as notify_tasks

    n = notifier(store)
    ids = [track(store, str(300 + i), callback_task="billing.on") for i in range(2)]
    for tid in ids:
        store.untrack(tid)
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(notify_tasks, "get_engine", lambda: types.SimpleNamespace(notifier=n))
    monkeypatch.setattr(notify_tasks.app, "producer_or_acquire", lambda: contextlib.nullcontext(None))
    monkeypatch.setattr(notify_tasks.deliver_task, "apply_async", lambda **kw: sent.append(kw))
    assert notify_tasks.notify_task() == {"claimed": 2}
    assert sorted(kw["args"][0] for kw in sent) == sorted(ids)
    assert all(kw["expires"] == n.lease_ms / 1000 for kw in sent)


# -- an event keeps the callbacks it was emitted for -------------------------------------


def test_an_event_is_delivered_after_its_tracker_hash_expired(store: Store, receiver: Receiver) -> None:
    tid = track(store, "400", callback_url=receiver.url)
    store.untrack(tid)
    store.redis.delete(store.keys.tracker(tid))  # the retention ran out before the delivery
    drain(notifier(store))
    assert [r.event["outcome"] for r in receiver.delivered] == ["cancelled"]
    state = delivery_state(store.redis, store.keys, tid)
    assert state is not None and (state["delivered"], state["given_up"]) == (1, 0)


def test_a_tracker_tracked_again_with_another_url_gets_only_its_new_events_there(store: Store) -> None:
    with Receiver() as old, Receiver() as new:
        tid = track(store, "401", callback_url=old.url)
        store.untrack(tid)
        store.redis.delete(store.keys.tracker(tid))
        track(store, "401", callback_url=new.url)
        store.untrack(tid)
        drain(notifier(store))
        assert len(old.delivered) == 1 and len(new.delivered) == 1
        assert old.delivered[0].event_id < new.delivered[0].event_id


# -- a dead receiver: the retry time and the outbox's bounds --------------------------------


def test_a_dead_receiver_gives_up_on_all_of_a_trackers_events_within_one_retry_time(store: Store) -> None:
    settings = dataclasses.replace(SETTINGS, notify_retry_s=1.0)
    with Receiver(fail_first=10**6, failures=("503",)) as receiver:
        tid = track(store, "500", callback_url=receiver.url)
        life(store, tid)  # three events at once
        started = time.monotonic()
        drain(notifier(store, settings), rounds=5000)
        elapsed = time.monotonic() - started
    state = delivery_state(store.redis, store.keys, tid)
    assert state is not None and state["given_up"] == 3 and state["delivered"] == 0
    assert elapsed < 2.2  # one retry time for all three, not one each (3 s)


def test_the_outbox_expires_and_is_capped_the_oldest_given_up_and_counted(real_redis: redis.Redis,
                                                                          namespace: str) -> None:  # fmt: skip
    store = Store(real_redis, Keys(namespace), retention_s=60, events_maxlen=1000, notify_retry_s=100, outbox_max=2)
    tid = track(store, "501", callback_url="http://127.0.0.1:9/hook")
    life(store, tid)  # three events: the first is given up
    outbox = store.keys.notify.outbox(tid)
    entries = [json.loads(e) for e in store.redis.lrange(outbox, 0, -1)]
    assert [e["state"] for e in entries] == ["delivered", "read"]
    assert 150_000 <= store.redis.pttl(outbox) <= 160_000  # retention + retry time
    stats = store.redis.hgetall(store.keys.stats)
    assert (stats.get("notify:given_up"), stats.get("notify:overflowed")) == ("1", "1")
    since = store.redis.zscore(store.keys.notify.since, tid)
    assert since == int(entries[0]["event_id"].split("-")[0])


def test_the_delivery_state_keeps_a_ttl_on_every_path(store: Store) -> None:
    with Receiver(fail_first=1, failures=("503",)) as receiver:
        tid = track(store, "502", callback_url=receiver.url)
        store.untrack(tid)
        n = notifier(store)
        delivery = store.keys.notify.delivery(tid)
        assert n.deliver(tid, None).results == {"retry": 1}
        assert store.redis.pttl(delivery) > 0  # retried: the outbox's time and the retention
        time.sleep(0.1)
        assert n.deliver(tid, None).results == {"delivered": 1}
        assert 0 < store.redis.pttl(delivery) <= n.retention_ms  # the outbox is empty: the retention


def test_a_refusals_words_are_redacted_in_the_stored_error_and_the_log(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.unit.test_webhook import Answering

    with Answering(400, lambda h: f"bad signature, expected key {SECRET}".encode()) as server:
        tid = track(store, "600", callback_url=f"http://127.0.0.1:{server.port}/in")
        store.untrack(tid)
        with caplog.at_level("WARNING", logger="statuswatch"):
            drain(notifier(store))
    state = delivery_state(store.redis, store.keys, tid)
    assert state is not None and state["given_up"] == 1 and "bad signature" in state["last_error"]
    assert SECRET not in state["last_error"] and "***" in state["last_error"]
    assert caplog.records and not any(SECRET in r.getMessage() for r in caplog.records)


# -- the per-host cap --------------------------------------------------------------------


def test_a_slow_receiver_at_its_cap_does_not_hold_up_a_fast_one(store: Store) -> None:
    import threading

    settings = dataclasses.replace(SETTINGS, notify_timeout_s=3.0, notify_url_concurrency=1)
    n = notifier(store, settings)
    with Receiver(delay_s=1.0) as slow, Receiver() as fast:
        first, second = (track(store, str(700 + i), callback_url=slow.url) for i in range(2))
        quick = track(store, "710", callback_url=fast.url)
        for tid in (first, second, quick):
            store.untrack(tid)
        held = threading.Thread(target=n.deliver, args=(first, None))
        held.start()  # takes the slow host's one place for a second
        time.sleep(0.2)
        started = time.monotonic()
        assert n.deliver(second, None).results == {"wait": 1}  # the slow host is at its cap
        assert n.deliver(quick, None).results == {"delivered": 1}
        took = time.monotonic() - started
        held.join(timeout=5)
        assert took < 0.5 and len(fast.delivered) == 1
        assert len(slow.delivered) == 1 and len(slow.attempts) == 1  # the second waited, unsent
