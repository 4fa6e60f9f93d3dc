"""No token reaches a log line, a stored error, an event, a broker message or any Redis key.

The worker runs at DEBUG (so urllib3 logs every URL, and WAMM puts the token in the path)
through successes, gateway errors, 5xx faults and connection errors. Every command any
client sends to Redis meanwhile is captured with MONITOR and searched too.
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from tests.conftest import REDIS_URL
from tests.integration.harness import Deployment
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

GOOD = "sw-good-tok+en/9f3a"
REVOKED = "sw-revoked-tok/77b1"
UNREACHABLE = "sw-unreach-tok/5c2e"
GREEN = "sw-green-tok=4b7d"
WBIZ = "sw-wbiz-key&0e5a"
SECRETS = (GOOD, REVOKED, UNREACHABLE, GREEN, WBIZ)


def forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), quote(secret, safe="").replace("%2F", "%2f")]


class Monitor:
    """Every command the Redis server receives while it runs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            for command in monitor.listen():
                self.lines.append(command["command"])
                if self._stop.is_set():
                    return

    def stop(self) -> str:
        self._stop.set()
        redis.Redis.from_url(REDIS_URL).ping()
        self._thread.join(timeout=5)
        return "\n".join(self.lines)


def test_tokens_never_leave_the_worker(tmp_path: Path, namespace: str, simulator: SimulatorClient) -> None:
    closed_port = "http://127.0.0.1:9"  # discard port: connection refused
    accounts = {
        "good": {"provider": "wamm", "token": GOOD, "base_url": simulator.url},
        "revoked": {"provider": "wamm", "token": REVOKED, "base_url": simulator.url},
        "down": {"provider": "wamm", "token": UNREACHABLE, "base_url": closed_port},
        "support": {"provider": "greenapi", "id_instance": "1101000009", "api_token_instance": GREEN,
                    "api_url": simulator.url},
        "billing": {"provider": "wbiztool", "client_id": 77, "api_key": WBIZ, "base_url": simulator.url},
    }  # fmt: skip
    life = [["sent", 0.05], ["viewed", 0.2]]
    simulator.add_messages(
        [
            {"provider": "wamm", "credential": t, "msg_id": str(i), "life": life}
            for t in (GOOD, REVOKED)
            for i in range(10)
        ]
    )
    simulator.add_messages(
        [
            {"provider": "greenapi", "credential": "1101000009", "api_token": GREEN, "msg_id": f"BAE5{i:04d}",
             "chat_id": f"7900{i:04d}@c.us", "life": [["read", 0.1]]}
            for i in range(5)
        ]
        + [{"provider": "wbiztool", "credential": WBIZ, "client_id": 77, "msg_id": str(i), "life": [[1, 0.1]]}
           for i in range(4)]
        + [{"provider": "wbiztool", "credential": WBIZ, "client_id": 77, "msg_id": "9", "life": [[2, 0.1]],
            "error": "Invalid phone number"}]
    )  # fmt: skip
    simulator.configure(revoked=[REVOKED], fault_5xx=0.2, fault_malformed=0.1, seed=3)
    deployment = Deployment(tmp_path, namespace, accounts, STATUSWATCH_DEFAULT_EXPIRES_S="4")
    monitor = Monitor()
    try:
        deployment.start_worker("w1", loglevel="DEBUG")
        deployment.start_beat()
        for account in ("good", "revoked", "down"):
            for i in range(10):
                deployment.track(provider="wamm", account=account, msg_id=str(i))
        for i in range(6):  # the sixth is unknown to the gateway: a not-found error
            deployment.track(provider="greenapi", account="support", msg_id=f"BAE5{i:04d}", chat_id=f"7900{i:04d}@c.us")
        for i in (0, 1, 2, 3, 9, 12):  # 12 is unknown
            deployment.track(provider="wbiztool", account="billing", msg_id=str(i))
        deployment.wait_all_finished(42, 60)
        log = deployment.log("w1")
        dump = "\n".join(_dump_namespace(deployment))
    finally:
        commands = monitor.stop()
        deployment.stop()

    assert "msg_state/***/" in log, "the worker log should show redacted gateway URLs"
    assert "token fail" in dump and "connection failed" in dump, "stored errors should be there, redacted"
    assert "getMessage/***" in log, "GREEN-API URLs are logged, redacted"
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in log, f"{form!r} in the worker log"
            assert form not in dump, f"{form!r} in a Redis key"
            assert form not in commands, f"{form!r} sent to Redis"


def _dump_namespace(deployment: Deployment) -> list[str]:
    """Every key and value of the deployment's namespace, as text."""
    out = []
    for key in deployment.redis.scan_iter(match=f"{deployment.namespace}*"):
        kind = deployment.redis.type(key)
        if kind == "hash":
            value = str(deployment.redis.hgetall(key))
        elif kind == "stream":
            value = str(deployment.redis.xrange(key))
        elif kind == "zset":
            value = str(deployment.redis.zrange(key, 0, -1))
        elif kind == "list":
            value = str(deployment.redis.lrange(key, 0, -1))
        elif kind == "string":
            value = str(deployment.redis.get(key))
        else:
            value = kind
        out.append(f"{key} {value}")
    return out
