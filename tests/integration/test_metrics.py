"""One metrics process serves the whole fleet, and its counts agree with the gateway's."""

from __future__ import annotations

import socket
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import Deployment
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKENS = ["metrics-tok-a", "metrics-tok-b"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def total(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for got, v in found.get(name, []) if all(got.get(k) == want for k, want in labels.items()))


def test_metrics_of_two_workers_match_what_the_gateway_counted(
    tmp_path: Path, namespace: str, simulator: SimulatorClient
) -> None:
    ids = [str(7000 + i) for i in range(60)]
    for token in TOKENS:
        simulator.add_messages(
            [
                {"provider": "wamm", "credential": token, "msg_id": m, "life": [["sent", 0.2], ["viewed", 1.0]]}
                for m in ids
            ]
        )
    # faults and a gateway limit below ours: transient errors, 429s and cool-downs happen
    simulator.configure(fault_5xx=0.1, fault_malformed=0.05, latency_s=0.01, rate_limits={"wamm": 15}, seed=5)
    accounts = {
        f"m{i}": {"provider": "wamm", "token": t, "base_url": simulator.url, "rate_limit": "40/s"}
        for i, t in enumerate(TOKENS)
    }
    deployment = Deployment(tmp_path, namespace, accounts, STATUSWATCH_RATE_COOLDOWN_S="0.3")
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        for i in range(len(TOKENS)):
            for m in ids:
                deployment.track(provider="wamm", account=f"m{i}", msg_id=m)
        deployment.start_worker("w1", concurrency=4)
        deployment.start_worker("w2", concurrency=4)
        deployment.start_beat()
        deployment._spawn("metrics", [sys.executable, "-m", "worker.cli", "metrics", "--port", str(port)])
        deployment.wait_for(lambda: deployment.tracked() == 120, 30, "120 trackers")
        during = scrape(url)
        deployment.wait_all_finished(120, 60)
        for name in ("w1", "w2", "beat"):  # nothing may be in flight when the counts are compared
            deployment.procs[name].terminate()
            deployment.procs[name].wait(timeout=15)
        found = scrape(url)
    finally:
        deployment.stop()
    stats = simulator.stats()

    # every request the gateway saw was counted once, by method, and every 429 as throttled
    assert total(found, "statuswatch_gateway_requests_total") == stats["total"]
    for method in ("msg_state", "msg_get_last"):
        seen = sum(by_method.get(method, 0) for by_method in stats["by_credential"].values())
        assert total(found, "statuswatch_gateway_requests_total", method=method) == seen, method
    assert stats["responses"].get("429", 0) > 0, "the test meant to provoke 429s"
    assert total(found, "statuswatch_gateway_throttled_total", provider="wamm") == stats["responses"]["429"]
    assert total(found, "statuswatch_gateway_requests_total", result="transient") > 0
    assert total(found, "statuswatch_gateway_latency_seconds_count", provider="wamm") == stats["total"]
    assert total(found, "statuswatch_gateway_latency_seconds_sum", provider="wamm") > 0.01 * stats["total"]
    assert total(found, "statuswatch_trackers_finished_total", outcome="settled") == 120
    assert total(found, "statuswatch_deferrals_total", reason="cooldown") > 0
    assert total(found, "statuswatch_checks_total") > 0
    # gauges: nothing active or overdue at the end; while running, trackers had states
    assert total(found, "statuswatch_trackers_active") == 0
    assert total(during, "statuswatch_trackers_active") > 0
    assert total(found, "statuswatch_dispatch_lag_seconds") == 0
    assert "statuswatch_dispatch_lag_seconds" in during
    assert total(found, "statuswatch_accounts_paused") == 0
    assert {labels["account"] for labels, _ in found["statuswatch_account_paused"]} == {"m0", "m1"}
