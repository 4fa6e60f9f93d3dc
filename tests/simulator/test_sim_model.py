"""The pure parts: lives on a clock, the registry, exact sliding windows, the policy."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from worker.simulator.model import Message, Registry, Traffic, reached
from worker.simulator.policy import Policy

pytestmark = pytest.mark.timeout(30)

LIFE = ((0.0, "sent"), (2.0, "delivered"), (3.0, "failed"))


@pytest.mark.parametrize(
    ("age_s", "skip", "expected"),
    [
        (-1.0, frozenset(), None),
        (0.0, frozenset(), ("sent", 100.0)),
        (1.9, frozenset(), ("sent", 100.0)),
        (2.0, frozenset(), ("delivered", 102.0)),
        (9.0, frozenset(), ("failed", 103.0)),
        (9.0, frozenset({"failed"}), ("delivered", 102.0)),
    ],
)
def test_reached_is_the_last_step_not_in_the_future(age_s, skip, expected):
    assert reached(LIFE, 100.0, 100.0 + age_s, skip) == expected


def test_message_is_pending_before_its_first_step_and_invisible_at_first():
    msg = Message("1", created_s=100.0, life=((5.0, "sent"),), invisible_s=2.0)
    assert msg.state(101.0, "sending") == ("sending", 100.0)
    assert not msg.visible(101.9)
    assert msg.visible(102.0)
    assert msg.state(105.0, "sending") == ("sent", 105.0)


def wamm(msg_id, credential="T", **extra):
    return {"provider": "wamm", "credential": credential, "msg_id": msg_id, **extra}


def test_registry_keeps_messages_per_credential_and_normalises_integer_ids():
    registry = Registry()
    registry.add_messages([wamm("007"), wamm("8", credential="U")], now=0.0)
    assert registry.find("wamm", "T", "7", 0.0).msg_id == "7"
    assert registry.find("wamm", "T", "8", 0.0) is None
    assert registry.find("wamm", "nobody", "7", 0.0) is None


def test_a_re_added_message_becomes_the_newest():
    registry = Registry()
    registry.add_messages([wamm("1"), wamm("2"), wamm("1")], now=0.0)
    assert list(registry.account("wamm", "T").messages) == ["2", "1"]


@pytest.mark.parametrize(
    "bad",
    [
        {"provider": "nope", "credential": "T", "msg_id": "1"},
        {"provider": "wamm", "msg_id": "1"},
        {"provider": "wamm", "credential": "T"},
        {"provider": "wbiztool", "credential": "K", "msg_id": "1"},  # no client_id
        {"provider": "greenapi", "credential": "1101", "msg_id": "A"},  # no api_token
        wamm("1", life=[["sent"]]),
        wamm("1", life=[["sent", -1]]),
        wamm("1", kind="story"),
    ],
)
def test_a_bad_message_rejects_the_whole_batch(bad):
    registry = Registry()
    with pytest.raises(ValueError):
        registry.add_messages([wamm("1"), bad], now=0.0)
    assert registry.accounts == {}


def admit_all(traffic, arrivals, limits=None):
    return [traffic.admit("T", "m", limits or {}, now) for now in arrivals]


def test_max_per_second_is_the_exact_sliding_window_peak():
    traffic = Traffic()
    admit_all(traffic, [0.0, 0.0, 0.0, 0.5, 0.5, 1.2, 1.2, 2.3])
    # (0.2, 1.2] holds 0.5, 0.5, 1.2, 1.2 = 4; (-0.5, 0.5] holds 5
    assert traffic.max_per_second["T"] == {"*": 5, "m": 5}


def test_a_window_is_open_at_its_old_end():
    traffic = Traffic()
    assert admit_all(traffic, [0.0, 1.0, 2.0], {"*": 1}) == [None, None, None]
    assert traffic.max_per_second["T"]["*"] == 1


def test_a_full_bucket_answers_when_it_frees_up_and_rejections_do_not_count():
    traffic = Traffic()
    waits = admit_all(traffic, [0.0, 0.3, 0.5, 0.9], {"m": 2})
    assert waits[:2] == [None, None]
    assert waits[2] == pytest.approx(0.5)
    assert waits[3] == pytest.approx(0.1)
    assert traffic.max_per_second["T"]["m"] == 2
    assert traffic.admit("T", "other", {"m": 2}, 0.9) is None  # another method's bucket


def test_after_a_limit_is_lowered_room_comes_when_enough_have_left():
    traffic = Traffic()
    admit_all(traffic, [0.0, 0.1, 0.2])
    assert traffic.admit("T", "m", {"*": 2}, 0.5) == pytest.approx(0.6)  # 0.0 and 0.1 must go


def test_a_zero_limit_refuses_everything():
    assert Traffic().admit("T", "m", {"*": 0}, 0.0) == 1.0


def test_limits_by_provider_method_and_credential_override():
    policy = Policy()
    policy.apply(
        policy.prepare(
            {"rate_limits": {"wamm": 20, "greenapi": {"getMessage": 10}, "by_credential": {"SLOW": 5}}}, now=0.0
        )
    )
    assert policy.limits_for("wamm", "T") == {"*": 20}
    assert policy.limits_for("greenapi", "1101") == {"getMessage": 10}
    assert policy.limits_for("wamm", "SLOW") == {"*": 5}
    assert policy.limits_for("wbiztool", "K") == {}


@pytest.mark.parametrize(
    "changes",
    [
        {"latency": 1},
        {"fault_5xx": 1.5},
        {"fault_5xx": 0.6, "fault_timeout": 0.3, "fault_malformed": 0.2},
        {"latency_s": -1},
        {"rate_limits": {"wamm": 0.5}},
        {"rate_limits": {"whatsapp": 1}},
        {"revoked": "T"},
        {"correspondents_exceeded": "1101"},
        {"throttle": {"for_s": 1}},
        {"refusals": ["K"]},
        {"refusals": {"K": "Auth Error 3"}},
        {"daily_send_limit": 5},
        {"daily_send_limit": {"K": -1}},
    ],
)
def test_a_bad_config_change_raises_and_changes_nothing(changes):
    policy = Policy()
    with pytest.raises(ValueError):
        policy.prepare({"latency_s": 1.0, **changes}, now=0.0)
    assert policy.config.latency_s == 0.0


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"correspondents_exceeded": "1101"}, r"^correspondents_exceeded must be a list of credentials$"),
        ({"refusals": ["K"]}, r"^refusals must be an object \{credential: value\}, got \['K'\]$"),
        (
            {"refusals": {"K": "Auth Error 3"}},
            r"^refusals\.K must be one of \(.*'Higher Subscription Required'.*\), got 'Auth Error 3'$",
        ),
        ({"refusals": {"K": None}}, r"^refusals\.K must be one of .*, got None$"),
        ({"daily_send_limit": 5}, r"^daily_send_limit must be an object \{credential: value\}, got 5$"),
        ({"daily_send_limit": {"K": -1}}, r"^daily_send_limit\.K must be >= 0, got -1$"),
        ({"daily_send_limit": {"K": 2.5}}, r"^daily_send_limit\.K must be a whole number of messages, got 2\.5$"),
        ({"daily_send_limit": {"K": "10"}}, r"^daily_send_limit\.K must be a number, got '10'$"),
        ({"daily_send_limit": {"K": True}}, r"^daily_send_limit\.K must be a number, got True$"),
    ],
)
def test_a_bad_account_setting_is_refused_naming_the_field(changes, error):
    with pytest.raises(ValueError, match=error):
        Policy().prepare(changes, now=0.0)


def test_account_settings_are_kept_and_shown():
    policy = Policy()
    changes = {
        "correspondents_exceeded": ["1101"],
        "refusals": {"K": "Higher Subscription Required", "L": "Auth Error 2"},
        "daily_send_limit": {"K": 30, "L": 0.0},
    }
    policy.apply(policy.prepare(changes, now=0.0))
    assert policy.config.daily_send_limit == {"K": 30, "L": 0}
    shown = policy.config.to_json()
    assert {key: shown[key] for key in changes} == {**changes, "daily_send_limit": {"K": 30, "L": 0}}


def test_fault_rates_above_one_in_total_are_refused_naming_each_rate():
    policy = Policy()
    policy.apply(policy.prepare({"fault_5xx": 0.7, "fault_timeout": 0.2}, now=0.0))
    policy.apply(policy.prepare({"fault_malformed": 0.1}, now=0.0))  # 1 in total: still allowed
    with pytest.raises(ValueError, match=r"fault_timeout 0\.2 \+ fault_5xx 0\.7 \+ fault_malformed 0\.2 = 1\.1"):
        policy.prepare({"fault_malformed": 0.2}, now=0.0)  # merged over the current config
    assert policy.config.fault_malformed == 0.1


def test_a_throttle_lasts_for_its_window():
    policy = Policy()
    policy.apply(policy.prepare({"throttle": {"credential": "T", "for_s": 2.0}}, now=10.0))
    assert policy.throttle_left("T", 10.5) == pytest.approx(1.5)
    assert policy.throttle_left("U", 10.5) is None
    assert policy.throttle_left("T", 12.0) is None


@pytest.mark.parametrize("key", ["fault_timeout", "fault_5xx", "fault_malformed"])
def test_a_fault_at_rate_one_is_always_drawn(key):
    policy = Policy()
    policy.apply(policy.prepare({key: 1.0}, now=0.0))
    expected = {"fault_timeout": "timeout", "fault_5xx": "5xx", "fault_malformed": "malformed"}
    assert {policy.draw_fault() for _ in range(50)} == {expected[key]}


def test_the_seed_makes_faults_reproducible():
    def draws():
        policy = Policy()
        policy.apply(policy.prepare({"fault_5xx": 0.5, "seed": 7}, now=0.0))
        return [policy.draw_fault() for _ in range(40)]

    first = draws()
    assert first == draws()
    assert set(first) == {"5xx", None}


def test_each_fault_rate_is_the_share_of_requests_that_get_that_fault():
    rates = {"timeout": 0.05, "5xx": 0.2, "malformed": 0.05}
    draws = 40_000
    policy = Policy()
    changes = {f"fault_{kind}": rate for kind, rate in rates.items()}
    policy.apply(policy.prepare({**changes, "seed": 11}, now=0.0))
    seen = Counter(policy.draw_fault() for _ in range(draws))
    # off by more than four standard errors (0.004 at 5 %, 0.008 at 20 %); drawing each fault
    # only when the ones before it missed gives 5xx 19 % and malformed 3.8 %
    off = {
        kind: seen[kind] / draws
        for kind, rate in {**rates, None: 1.0 - sum(rates.values())}.items()
        if abs(seen[kind] / draws - rate) > 4 * math.sqrt(rate * (1 - rate) / draws)
    }
    assert off == {}
