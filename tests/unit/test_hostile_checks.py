"""Checks against hostile gateways (loopback servers), on the engine and the real Redis:
whatever a gateway answers, a check ends in an outcome and its tracker in a bounded state."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from config import load_settings
from tests.stub import stub_server
from worker.fleet import Fleet
from worker.local import AccountTables, write_accounts
from worker.runtime import Engine

TOKEN = "wamm-tok-hostile-3e1f"


def fleet(engine: Engine) -> Fleet:
    return Fleet(engine.store.redis, engine.store.keys)


@pytest.fixture
def make_engine(tmp_path: Path, namespace: str, real_redis: redis.Redis) -> Iterator[object]:
    def make(url: str, accounts: AccountTables | None = None, **env: str) -> Engine:
        wamm = {"shop": {"provider": "wamm", "token": TOKEN, "base_url": url}}
        accounts_file = write_accounts(tmp_path / "accounts.toml", accounts or wamm)
        settings = load_settings(
            {
                "STATUSWATCH_ACCOUNTS_FILE": str(accounts_file),
                "STATUSWATCH_NAMESPACE": namespace,
                "STATUSWATCH_POLL_FIRST_S": "0",
                "STATUSWATCH_HTTP_TIMEOUT_S": "2",
                "STATUSWATCH_DEFAULT_RATE_LIMIT": "1000/s",  # in-place retries are not turned away
                **env,
            }
        )
        return Engine.from_settings(settings, real_redis)

    yield make


def claim_and_check(engine: Engine, msg_id: str = "1001") -> dict[str, object]:
    tid = f"wamm:shop:{msg_id}"
    assert engine.store.claim_due("wamm:shop", 10, 60) == [tid]
    return engine.checker.check(tid).summary()


@pytest.mark.parametrize("value", ["99999999999", "1e300"])
def test_a_retry_after_is_clamped_to_the_configured_maximum(make_engine, value: str) -> None:
    """99999999999 s cooled a credential down for 3,170 years; 1e300 made Redis refuse the
    cool-down's expiry, and the error escaped the check."""
    with stub_server(lambda seen: (429, b"Too Many Requests", {"Retry-After": value})) as gateway:
        engine = make_engine(gateway.url, STATUSWATCH_MAX_RETRY_AFTER_S="30")
        engine.track({"provider": "wamm", "account": "shop", "msg_id": "1001"})
        result = claim_and_check(engine)
    assert result["reason"] == "cooldown" and result["deferred_s"] == 30
    account = engine.accounts["shop"]  # type: ignore[index]
    cooling_ms = engine.store.redis.pttl(engine.limiter.keys.cooldown(account.credential_key))
    assert 0 < cooling_ms <= 30_000


NESTED = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "answer",
    [
        (200, NESTED),  # RecursionError out of json.loads
        (302, b"", {"Location": "http://[::1"}),  # ValueError out of requests' redirect target
        (429, b"", {"Retry-After": "1e300"}),  # a Redis error writing the cool-down
    ],
    ids=["nested", "bad-location", "retry-after-1e300"],
)
def test_a_hostile_answer_gives_an_outcome_not_an_exception(make_engine, answer: tuple) -> None:
    with stub_server(lambda seen: answer) as gateway:
        engine = make_engine(gateway.url)
        engine.track({"provider": "wamm", "account": "shop", "msg_id": "1001"})
        result = claim_and_check(engine)
    assert result["tracker"] == "wamm:shop:1001" and "deferred_s" in result
    assert engine.store.get("wamm:shop:1001").outcome.value == "active"


def test_an_unexpected_exception_in_a_check_backs_off_counted_and_redacted(make_engine, monkeypatch) -> None:
    """Anything a check raises that is not a provider error is a transient failure: backoff,
    a counter, the redacted error on the tracker; the lease no longer brings it back to fail
    again for ever."""
    with stub_server(lambda seen: (200, {"err": 0, "msg_data": {"state": "sent"}})) as gateway:
        engine = make_engine(gateway.url)
        adapter = engine.gateways.provider(engine.accounts["shop"])  # type: ignore[index]

        def broken(ref: object) -> object:
            raise KeyError(f"no such field in an answer from .../msg_state/{TOKEN}/")

        monkeypatch.setattr(adapter, "fetch", broken)
        engine.track({"provider": "wamm", "account": "shop", "msg_id": "1001"})
        result = claim_and_check(engine)
    assert result["deferred_s"] > 0 and result["outcome"] == "active"
    tracker = engine.store.get("wamm:shop:1001")
    assert tracker.errors == 1 and "KeyError" in tracker.fields["error"] and TOKEN not in tracker.fields["error"]
    assert fleet(engine).stats()["errors:unexpected"] == 1
    assert engine.store.claim_due("wamm:shop", 10, 60) == []  # backed off: not due at once


def test_a_tracker_past_its_deadline_ends_timed_out_when_next_claimed(make_engine) -> None:
    """Its checks never report (each one crashes, or is lost): the lease brings it back, and
    the claim past its deadline ends it, however its checks fare."""
    engine = make_engine("http://127.0.0.1:9", STATUSWATCH_LEASE_S="0.05")
    engine.track({"provider": "wamm", "account": "shop", "msg_id": "1001", "expires_in": 0.3})
    deadline = engine.store.get("wamm:shop:1001").expires_at_ms
    claimed = 0
    for _ in range(100):  # bounded: 100 leases of 50 ms, the deadline comes after 6
        ids = engine.store.claim_due("wamm:shop", 10, engine.settings.lease_s)
        now_s, now_us = engine.store.redis.time()
        if not ids and now_s * 1000 + now_us // 1000 > deadline + 100:
            break
        claimed += len(ids)  # a claim whose check is never run: it crashed the worker
        time.sleep(0.05)
    tracker = engine.store.get("wamm:shop:1001")
    assert tracker.outcome.value == "timed_out" and claimed >= 2
    assert fleet(engine).active_counts() == {} and fleet(engine).due_count() == 0
    assert [e["outcome"] for e in fleet(engine).events()] == ["timed_out"]
    assert fleet(engine).stats()["finished:timed_out"] == 1


def test_a_claimed_member_without_a_tracker_is_dropped(make_engine) -> None:
    engine = make_engine("http://127.0.0.1:9")
    engine.track({"provider": "wamm", "account": "shop", "msg_id": "1001"})
    engine.store.redis.delete(engine.store.keys.tracker("wamm:shop:1001"))  # by hand, or lost
    assert engine.store.claim_due("wamm:shop", 10, 0.01) == []
    assert fleet(engine).due_count() == 0


def test_a_huge_unmapped_state_is_kept_and_logged_cut(make_engine, caplog) -> None:
    huge = "\x1b[31m" + "z" * 1_000_000  # under the body cap: the state itself is the problem
    with stub_server(lambda seen: (200, {"err": 0, "msg_data": {"state": huge}})) as gateway:
        engine = make_engine(gateway.url)
        engine.track({"provider": "wamm", "account": "shop", "msg_id": "1001"})
        with caplog.at_level("WARNING", logger="statuswatch"):
            claim_and_check(engine)
    tracker = engine.store.get("wamm:shop:1001")
    assert len(tracker.raw_state) == 200
    assert max(len(r.getMessage()) for r in caplog.records) < 1000
    assert all(len(raw) <= 200 for _, raw in engine.answers.unmapped)


def test_the_set_of_unmapped_states_is_bounded(make_engine) -> None:
    engine = make_engine("http://127.0.0.1:9")
    for i in range(5000):  # a gateway that answers a new raw state every time
        engine.answers.log_unmapped("wamm", f"brand-new-{i}")
    assert len(engine.answers.unmapped) <= 256


def test_an_answer_about_another_message_settles_nothing_and_is_counted(make_engine) -> None:
    """A WAMM answer for msg_id 999 settled tracker 7."""
    with stub_server(lambda seen: (200, {"err": 0, "msg_data": {"msg_id": "999", "state": "viewed"}})) as gateway:
        engine = make_engine(gateway.url)
        engine.track({"provider": "wamm", "account": "shop", "msg_id": "7"})
        result = claim_and_check(engine, "7")
    tracker = engine.store.get("wamm:shop:7")
    assert result["outcome"] == "active" and tracker.state.value == "pending" and tracker.raw_state == ""
    assert "999" in tracker.fields["error"] and tracker.errors == 1
    # counted apart, and not asked again in place: the same answer would come back
    assert fleet(engine).stats()["requests:wamm:msg_state:unexpected"] == 1
    assert len(gateway.requests) == 1


GREEN_TOKEN, CHAT = "green-tok-hostile-77a1", "11001234567@c.us"


def test_a_delivered_tracker_survives_an_unknown_400_and_a_not_found(make_engine) -> None:
    """One GREEN-API 400 of a text the adapter does not know (journals answered 400 "Internal
    Server Error" for days: green-api/issues#790) settled a delivered tracker older than the
    not-found grace as failed, reason not_found. Neither it nor a not-found answer does now."""
    answers = [
        (200, {"type": "outgoing", "idMessage": "BAE5A1", "chatId": CHAT, "statusMessage": "delivered"}),
        (400, {"message": "Internal Server Error"}),
        (400, {"message": "message not found"}),
    ]
    with stub_server(lambda seen: answers[min(len(gateway.requests), len(answers)) - 1]) as gateway:
        support = {
            "provider": "greenapi", "id_instance": "1101000001", "api_token_instance": GREEN_TOKEN,
            "api_url": gateway.url, "method_limits": {"getMessage": "1000/s"},  # checks back to back
        }  # fmt: skip
        accounts = {"support": support}
        engine = make_engine(gateway.url, accounts, STATUSWATCH_NOT_FOUND_GRACE_S="0")
        engine.track({"provider": "greenapi", "account": "support", "msg_id": "BAE5A1", "chat_id": CHAT})
        tid = "greenapi:support:BAE5A1"
        results = []
        for _ in answers:
            engine.store.redis.zadd(engine.store.keys.due("greenapi:support"), {"BAE5A1": 0})  # due now
            if engine.store.claim_due("greenapi:support", 10, 60) == [tid]:  # [] once it has ended
                results.append(engine.checker.check(tid).summary())
    tracker = engine.store.get(tid)
    assert (tracker.state.value, tracker.outcome.value) == ("delivered", "active")
    assert "reason" not in tracker.fields and tracker.errors == 2
    assert [r["outcome"] for r in results] == ["active"] * 3
    stats = fleet(engine).stats()
    assert stats["requests:greenapi:getMessage:unexpected"] == 1  # the unknown 400, asked once
    assert stats["requests:greenapi:getMessage:message"] == 1  # the not-found


def test_a_token_the_gateway_echoes_in_a_state_is_masked_where_it_is_kept(make_engine) -> None:
    with stub_server(lambda seen: (200, {"err": 0, "msg_data": {"state": f"token {TOKEN} ok"}})) as gateway:
        engine = make_engine(gateway.url)
        engine.track({"provider": "wamm", "account": "shop", "msg_id": "1001"})
        claim_and_check(engine)
    assert engine.store.get("wamm:shop:1001").raw_state == "token *** ok"
    assert all(TOKEN not in str(event) for event in fleet(engine).events())
