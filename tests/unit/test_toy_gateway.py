"""Adding a gateway is one adapter module and one table entry: a toy gateway, defined here and
nowhere else, is registered with exactly those two (an entry in ``config.GATEWAYS``, its
adapter in ``worker.providers.ADAPTERS``), and then accounts, poll settings, the limiter,
request validation and the engine's track, dispatch and check all know it, against a
loopback HTTP server that plays the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from statuswatch_client.contract import parse_track

from config import GATEWAYS, Account, ConfigError, Gateway, Rate, load_settings
from config.accounts import parse_accounts
from tests.stub import Seen, Stub, stub_server
from worker.fleet import Fleet
from worker.keys import Keys
from worker.planner import CheckOrder
from worker.providers import ADAPTERS, Adapter, Http, MessageRef
from worker.ratelimit import Limiter
from worker.runtime import Engine
from worker.states import Observation, Outcome, State
from worker.tracking import parse_track_request

TOY = Gateway(
    name="toy",
    credentials=("account_id", "key"),
    secrets=("key",),
    identity="account_id",
    url_field="endpoint",
    default_url="https://toy.invalid",
    msg_id=r"[a-z]{1,8}",
    msg_id_hint="a toy msg_id is a few small letters",
    ceiling="delivered",
    methods={"message": "status"},
    method_limits={"status": "7/s"},
)
KEY = "toy-key-5e1f0a"


class Toy(Adapter):
    """The whole adapter: one GET per message, the key in the query; its ceiling and its
    method come from the entry."""

    name = "toy"

    def __init__(self, account: Account, http: Http) -> None:
        self.url = f"{account.base_url}/v1/messages"
        self.key = account.credentials["key"]
        self.http = http

    def probe(self) -> str:
        return "key accepted"

    def fetch(self, ref: MessageRef) -> Observation:
        reply = self.http.request("GET", f"{self.url}/{ref.msg_id}", params={"key": self.key})
        raw = reply.body.get("state") if isinstance(reply.body, dict) else None
        state = {"queued": State.PENDING, "out": State.SENT, "arrived": State.DELIVERED}.get(str(raw))
        return Observation(state=state, raw=str(raw))


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GATEWAYS, "toy", TOY)
    monkeypatch.setitem(ADAPTERS, "toy", Toy)


@pytest.fixture
def gateway() -> Iterator[Stub]:
    def answer(seen: Seen) -> tuple[int, object]:
        if seen.path == f"/v1/messages/abc?key={KEY}":
            return 200, {"state": "arrived"}
        return 404, {"error": "no such message"}

    with stub_server(answer) as stub:
        yield stub


def toy_account(**fields: object) -> dict[str, object]:
    return {"provider": "toy", "account_id": "42", "key_env": "LAB_KEY", **fields}


def test_accounts_of_the_toy_gateway_are_read_by_its_entry(toy: None) -> None:
    environ = {"LAB_KEY": KEY}
    table = {
        "lab": toy_account(endpoint="http://127.0.0.1:9/"),
        "lab2": toy_account(),
        "other": toy_account(account_id="43"),
    }
    accounts = parse_accounts({"accounts": table}, environ, "accounts.toml")
    lab = accounts["lab"]
    assert (lab.provider, lab.base_url) == ("toy", "http://127.0.0.1:9")
    assert dict(lab.credentials) == {"account_id": "42", "key": KEY}
    assert accounts["lab2"].base_url == "https://toy.invalid"
    assert accounts.secrets() == [KEY] * 3 and KEY not in repr(lab)
    # the identity is account_id: two aliases of one account share its limits, another does not
    assert lab.credential_key == accounts["lab2"].credential_key != accounts["other"].credential_key
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['token'\] for a toy account"):
        parse_accounts({"accounts": {"lab": toy_account(token="t")}}, environ, "accounts.toml")
    with pytest.raises(ConfigError, match=r"accounts\.lab\.key: missing"):
        parse_accounts({"accounts": {"lab": {"provider": "toy", "account_id": "42"}}}, environ, "accounts.toml")


def test_the_toy_gateway_has_its_poll_settings_and_its_limiter_buckets(toy: None) -> None:
    settings = load_settings({"STATUSWATCH_TOY_POLL_FIRST_S": "0.5", "STATUSWATCH_TOY_POLL_MAX_S": "30"})
    assert (settings.poll_for("toy").first_s, settings.poll_for("toy").max_s) == (0.5, 30)
    assert settings.poll_for("wamm") == settings.poll
    account = Account("lab", "toy", "http://127.0.0.1:9", {"account_id": "42", "key": KEY})
    limiter = Limiter(fakeredis.FakeRedis(decode_responses=True), Keys("toytest"), default_rate=Rate(5, 1))
    assert limiter.buckets(account, "status") == {"status": Rate(7, 1)}  # its documented limit
    assert limiter.buckets(account, "elsewhere") == {"*": Rate(5, 1)}  # the default


def test_the_engine_tracks_dispatches_and_checks_a_toy_message(toy: None, gateway: Stub, tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f'[accounts.lab]\nprovider = "toy"\naccount_id = "42"\nkey = "{KEY}"\nendpoint = "{gateway.url}"\n'
    )
    settings = load_settings({"STATUSWATCH_ACCOUNTS_FILE": str(accounts), "STATUSWATCH_TOY_POLL_FIRST_S": "0"})
    e = Engine.from_settings(settings, fakeredis.FakeRedis(decode_responses=True))

    # requests are checked by the entry's id rule
    refused = e.track({"provider": "toy", "account": "lab", "msg_id": "ABC"}).summary()
    assert refused["accepted"] is False and "a toy msg_id is a few small letters" in refused["reason"]
    assert e.track({"provider": "toy", "account": "lab", "msg_id": "abc"}).summary()["tracker"] == "toy:lab:abc"

    # the dispatcher plans at the entry's limit of the entry's check method
    lab = e.gateways.account("lab", "toy")
    assert lab is not None and e.gateways.check_method(lab) == "status"
    assert e.limiter.rate_per_s(lab, "status") == 7
    orders: list[CheckOrder] = []
    assert e.dispatcher.dispatch(orders.extend) == 1 and [o.trackers for o in orders] == [["toy:lab:abc"]]

    # the check asks the gateway and settles at the entry's ceiling (the request wanted "read")
    result = e.checker.check("toy:lab:abc").summary()
    assert (result["state"], result["outcome"]) == ("delivered", "settled")
    tracker = e.store.get("toy:lab:abc")
    assert tracker is not None and (tracker.state, tracker.outcome) == (State.DELIVERED, Outcome.SETTLED)
    assert [s.path for s in gateway.requests] == [f"/v1/messages/abc?key={KEY}"]
    assert Fleet(e.store.redis, e.store.keys).stats()["requests:toy:status:ok"] == 1

    # no batch method: no sync
    assert e.batch_sync.targets() == [] and "skipped" in e.batch_sync.sync("lab").summary()


def test_the_producer_client_keeps_its_own_copy(toy: None) -> None:
    """It installs without config/: until its copy learns the gateway, the client refuses it
    (tests/unit/test_gateways.py fails for a gateway the copy lacks), the worker does not."""
    kwargs = {"provider": "toy", "account": "lab", "msg_id": "abc"}
    with pytest.raises(ValueError, match=r"^provider: must be one of greenapi, wamm, wbiztool, got 'toy'"):
        parse_track(kwargs)
    assert parse_track_request(kwargs, None, 60).provider == "toy"
