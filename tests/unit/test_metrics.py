"""The exporter turns the fleet counters in Redis into the documented metrics."""

from __future__ import annotations

from pathlib import Path

import fakeredis
from prometheus_client.parser import text_string_to_metric_families

from config import load_settings
from worker import metrics
from worker.local import write_accounts
from worker.runtime import Engine
from worker.states import Observation, State
from worker.tally import Tally
from worker.tracking import parse_track_request


def engine(tmp_path: Path) -> Engine:
    accounts = write_accounts(
        tmp_path / "accounts.toml",
        {
            "shop": {"provider": "wamm", "token": "tok-1"},
            "billing": {"provider": "wbiztool", "client_id": 7, "api_key": "key-1"},
        },
    )
    settings = load_settings({"STATUSWATCH_ACCOUNTS_FILE": str(accounts), "STATUSWATCH_NAMESPACE": "m"})
    return Engine.from_settings(settings, fakeredis.FakeRedis(decode_responses=True))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_scrape_reports_trackers_requests_latency_deferrals_pauses_and_lag(tmp_path: Path) -> None:
    e = engine(tmp_path)
    store = e.store
    for i in range(3):
        request = parse_track_request({"provider": "wamm", "account": "shop", "msg_id": str(i)}, None, 3600)
        store.register(f"wamm:shop:{i}", request, State.READ, 0)
    tally = Tally("wamm")
    tally.record("msg_state", "transient", 0.03)
    tally.record("msg_state", "ok", 0.2)
    store.observe("wamm:shop:0", Observation(State.SENT, "sent"), ceiling=State.READ, next_delay_s=5,
                  counts=tally.take())  # fmt: skip
    tally.record("msg_state", "throttled", 0.004)
    tally.sent_after(0.0004)
    tally.sent_after(0.012)
    tally.add("grants:stale:wamm")
    store.defer("wamm:shop:1", 1, "cooldown", counts=tally.take())
    e.limiter.pause(e.accounts["billing"], 60, "bad key")
    e.context.ledger.add_counts({"errors:unexpected": 2})

    got = samples(metrics.render(e))

    assert got[("statuswatch_trackers_active", (("provider", "wamm"), ("state", "pending")))] == 2
    assert got[("statuswatch_trackers_active", (("provider", "wamm"), ("state", "sent")))] == 1
    ok = ("method", "msg_state"), ("provider", "wamm"), ("result", "ok")
    assert got[("statuswatch_gateway_requests_total", ok)] == 1
    assert got[("statuswatch_gateway_throttled_total", (("provider", "wamm"),))] == 1
    assert got[("statuswatch_checks_total", ())] == 1
    assert got[("statuswatch_deferrals_total", (("reason", "cooldown"),))] == 1
    wamm = (("provider", "wamm"),)
    assert got[("statuswatch_gateway_latency_seconds_count", wamm)] == 3
    assert got[("statuswatch_gateway_latency_seconds_bucket", (("le", "0.01"), ("provider", "wamm")))] == 1
    assert got[("statuswatch_gateway_latency_seconds_bucket", (("le", "0.05"), ("provider", "wamm")))] == 2
    assert got[("statuswatch_gateway_latency_seconds_bucket", (("le", "+Inf"), ("provider", "wamm")))] == 3
    assert abs(got[("statuswatch_gateway_latency_seconds_sum", wamm)] - 0.234) < 1e-6
    assert got[("statuswatch_grant_to_send_seconds_bucket", (("le", "0.001"), ("provider", "wamm")))] == 1
    assert got[("statuswatch_grant_to_send_seconds_bucket", (("le", "0.015"), ("provider", "wamm")))] == 2
    assert got[("statuswatch_grant_to_send_seconds_count", wamm)] == 2
    assert abs(got[("statuswatch_grant_to_send_seconds_sum", wamm)] - 0.0124) < 1e-6
    assert got[("statuswatch_grants_stale_total", wamm)] == 1
    assert got[("statuswatch_account_paused", (("account", "billing"),))] == 1
    assert got[("statuswatch_account_paused", (("account", "shop"),))] == 0
    assert got[("statuswatch_accounts_paused", ())] == 1
    assert got[("statuswatch_unexpected_errors_total", ())] == 2
    # two trackers were due at registration: the lag is how overdue the oldest is
    assert 0 <= got[("statuswatch_dispatch_lag_seconds", ())] < 5
    assert got[("statuswatch_trackers_scheduled", ())] == 3
    text = metrics.render(e)
    assert "tok-1" not in text and "key-1" not in text


def test_stats_rates_come_from_the_two_newest_rollups() -> None:
    from worker.inspection import rates

    new = {
        "period": "12", "checks": "700", "requests:wamm:msg_state:ok": "650",
        "requests:wamm:msg_state:transient": "70", "finished:settled": "60", "finished:timed_out": "3",
    }  # fmt: skip
    old = {"period": "10", "checks": "100", "requests:wamm:msg_state:ok": "100", "finished:settled": "3"}
    assert rates([new, old], 60) == {"checks": 5.0, "requests": 5.17, "finished": 0.5}
    assert rates([new], 60) == {}
