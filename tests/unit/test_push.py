"""Push ingestion below the receiver: the bodies parsed (tests/documented.py), a push applied
through observe.lua, kept before its track request, and polling's back-off while pushes come;
against the real Redis and fakeredis (the ``store`` fixture)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from config import Account
from tests import documented
from worker.push import ingest
from worker.push.parse import BadPush, Push, greenapi_body, same_instance, wamm_body
from worker.states import Observation, State
from worker.store import Store
from worker.tracking import parse_track_request

GREEN = Account("acme", "greenapi", "http://127.0.0.1:1", {"id_instance": "1234", "api_token_instance": "t"})
WAMM = Account("shop", "wamm", "http://127.0.0.1:1", {"token": "tok"})


def body(**changes: Any) -> dict[str, Any]:
    return {**documented.GREENAPI_STATUS_PUSH, **changes}


# ---------------------------------------------------------------- parsing


def test_the_documented_status_push_is_a_failure_with_its_reason() -> None:
    parsed = greenapi_body(documented.GREENAPI_STATUS_PUSH)
    assert parsed.instance == "1234" and parsed.ignored == ""
    (push,) = parsed.pushes
    assert push.msg_id == "3EB0608D6A2901063D63"
    assert push.observation.state is State.FAILED and push.observation.raw == "noAccount"
    assert push.observation.provider_ts == 1586700802.0
    assert push.reason == "noAccount: SWE004: 1000"


@pytest.mark.parametrize(
    ("status", "state"),
    [("sent", State.SENT), ("delivered", State.DELIVERED), ("read", State.READ), ("failed", State.FAILED),
     ("noAccount", State.FAILED), ("notInGroup", State.FAILED), ("yellowCard", State.FAILED), ("later", None)],
)  # fmt: skip
def test_every_documented_status(status: str, state: State | None) -> None:
    (push,) = greenapi_body(body(status=status, description="")).pushes
    assert push.observation.state is state
    assert push.reason == (status if state is State.FAILED else "")


@pytest.mark.parametrize("status", ["", None])
def test_an_empty_status_is_ignored(status: object) -> None:
    parsed = greenapi_body(body(status=status))
    assert parsed.pushes == [] and parsed.ignored == "empty_status"


def test_other_kinds_are_ignored_by_name() -> None:
    assert greenapi_body(documented.GREENAPI_NOTIFICATION["body"]).ignored == "incomingMessageReceived"
    assert greenapi_body(body(typeWebhook="x" * 300)).ignored == "other"
    assert wamm_body(documented.WAMM_MSG_PUSH).ignored == "msg"


@pytest.mark.parametrize(
    ("bad", "names"),
    [([1], "object"), ({}, "typeWebhook"), (body(idMessage="a b"), "idMessage"), (body(idMessage=None), "idMessage"),
     (body(status=3), "status")],
)  # fmt: skip
def test_a_bad_greenapi_body_names_the_problem(bad: Any, names: str) -> None:
    with pytest.raises(BadPush, match=names):
        greenapi_body(bad)


def test_the_wamm_state_push() -> None:
    (push,) = wamm_body(documented.WAMM_STATE_PUSH).pushes
    assert push.msg_id == "1234567" and push.observation.state is State.DELIVERED
    assert push.observation.provider_ts is not None
    lst = wamm_body({"tip": "msg_state", "msg_data": [{"msg_id": "7", "state": "not sent"}]})
    assert [(p.msg_id, p.observation.state, p.reason) for p in lst.pushes] == [("7", State.FAILED, "not sent")]


@pytest.mark.parametrize(
    ("bad", "names"),
    [({"tip": 1}, "tip"), ({"tip": "msg_state"}, "msg_data"),
     ({"tip": "msg_state", "msg_data": [{}] * 101}, "msg_data"),
     ({"tip": "msg_state", "msg_data": {"msg_id": "x1", "state": "sent"}}, "msg_id"),
     ({"tip": "msg_state", "msg_data": {"msg_id": 1}}, "state")],
)  # fmt: skip
def test_a_bad_wamm_body_names_the_problem(bad: Any, names: str) -> None:
    with pytest.raises(BadPush, match=names):
        wamm_body(bad)


def test_instances_compare_as_text() -> None:
    assert same_instance("1234", "1234") and same_instance(None, "1234") and not same_instance("99", "1234")


# ---------------------------------------------------------------- applying


def track(store: Store, account: Account, msg_id: str, **options: Any) -> str:
    kw = {"provider": account.provider, "account": account.alias, "msg_id": msg_id, **options}
    if account.provider == "greenapi":
        kw.setdefault("chat_id", "79001234567@c.us")
    request = parse_track_request(kw, None, 3600)
    tid = f"{account.provider}:{account.alias}:{msg_id}"
    result = store.register(tid, request, State.READ, 0.0)
    if result.early:
        ingest.apply_early(store, tid, result.early)
    return tid


def push(state: State | None, raw: str, msg_id: str = "M1", reason: str = "") -> Push:
    return Push(msg_id, Observation(state, raw), reason)


def test_a_failure_push_settles_the_tracker_with_its_reason(store: Store) -> None:
    tid = track(store, GREEN, "M1")
    assert ingest.apply(store, GREEN, push(State.SENT, "sent")).changed
    result = ingest.apply(store, GREEN, push(State.FAILED, "noAccount", reason="noAccount: SWE004"))
    assert result.status == "ok" and result.state is State.FAILED
    tracker = store.get(tid)
    assert tracker is not None and tracker.outcome.value == "settled" and tracker.checks == 0
    row = store.redis.hgetall(store.keys.tracker(tid))
    assert row["reason"] == "noAccount: SWE004" and row["pushes"] == "2"
    events = store.redis.xrange(store.keys.events)
    assert [e[1]["state"] for e in events] == ["sent", "failed"]
    assert events[-1][1]["reason"] == "noAccount: SWE004"


def test_resends_and_late_statuses_change_nothing(store: Store) -> None:
    track(store, GREEN, "M1")
    ingest.apply(store, GREEN, push(State.DELIVERED, "delivered"))
    for _ in range(3):
        assert not ingest.apply(store, GREEN, push(State.DELIVERED, "delivered")).changed
    assert not ingest.apply(store, GREEN, push(State.SENT, "sent")).changed  # out of order
    assert len(store.redis.xrange(store.keys.events)) == 1


def test_a_push_before_its_track_request_is_applied_when_it_comes(store: Store) -> None:
    assert ingest.apply(store, GREEN, push(State.DELIVERED, "delivered")).status == "early"
    assert ingest.apply(store, GREEN, push(State.SENT, "sent")).status == "early"  # kept: the further one
    tid = track(store, GREEN, "M1", until="delivered")
    tracker = store.get(tid)
    assert tracker is not None and tracker.state is State.DELIVERED and tracker.outcome.value == "settled"
    assert store.redis.hlen(store.keys.push.early) == 0 and store.redis.zcard(store.keys.push.early_at) == 0


def test_an_early_failure_keeps_its_reason(store: Store) -> None:
    ingest.apply(store, GREEN, push(State.FAILED, "yellowCard", reason="yellowCard"))
    ingest.apply(store, GREEN, push(State.READ, "read"))  # a failure stays
    tid = track(store, GREEN, "M1")
    assert store.redis.hget(store.keys.tracker(tid), "reason") == "yellowCard"
    assert json.loads(json.dumps(store.get(tid).state.value)) == "failed"  # type: ignore[union-attr]


def test_early_pushes_are_bounded_in_count(store: Store) -> None:
    store.push = type(store.push)(early_max=5)
    for i in range(12):
        ingest.apply(store, GREEN, push(State.SENT, "sent", msg_id=f"M{i}"))
    assert store.redis.hlen(store.keys.push.early) == 5
    kept = sorted(store.redis.zrange(store.keys.push.early_at, 0, -1))
    assert kept == sorted(f"greenapi:acme:M{i}" for i in range(7, 12))


def test_early_pushes_are_bounded_in_time(store: Store) -> None:
    store.push = type(store.push)(early_s=0.05)
    ingest.apply(store, GREEN, push(State.SENT, "sent", msg_id="old"))
    time.sleep(0.1)
    ingest.apply(store, GREEN, push(State.SENT, "sent", msg_id="new"))
    assert store.redis.hkeys(store.keys.push.early) == ["greenapi:acme:new"]


def test_polling_backs_off_while_the_account_pushes(store: Store) -> None:
    store.push = type(store.push)(live_s=60, safety_poll_s=500)
    tid = track(store, GREEN, "M1")
    due = store.keys.due("greenapi:acme")
    store.observe(tid, Observation(State.SENT, "sent"), ceiling=State.READ, next_delay_s=1)
    soon = store.redis.zscore(due, "M1")
    ingest.apply(store, GREEN, push(State.SENT, "sent", msg_id="other"))  # the account pushes
    store.observe(tid, Observation(State.SENT, "sent"), ceiling=State.READ, next_delay_s=1)
    later = store.redis.zscore(due, "M1")
    assert later - soon > 400_000
    new = track(store, GREEN, "M2")  # a new tracker of a pushing account starts slow too
    assert store.redis.zscore(due, "M2") - later > -1000 and new


def test_polling_comes_back_when_pushes_stop(store: Store) -> None:
    store.push = type(store.push)(live_s=0.05, safety_poll_s=500)
    tid = track(store, GREEN, "M1")
    ingest.apply(store, GREEN, push(State.SENT, "sent"))
    time.sleep(0.1)
    store.observe(tid, Observation(State.SENT, "sent"), ceiling=State.READ, next_delay_s=1)
    now_ms = time.time() * 1000
    assert store.redis.zscore(store.keys.due("greenapi:acme"), "M1") - now_ms < 5_000


def test_a_push_leaves_a_claim_in_flight(store: Store) -> None:
    track(store, WAMM, "7")
    store.claim_due("wamm:shop", 10, lease_s=30)
    ingest.apply(store, WAMM, push(State.SENT, "sent", msg_id="7"))
    assert store.redis.zcard(store.keys.inflight("wamm:shop")) == 1


def test_the_fleet_knows_which_accounts_push(store: Store) -> None:
    from worker.fleet import Fleet

    fleet = Fleet(store.redis, store.keys)
    assert fleet.pushing(60) == {}
    ingest.apply(store, GREEN, push(State.SENT, "sent"))
    assert set(fleet.pushing(60)) == {"greenapi:acme"}
    assert fleet.pushing(0) == {}


def test_the_push_metrics(store: Store) -> None:
    from worker.fleet import Fleet
    from worker.push.metrics import push_metrics

    stats = {"push:greenapi:statuses": 5, "push:wamm:ignored:msg": 2, "push:refused:401": 1, "push:early": 3}
    families = {f.name: f for f in push_metrics(stats, Fleet(store.redis, store.keys), 60)}
    samples = {(s.name, tuple(sorted(s.labels.values()))): s.value for f in families.values() for s in f.samples}
    assert samples[("statuswatch_pushes_total", ("greenapi", "status"))] == 5
    assert samples[("statuswatch_pushes_total", ("msg", "wamm"))] == 2
    assert samples[("statuswatch_push_refusals_total", ("401",))] == 1
    assert samples[("statuswatch_push_early_total", ())] == 3


def test_housekeeping_brings_polling_back_when_pushes_stop(store: Store) -> None:
    from config import Settings
    from config.push import PushSettings
    from worker.push.revive import Revive

    store.push = PushSettings(live_s=0.05, safety_poll_s=500)
    settings = Settings(push=store.push)
    tid = track(store, GREEN, "M1")
    ingest.apply(store, GREEN, push(State.SENT, "sent"))  # pushed: next check on the safety net
    due = store.keys.due("greenapi:acme")
    assert store.redis.zscore(due, "M1") - time.time() * 1000 > 400_000
    revive = Revive(store.redis, store.keys, settings)
    assert revive.run() == {}  # still pushing
    time.sleep(0.1)
    assert revive.run() == {"greenapi:acme": 1}
    assert store.redis.zscore(due, "M1") - time.time() * 1000 < 3_000
    assert store.redis.hlen(store.keys.push.seen) == 0 and revive.run() == {}
    assert tid
