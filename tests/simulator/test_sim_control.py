"""Control API and admission over HTTP: rate limits, throttles, faults, latency, stats, reset."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from worker.simulator import SimulatorError

pytestmark = pytest.mark.timeout(30)

WBIZ_AUTH = {"client_id": 1, "api_key": "K"}
MESSAGES = [
    {"provider": "wamm", "credential": "T", "msg_id": "1", "life": [["sent", 0]]},
    {"provider": "wamm", "credential": "U", "msg_id": "1", "life": [["sent", 0]]},
    {"provider": "wbiztool", "credential": "K", "client_id": 1, "msg_id": "1", "life": [[1, 0]]},
    {
        "provider": "greenapi",
        "credential": "1101",
        "api_token": "tok",
        "msg_id": "A",
        "chat_id": "7@c.us",
        "life": [["sent", 0]],
    },
]


@pytest.fixture
def loaded(control):
    control.add_messages(MESSAGES)
    return control


def wamm(sim, http, token="T"):
    return http.get(f"{sim.url}/api2/msg_state/{token}/1")


def statuses(responses):
    return [r.status_code for r in responses]


def test_rate_limit_answers_429_and_max_per_second_counts_only_the_admitted(sim, loaded, http):
    loaded.configure(rate_limits={"wamm": 3})
    assert statuses(wamm(sim, http) for _ in range(5)) == [200, 200, 200, 429, 429]
    assert wamm(sim, http, "U").status_code == 200  # limits are per credential
    loaded.advance_clock(0.5)
    assert wamm(sim, http).status_code == 429
    loaded.advance_clock(0.5)  # the first three leave the window
    assert statuses(wamm(sim, http) for _ in range(4)) == [200, 200, 200, 429]
    stats = loaded.stats()
    assert stats["by_credential"]["T"] == {"msg_state": 10}
    assert stats["max_per_second"]["T"] == {"*": 3, "msg_state": 3}
    assert stats["responses"] == {"200": 7, "429": 4}
    assert stats["total"] == 11


def test_each_gateway_has_its_own_429(sim, loaded, http):
    loaded.configure(rate_limits={"wamm": 0, "wbiztool": 0, "greenapi": 0})
    w = wamm(sim, http)
    assert (w.status_code, w.json()) == (429, {"err": "too many requests"})
    b = http.post(f"{sim.url}/api/v1/message/status/1/", data=WBIZ_AUTH)
    assert (b.status_code, b.json()) == (429, {"status": 0, "message": "Too many requests"})
    g = http.get(f"{sim.url}/waInstance1101/lastOutgoingMessages/tok")
    assert (g.status_code, g.text) == (429, "Too Many Requests")
    assert "Retry-After" not in g.headers


def test_retry_after_says_when_the_window_has_room(sim, loaded, http):
    loaded.configure(rate_limits={"wamm": 1}, retry_after=True)
    assert wamm(sim, http).status_code == 200
    loaded.advance_clock(0.2)
    refused = wamm(sim, http)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")


def test_greenapi_limits_each_method_separately(sim, loaded, http):
    loaded.configure(rate_limits={"greenapi": {"getMessage": 10, "lastOutgoingMessages": 1}})
    base = f"{sim.url}/waInstance1101"
    last = [http.get(f"{base}/lastOutgoingMessages/tok") for _ in range(2)]
    got = [http.post(f"{base}/getMessage/tok", json={"chatId": "7@c.us", "idMessage": "A"}) for _ in range(11)]
    assert statuses(last) == [200, 429]
    assert statuses(got) == [200] * 10 + [429]
    peaks = loaded.stats()["max_per_second"]["1101"]
    assert peaks == {"*": 11, "lastOutgoingMessages": 1, "getMessage": 10}


def test_a_per_credential_override_beats_the_provider_limit(sim, loaded, http):
    loaded.configure(rate_limits={"wamm": 5, "by_credential": {"U": 1}})
    assert statuses(wamm(sim, http, "U") for _ in range(2)) == [200, 429]
    assert statuses(wamm(sim, http, "T") for _ in range(5)) == [200] * 5


def test_a_throttle_refuses_everything_of_a_credential_for_its_window(sim, loaded, http):
    loaded.configure(throttle={"credential": "T", "for_s": 2.0})
    assert wamm(sim, http).status_code == 429
    assert wamm(sim, http, "U").status_code == 200
    loaded.advance_clock(1.9)
    assert http.get(f"{sim.url}/api2/msg_get_last/T/1").status_code == 429
    loaded.advance_clock(0.1)
    assert wamm(sim, http).status_code == 200
    assert loaded.stats()["by_credential"]["T"] == {"msg_state": 2, "msg_get_last": 1}


def test_fault_5xx_answers_an_html_server_error(sim, loaded, http):
    loaded.configure(fault_5xx=1.0)
    for response in (wamm(sim, http) for _ in range(10)):
        assert response.status_code in (500, 502, 503)
        assert response.headers["Content-Type"].startswith("text/html")
    assert loaded.stats()["faults"] == {"5xx": 10}


def test_fault_malformed_answers_200_with_a_body_that_does_not_parse(sim, loaded, http):
    loaded.configure(fault_malformed=1.0)
    for response in (wamm(sim, http) for _ in range(10)):
        assert response.status_code == 200
        with pytest.raises(requests.JSONDecodeError):
            response.json()
    stats = loaded.stats()
    assert (stats["responses"], stats["faults"]) == ({"200": 10}, {"malformed": 10})


def test_fault_timeout_holds_the_request_then_closes_unanswered(sim, loaded, http):
    loaded.configure(fault_timeout=1.0, timeout_hold_s=0.2)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        wamm(sim, http)
    assert time.monotonic() - started >= 0.2
    stats = loaded.stats()
    assert (stats["responses"], stats["faults"]) == ({"timeout": 1}, {"timeout": 1})


def test_faults_hit_only_admitted_requests(sim, loaded, http):
    loaded.configure(fault_5xx=1.0, rate_limits={"wamm": 1})
    first, second = statuses(wamm(sim, http) for _ in range(2))
    assert (first >= 500, second) == (True, 429)
    assert loaded.stats()["faults"] == {"5xx": 1}


def test_in_flight_counts_a_request_held_by_latency(sim, loaded, http):
    loaded.configure(latency_s=0.4)
    worker = threading.Thread(target=wamm, args=(sim, http))
    worker.start()
    deadline = time.monotonic() + 5
    while loaded.stats()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert loaded.stats()["in_flight"] == 1
    worker.join()
    stats = loaded.stats()
    assert (stats["in_flight"], stats["in_flight_max"]) == (0, 1)


def test_latency_never_blocks_other_requests(sim, loaded):
    loaded.configure(latency_s=0.3)
    answers = []

    def ask():
        with requests.Session() as session:
            answers.append(wamm(sim, session).status_code)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 8
    assert time.monotonic() - started < 0.3 * 4  # far less than 8 x 0.3 s one after another
    assert loaded.stats()["in_flight_max"] >= 2


def test_reset_forgets_messages_stats_and_config(sim, loaded, http):
    loaded.configure(rate_limits={"wamm": 1}, latency_s=0.01)
    wamm(sim, http)
    loaded.reset()
    assert loaded.stats() == {
        "total": 0,
        "by_credential": {},
        "max_per_second": {},
        "responses": {},
        "faults": {},
        "in_flight": 0,
        "in_flight_max": 0,
    }
    assert loaded.configure()["rate_limits"] == {}
    assert wamm(sim, http).json() == {"err": "token fail"}


def test_configure_merges(loaded):
    loaded.configure(latency_s=0.01)
    config = loaded.configure(fault_5xx=0.25)
    assert (config["latency_s"], config["fault_5xx"]) == (0.01, 0.25)


@pytest.mark.parametrize(
    "bad",
    [
        {"no_such_key": 1},
        {"fault_5xx": 2},
        {"fault_5xx": 0.8, "fault_malformed": 0.3},  # together more than every request
        {"credentials": [{"provider": "wbiztool", "credential": "K"}]},  # no client_id
        {"refusals": {"K": "Auth Error 3"}},  # not a documented refusal
        {"daily_send_limit": {"K": -1}},
    ],
)
def test_a_bad_config_change_is_400_and_applies_nothing(loaded, bad):
    before = loaded.configure()
    with pytest.raises(SimulatorError, match="HTTP 400"):
        loaded.configure(latency_s=0.5, **bad)
    assert loaded.configure() == before


def test_fault_rates_above_one_in_total_are_400_naming_the_rates(loaded):
    loaded.configure(fault_5xx=0.8)
    with pytest.raises(SimulatorError, match=r"fault rates add up to more than 1: .*fault_malformed 0\.3"):
        loaded.configure(fault_malformed=0.3)
    assert loaded.configure()["fault_malformed"] == 0.0


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"correspondents_exceeded": "1101"}, "correspondents_exceeded"),
        ({"refusals": {"K": "Auth Error 3"}}, "refusals.K"),
        ({"daily_send_limit": {"K": 1.5}}, "daily_send_limit.K"),
    ],
)
def test_a_bad_account_setting_is_400_naming_the_field(loaded, bad, field):
    with pytest.raises(SimulatorError, match=rf"HTTP 400 .*{field} must be"):
        loaded.configure(**bad)


def test_account_settings_merge_and_reset_forgets_them(sim, loaded, http):
    loaded.configure(refusals={"K": "Higher Subscription Required"}, daily_send_limit={"K": 0})
    config = loaded.configure(correspondents_exceeded=["1101"])
    assert (config["refusals"], config["daily_send_limit"], config["correspondents_exceeded"]) == (
        {"K": "Higher Subscription Required"},
        {"K": 0},
        ["1101"],
    )
    refused = http.post(f"{sim.url}/api/v1/message/status/1/", data=WBIZ_AUTH)
    assert (refused.status_code, refused.json()) == (200, {"status": 0, "message": "Higher Subscription Required"})
    loaded.reset()
    config = loaded.configure()
    assert (config["refusals"], config["daily_send_limit"], config["correspondents_exceeded"]) == ({}, {}, [])


def test_a_bad_message_batch_adds_nothing(sim, control, http):
    with pytest.raises(SimulatorError, match="HTTP 400"):
        control.add_messages([*MESSAGES, {"provider": "wamm", "msg_id": "2"}])
    assert wamm(sim, http).json() == {"err": "token fail"}


def test_unknown_control_endpoint(sim, http):
    assert http.get(f"{sim.url}/_sim/nothing").status_code == 404


def test_fifty_thousand_messages_load_quickly(sim, control, http):
    started = time.monotonic()
    added = control.add_messages(
        {"provider": "wamm", "credential": f"T{i % 50}", "msg_id": str(i), "life": [["sent", 0]]} for i in range(50_000)
    )
    assert added == 50_000
    assert time.monotonic() - started < 10
    assert wamm(sim, http, "T0").json()["err"] == "msg not be"  # 1 belongs to T1
    assert http.get(f"{sim.url}/api2/msg_state/T1/49951").json()["err"] == 0


def test_requests_are_counted_per_message(sim, control, http) -> None:
    control.add_messages(
        [
            {"provider": "wamm", "credential": "tokA", "msg_id": "1", "life": [["sent", 0]]},
            {"provider": "wamm", "credential": "tokA", "msg_id": "2", "life": [["sent", 0]]},
            {"provider": "wbiztool", "credential": "key", "client_id": 7, "msg_id": "5", "life": [[1, 0]]},
            {
                "provider": "greenapi",
                "credential": "1101",
                "api_token": "gt",
                "msg_id": "BAE1",
                "chat_id": "7900@c.us",
                "life": [["sent", 0]],
            },
        ]
    )
    for _ in range(3):
        http.get(f"{sim.url}/api2/msg_state/tokA/1")
    http.get(f"{sim.url}/api2/msg_state/tokA/?msg_id=2")
    http.get(f"{sim.url}/api2/msg_get_last/tokA/?col=5")
    http.post(f"{sim.url}/api/v1/message/status/5/", json={"client_id": 7, "api_key": "key"})
    http.post(f"{sim.url}/waInstance1101/getMessage/gt", json={"chatId": "7900@c.us", "idMessage": "BAE1"})
    assert control.requests_by_message() == {
        "tokA": {"msg_state": {"1": 3, "2": 1}},
        "key": {"message_status": {"5": 1}},
        "1101": {"getMessage": {"BAE1": 1}},
    }
