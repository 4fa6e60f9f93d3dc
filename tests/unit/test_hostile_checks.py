"""Checks against hostile gateways (loopback servers), on the engine and the real Redis:
whatever a gateway answers, a check ends in an outcome and its tracker in a bounded state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from config import load_settings
from tests.stub import stub_server
from worker.runtime import Engine

TOKEN = "wamm-tok-hostile-3e1f"


@pytest.fixture
def make_engine(tmp_path: Path, namespace: str, real_redis: redis.Redis) -> Iterator[object]:
    def make(url: str, **env: str) -> Engine:
        accounts = tmp_path / "accounts.toml"
        accounts.write_text(f'[accounts.shop]\nprovider = "wamm"\ntoken = "{TOKEN}"\nbase_url = "{url}"\n')
        settings = load_settings(
            {
                "STATUSWATCH_ACCOUNTS_FILE": str(accounts),
                "STATUSWATCH_NAMESPACE": namespace,
                "STATUSWATCH_POLL_FIRST_S": "0",
                "STATUSWATCH_HTTP_TIMEOUT_S": "2",
                **env,
            }
        )
        return Engine.from_settings(settings, real_redis)

    yield make


def claim_and_check(engine: Engine, msg_id: str = "1001") -> dict[str, object]:
    tid = f"wamm:shop:{msg_id}"
    assert engine.store.claim_due("wamm:shop", 10, 60) == [tid]
    return engine.check(tid)


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
