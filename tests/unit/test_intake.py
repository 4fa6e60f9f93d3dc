"""What the worker does with whatever a producer sends: registered, or rejected with its reason
recorded; never a failed task, never half-written. Engine on fakeredis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fakeredis
import pytest

from config import load_settings
from worker.fleet import Fleet
from worker.local import write_accounts
from worker.results import Rejected
from worker.runtime import Engine


def fleet(engine: Engine) -> Fleet:
    return Fleet(engine.store.redis, engine.store.keys)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    accounts = write_accounts(tmp_path / "accounts.toml", {"shop": {"provider": "wamm", "token": "sekrit-token-1"}})
    settings = load_settings({"STATUSWATCH_ACCOUNTS_FILE": str(accounts)})
    return Engine.from_settings(settings, fakeredis.FakeRedis(decode_responses=True))


def rejected(engine: Engine) -> list[dict[str, str]]:
    return fleet(engine).rejected(1000)


@pytest.mark.parametrize(
    ("args", "kwargs", "reason"),
    [
        (("wamm", "shop", "1"), {}, "keyword arguments only"),
        ((), {"provider": "wamm", "account": "nobody", "msg_id": "1"}, "account: unknown account 'nobody'"),
        ((), {"provider": "wamm" * 250_000, "account": "shop", "msg_id": "1"}, "1000000 characters"),
        ((), {"provider": "wamm", "account": "shop", "msg_id": "1", "expires_in": 10**400}, "expires_in"),
        ((), {"provider": "wamm", "account": "shop", "msg_id": "1", "callback_url": "http://a/\udc80"}, "callback_url"),
    ],
)
def test_a_bad_request_is_recorded_with_its_reason(
    engine: Engine, args: tuple[Any, ...], kwargs: dict[str, Any], reason: str
) -> None:
    result = engine.track(kwargs, args, task_id="task-7")
    assert isinstance(result, Rejected) and reason in result.reason
    [entry] = rejected(engine)
    assert entry["task"] == "track" and entry["task_id"] == "task-7" and reason in entry["reason"]
    assert len(entry["reason"]) <= 300 and len(entry["request"]) <= 1000
    assert not fleet(engine).active_counts()


def test_an_unexpected_failure_while_validating_is_a_rejection_too(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: object) -> None:
        raise RecursionError("maximum recursion depth exceeded, and this text is not kept")

    monkeypatch.setattr("worker.intake.parse_track_request", boom)
    result = engine.track({"provider": "wamm", "account": "shop", "msg_id": "1"})
    assert result.summary() == {"accepted": False, "reason": "invalid request (RecursionError)"}
    assert rejected(engine)[0]["reason"] == "invalid request (RecursionError)"


def test_the_secret_of_an_account_never_reaches_a_rejection(engine: Engine) -> None:
    engine.track({"provider": "wamm", "account": "shop", "msg_id": "1", "token": "sekrit-token-1"})
    engine.track({"provider": "wamm", "account": "shop", "msg_id": "sekrit-token-1"})
    assert len(rejected(engine)) == 2
    assert "sekrit-token-1" not in str(rejected(engine))


def test_track_many_takes_each_item_on_its_own(engine: Engine) -> None:
    items: list[Any] = [{"provider": "wamm", "account": "shop", "msg_id": str(i)} for i in range(5)]
    items += [{"provider": "wamm", "account": "shop", "msg_id": "x"}, "not an object", items[0]]
    result = engine.track_many({"items": items}, task_id="bulk-1")
    assert result.summary() == {"items": 8, "accepted": 6, "rejected": 2, "created": 5, "unchanged": 1}
    assert sorted(e["task"] for e in rejected(engine)) == ["track_many[5]", "track_many[6]"]
    assert fleet(engine).active_counts() == {"wamm:shop": 5}


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {"items": {"a": 1}}), ((), {"items": [{}] * 1001}), ((), {}), (([],), {}), ((), {"items": [], "x": 1})],
)
def test_a_malformed_bulk_is_one_rejection(engine: Engine, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    result = engine.track_many(kwargs, args).summary()
    assert (result["accepted"], result["rejected"]) == (0, 1) and result["reason"]
    assert [e["task"] for e in rejected(engine)] == ["track_many"]


def test_untrack_cancels_and_says_what_it_found(engine: Engine) -> None:
    engine.track({"provider": "wamm", "account": "shop", "msg_id": "1"})
    untrack = engine.untrack
    assert untrack({"provider": "wamm", "account": "shop", "msg_id": "1"}).summary() == {
        "tracker": "wamm:shop:1", "status": "cancelled", "outcome": "cancelled",
    }  # fmt: skip
    assert untrack({"provider": "wamm", "account": "shop", "msg_id": "1"}).summary()["status"] == "finished"
    assert untrack({"provider": "wamm", "account": "shop", "msg_id": "2"}).summary()["status"] == "gone"
    assert engine.checker.check("wamm:shop:1").summary() == {"tracker": "wamm:shop:1", "skipped": "cancelled"}
    assert untrack({"provider": "wamm", "account": "shop"}).summary()["accepted"] is False
    assert rejected(engine)[0]["task"] == "untrack"


def test_a_push_that_came_first_is_applied_by_track_and_track_many(engine: Engine) -> None:
    from worker.push import ingest
    from worker.push.parse import Push
    from worker.states import Observation, State

    account = engine.accounts["shop"]  # type: ignore[index]
    for msg_id in ("71", "72"):
        push = Push(msg_id, Observation(State.FAILED, "not sent"), "not sent")
        assert ingest.apply(engine.store, account, push).status == "early"
    result = engine.track({"provider": "wamm", "account": "shop", "msg_id": "71"})
    assert result.outcome.value == "settled"  # type: ignore[union-attr]
    engine.track_many({"items": [{"provider": "wamm", "account": "shop", "msg_id": "72"}]})
    for tid in ("wamm:shop:71", "wamm:shop:72"):
        tracker = engine.store.get(tid)
        assert tracker is not None and tracker.state is State.FAILED and tracker.outcome.value == "settled"
    assert engine.store.redis.hget(engine.store.keys.tracker("wamm:shop:71"), "reason") == "not sent"


def test_a_first_check_waits_on_the_safety_net_once_its_account_pushes(tmp_path: Path) -> None:
    from worker.push import ingest
    from worker.push.parse import Push
    from worker.results import Deferred
    from worker.states import Observation, State

    table = {"shop": {"provider": "wamm", "token": "sekrit-token-1", "webhook_secret": "path-secret-1"}}
    settings = load_settings({"STATUSWATCH_ACCOUNTS_FILE": str(write_accounts(tmp_path / "a.toml", table))})
    engine = Engine.from_settings(settings, fakeredis.FakeRedis(decode_responses=True))
    engine.track({"provider": "wamm", "account": "shop", "msg_id": "81"})  # before the account pushed
    account = engine.accounts["shop"]  # type: ignore[index]
    ingest.apply(engine.store, account, Push("99", Observation(State.SENT, "sent")))  # now it pushes
    result = engine.checker.check("wamm:shop:81")
    assert isinstance(result, Deferred) and result.reason == "pushing"
    assert 590 < result.deferred_s <= 600  # its first check then comes at the safety net's time
    assert engine.store.get("wamm:shop:81").checks == 0  # type: ignore[union-attr]
