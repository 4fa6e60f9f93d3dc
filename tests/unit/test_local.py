"""The local harness's parts that need no process: the prefix cleaner, the accounts-file
writer, and the worker command ``LocalStack.start_worker`` builds."""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from config import load_accounts
from tests.conftest import REDIS_URL
from worker.keys import DELETE_BATCH, delete_prefix, prefix_pattern
from worker.local import LocalStack, accounts_toml, write_accounts


def test_delete_prefix_deletes_the_prefix_and_nothing_beside_it(either_redis: redis.Redis, namespace: str) -> None:
    mine = [f"{namespace}:a:{i}" for i in range(DELETE_BATCH * 2 + 7)]  # more than one DEL
    beside = [namespace, f"{namespace}-broker:q", f"{namespace}x:a", f"{namespace}*"]
    for key in mine + beside:
        either_redis.set(key, "1")
    assert delete_prefix(either_redis, f"{namespace}:") == len(mine)
    assert [k for k in beside if either_redis.exists(k)] == beside
    assert delete_prefix(either_redis, f"{namespace}:") == 0


def test_delete_prefix_takes_glob_characters_literally(either_redis: redis.Redis, namespace: str) -> None:
    either_redis.set(f"{namespace}[1]*?\\:key", "1")
    either_redis.set(f"{namespace}1:key", "1")  # what the glob "[1]" would have matched
    assert delete_prefix(either_redis, f"{namespace}[1]*?\\:") == 1
    assert either_redis.exists(f"{namespace}1:key")


def test_delete_prefix_refuses_an_empty_prefix(either_redis: redis.Redis) -> None:
    with pytest.raises(ValueError, match="empty prefix"):
        delete_prefix(either_redis, "")


def test_prefix_pattern_escapes_what_match_would_read_as_a_glob() -> None:
    assert prefix_pattern("ns:") == "ns:*"
    assert prefix_pattern("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\*"


printable = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40)


@given(token=printable, url=printable)
def test_any_string_survives_the_accounts_writer(token: str, url: str) -> None:
    tables = {"shop": {"provider": "wamm", "token": token, "base_url": url, "client_id": 7}}
    assert tomllib.loads(accounts_toml(tables)) == {"accounts": tables}


def test_an_accounts_file_reads_back_as_written(tmp_path: Path) -> None:
    token = 'tok"en\\with\nquote, backslash, newline, \x7f and ✓'
    url = 'http://127.0.0.1:9/a?b="c"'
    tables = {
        "eu.shop": {"provider": "wamm", "token": token, "base_url": url, "rate_limit": "5/s"},
        "support": {
            "provider": "greenapi", "id_instance": "1101000001", "api_token_instance": "t",
            "method_limits": {"getMessage": "3/s"},
        },
    }  # fmt: skip
    accounts = load_accounts(write_accounts(tmp_path / "accounts.toml", tables), {})
    assert list(accounts) == ["eu.shop", "support"]  # the dotted alias stays one account
    assert accounts["eu.shop"].credentials["token"] == token
    assert accounts["eu.shop"].base_url == url
    assert str(accounts["support"].method_limits["getMessage"]) == "3/s"


@pytest.fixture
def commands(
    tmp_path: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalStack, list[list[str]]]]:
    """A stack whose processes are never started: the commands it would run."""
    stack = LocalStack(tmp_path, {"STATUSWATCH_REDIS_URL": REDIS_URL, "STATUSWATCH_NAMESPACE": namespace})
    seen: list[list[str]] = []

    def spawn(name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        seen.append(cmd)
        stack._logs.append(open(tmp_path / f"{name}.log", "ab"))  # noqa: SIM115 - closed by stop()
        return None  # type: ignore[return-value]

    monkeypatch.setattr(stack, "_spawn", spawn)
    yield stack, seen
    stack.stop()
    stack.redis.close()


def test_the_default_worker_is_the_products(commands: tuple[LocalStack, list[list[str]]], namespace: str) -> None:
    stack, seen = commands
    stack.start_worker()
    stack.start_beat()
    worker, beat = (cmd[cmd.index("celery") :] for cmd in seen)
    # the Procfile's worker: pool and concurrency from config.celery, INFO, heartbeat on
    assert worker[:4] == ["celery", "-A", "worker", "worker"]
    assert "-P" not in worker and "-c" not in worker and "--without-heartbeat" not in worker
    assert worker[worker.index("-l") + 1] == "INFO"
    assert worker[worker.index("-n") + 1] == f"w1@{namespace}"
    queues = "statuswatch.track,statuswatch.dispatch,statuswatch.check,statuswatch.notify"
    assert worker[worker.index("-Q") + 1] == queues
    assert beat[:4] == ["celery", "-A", "worker", "beat"] and beat[beat.index("-l") + 1] == "INFO"


def test_every_worker_option_reaches_the_command(commands: tuple[LocalStack, list[list[str]]], namespace: str) -> None:
    stack, seen = commands
    stack.start_worker("noop", app="bench.noop_app", pool="prefork", concurrency=4, loglevel="WARNING", heartbeat=False)
    stack.start_beat("beat2", loglevel="DEBUG")
    worker, beat = (cmd[cmd.index("celery") :] for cmd in seen)
    assert worker[:4] == ["celery", "-A", "bench.noop_app", "worker"]
    assert worker[worker.index("-P") + 1] == "prefork" and worker[worker.index("-c") + 1] == "4"
    assert worker[worker.index("-l") + 1] == "WARNING" and "--without-heartbeat" in worker
    assert worker[worker.index("-n") + 1] == f"noop@{namespace}"
    assert beat[beat.index("-l") + 1] == "DEBUG" and beat[beat.index("-s") + 1].endswith("beat2-schedule")
