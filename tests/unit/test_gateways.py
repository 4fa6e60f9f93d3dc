"""The gateway table (config/gateways.py): each entry is whole and consistent, every entry has
an adapter, the views the engine reads say what they said before the table, and the
producer client's copy of the names and id rules is the table's."""

from __future__ import annotations

import re

import pytest
from statuswatch_client.contract import KINDS, MSG_ID_RULES, PROVIDERS, parse_track

from config import GATEWAYS, Account, parse_rate
from worker.providers import ADAPTERS, BATCH, CEILINGS, Http, MessageRef, Provider, build
from worker.ratelimit import documented_limit
from worker.redact import Redactor
from worker.states import State

NAMES = sorted(GATEWAYS)


@pytest.mark.parametrize("name", NAMES)
def test_an_entry_is_whole_and_consistent(name: str) -> None:
    gateway = GATEWAYS[name]
    assert gateway.name == name
    assert gateway.identity in gateway.credentials
    assert set(gateway.secrets) <= set(gateway.credentials)
    assert gateway.url_field not in gateway.credentials
    assert gateway.default_url.startswith("https://")
    re.compile(gateway.msg_id)
    State(gateway.ceiling)  # raises for a state that does not exist
    assert "message" in gateway.methods and set(gateway.methods) <= set(KINDS)
    for method, text in gateway.method_limits.items():
        assert documented_limit(name, method) == parse_rate(text, method)


def test_every_entry_has_its_adapter_and_no_adapter_is_without_one() -> None:
    assert set(ADAPTERS) == set(GATEWAYS)
    for name, cls in ADAPTERS.items():
        assert getattr(cls, "name", None) == name


def adapter(name: str) -> Provider:
    gateway = GATEWAYS[name]
    account = Account("a", name, gateway.default_url, {field: "1" for field in gateway.credentials})
    return build(account, Http(name, Redactor(), timeout_s=1))


def test_the_views_of_the_table_say_what_the_hand_kept_structures_said() -> None:
    assert dict(CEILINGS) == {"wamm": State.READ, "wbiztool": State.SENT, "greenapi": State.READ}
    assert set(BATCH) == {"wamm", "greenapi"} and "wbiztool" not in BATCH and "nobody" not in BATCH
    assert len(BATCH) == 2 and len(CEILINGS) == 3
    methods = {name: {kind: adapter(name).method(MessageRef("1", kind=kind)) for kind in KINDS} for name in NAMES}
    assert methods == {
        "greenapi": {"message": "getMessage", "status_post": "getStatusStatistic"},
        "wamm": {"message": "msg_state", "status_post": "msg_state"},
        "wbiztool": {"message": "message_status", "status_post": "message_status"},
    }
    assert {name: getattr(adapter(name), "batch_method", None) for name in NAMES} == {
        "greenapi": "lastOutgoingMessages", "wamm": "msg_get_last", "wbiztool": None,
    }  # fmt: skip
    assert {name: adapter(name).ceiling for name in NAMES} == dict(CEILINGS)
    limits = {(name, m): documented_limit(name, m) for name in NAMES for m in GATEWAYS[name].method_limits}
    assert {key: str(rate) for key, rate in limits.items()} == {
        ("greenapi", "getMessage"): "10/s",
        ("greenapi", "lastOutgoingMessages"): "1/s",
        ("greenapi", "getStatusStatistic"): "1/s",
        ("greenapi", "getStateInstance"): "1/s",
    }


def test_the_clients_copy_of_names_and_id_rules_is_the_table() -> None:
    """The client installs without config/, so it keeps a copy: a gateway added to the table
    is added there too, or this fails."""
    assert set(PROVIDERS) == set(GATEWAYS) == set(MSG_ID_RULES)
    for name, (pattern, hint) in MSG_ID_RULES.items():
        assert (pattern.pattern, hint) == (GATEWAYS[name].msg_id, GATEWAYS[name].msg_id_hint)


@pytest.mark.parametrize("name", NAMES)
def test_the_client_takes_the_message_kinds_the_table_has_methods_for(name: str) -> None:
    for kind in KINDS:
        kwargs = {"provider": name, "account": "a", "msg_id": "1", "chat_id": "79001234567@c.us", "kind": kind}
        if kind in GATEWAYS[name].methods:
            assert parse_track(kwargs).kind == kind
        else:
            with pytest.raises(ValueError, match=r"^kind: "):
                parse_track(kwargs)
