"""A real statuswatch deployment in miniature for tests: ``worker.local.LocalStack`` under a
namespace of the test's own, with fast settings and helpers to wait and inspect."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.conftest import REDIS_URL
from worker.keys import prefix_pattern, tracker_id
from worker.local import AccountTables, LocalStack, write_accounts

#: settings that make a deployment fast enough to test in seconds
FAST = {
    "STATUSWATCH_LEASE_S": "3",
    "STATUSWATCH_POLL_FIRST_S": "0.05",
    "STATUSWATCH_POLL_FACTOR": "1.5",
    "STATUSWATCH_POLL_MAX_S": "0.4",
    "STATUSWATCH_ERROR_BACKOFF_S": "0.1",
    "STATUSWATCH_DISPATCH_EVERY_S": "0.2",
    "STATUSWATCH_DEFAULT_EXPIRES_S": "60",
    "STATUSWATCH_HTTP_TIMEOUT_S": "5",
    "STATUSWATCH_NOT_FOUND_GRACE_S": "1",
    "STATUSWATCH_DEFAULT_RATE_LIMIT": "1000/s",
}


def deployment_env(namespace: str, accounts: Path, **overrides: str) -> dict[str, str]:
    """The fast settings, the test Redis as store and broker, and keys under ``namespace``."""
    return {
        **FAST,
        "STATUSWATCH_REDIS_URL": REDIS_URL,
        "STATUSWATCH_BROKER_URL": REDIS_URL,
        "STATUSWATCH_NAMESPACE": namespace,
        "STATUSWATCH_BROKER_KEY_PREFIX": f"{namespace}-broker:",
        "STATUSWATCH_ACCOUNTS_FILE": str(accounts),
        **overrides,
    }


class Deployment(LocalStack):
    """Worker and beat processes with their own namespace; stops and cleans what it started."""

    def __init__(self, tmp_path: Path, namespace: str, accounts: AccountTables, **overrides: str) -> None:
        accounts_file = write_accounts(tmp_path / "accounts.toml", accounts)
        super().__init__(tmp_path, deployment_env(namespace, accounts_file, **overrides))
        self.namespace = namespace

    def stop(self, timeout_s: float = 15.0) -> None:
        super().stop(timeout_s)
        self.delete_namespace()
        self.redis.close()

    def trackers(self, provider: str, account: str, msg_ids: list[str]) -> dict[str, Any]:
        ids = [tracker_id(provider, account, m) for m in msg_ids]
        return dict(zip(msg_ids, self.store.get_many(ids), strict=True))

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            self.check_alive()
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")

    def tracked(self) -> int:
        """Trackers that exist (active or finished), whatever their account."""
        return sum(1 for _ in self.redis.scan_iter(match=prefix_pattern(f"{self.keys.prefix}:t:"), count=1000))

    def wait_all_finished(self, count: int, timeout_s: float) -> None:
        """Wait until ``count`` trackers exist and none is active any more."""
        self.wait_for(lambda: self.tracked() == count and self.all_finished(), timeout_s, f"{count} trackers finished")

    def all_finished(self) -> bool:
        return not self.fleet.active_counts() and self.fleet.due_count() == 0

    def events_by_tracker(self) -> Mapping[str, list[dict[str, str]]]:
        grouped: dict[str, list[dict[str, str]]] = {}
        for _, fields in self.redis.xrange(self.keys.events, "-", "+"):
            grouped.setdefault(fields["msg_id"], []).append(fields)
        return grouped
