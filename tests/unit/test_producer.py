"""``from tasks import track``: validate, then enqueue; bad input enqueues nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import redis

from tests.conftest import REDIS_URL, SESSION_NS
from worker.local import write_accounts

QUEUE_KEY = f"{SESSION_NS}-broker:statuswatch.track"


@pytest.fixture
def broker() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.delete(QUEUE_KEY)
    yield client
    client.delete(QUEUE_KEY)
    client.close()


@pytest.fixture
def accounts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_accounts(tmp_path / "accounts.toml", {"shop": {"provider": "wamm", "token": "producer-side-token"}})
    monkeypatch.setenv("STATUSWATCH_ACCOUNTS_FILE", str(path))
    return path


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"provider": "telegram"}, "provider"),
        ({"account": "nobody"}, "account"),
        ({"msg_id": ""}, "msg_id"),
        ({"msg_id": "not-a-number"}, "msg_id"),
        ({"until": "sent"}, "until"),
        ({"expires_in": -1}, "expires_in"),
    ],
)
def test_bad_input_raises_and_enqueues_nothing(
    broker: redis.Redis, accounts_file: Path, kwargs: dict[str, object], field: str
) -> None:
    from tasks import track

    args = {"provider": "wamm", "account": "shop", "msg_id": "123", **kwargs}
    with pytest.raises(ValueError, match=f"^{field}"):
        track(**args)
    assert broker.llen(QUEUE_KEY) == 0
    assert not list(broker.scan_iter(match=f"{SESSION_NS}:*"))


def test_good_input_enqueues_one_clean_message(broker: redis.Redis, accounts_file: Path) -> None:
    from tasks import track

    assert track("wamm", "shop", 123, until="delivered", meta={"order": 5}) == "wamm:shop:123"
    [raw] = broker.lrange(QUEUE_KEY, 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == "statuswatch.track"
    assert "producer-side-token" not in raw  # the message carries the alias, never the token
    body = json.loads(__import__("base64").b64decode(message["body"]))
    assert body[1] == {
        "provider": "wamm", "account": "shop", "msg_id": "123", "until": "delivered",
        "expires_in": 172800.0, "meta": {"order": 5},
    }  # fmt: skip


def test_without_accounts_file_any_well_formed_alias_is_enqueued(broker: redis.Redis) -> None:
    from tasks import track

    assert "STATUSWATCH_ACCOUNTS_FILE" not in os.environ
    track("wamm", "elsewhere", "5")
    assert broker.llen(QUEUE_KEY) == 1
