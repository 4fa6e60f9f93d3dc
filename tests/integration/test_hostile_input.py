"""Whatever another service sends to ``statuswatch.track``, a real worker ends each request in
exactly one of two ways: registered as asked, or rejected with its reason recorded. Payloads
are generated (hypothesis) and sent by name; nothing is half-written, and the worker still
serves afterwards."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from statuswatch_client.contract import FIELDS, PROVIDERS

from config import load_accounts
from tests.integration.conftest import WAMM_TOKEN
from tests.integration.harness import Deployment
from worker.keys import tracker_id
from worker.local import AccountTables
from worker.simulator import SimulatorClient
from worker.tracking import parse_track_request

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PAYLOADS = 500


def accounts(url: str) -> AccountTables:
    return {
        "shop": {"provider": "wamm", "token": WAMM_TOKEN, "base_url": url},
        "billing": {"provider": "wbiztool", "client_id": 5, "api_key": "hostile-wbiz-key", "base_url": url},
        "support": {"provider": "greenapi", "id_instance": "1101000001", "api_token_instance": "hostile-green-tok",
                    "api_url": url},
    }  # fmt: skip


@pytest.fixture
def deployment(tmp_path: Path, namespace: str, simulator: SimulatorClient) -> Iterator[Deployment]:
    # slow first checks: this test is about intake, not about asking the gateway
    deployment = Deployment(
        tmp_path, namespace, accounts(simulator.url), STATUSWATCH_POLL_FIRST_S="30", STATUSWATCH_POLL_MAX_S="60"
    )
    yield deployment
    deployment.stop()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
deep: Any = "bottom"
for _ in range(300):
    deep = {"a": deep}
HOSTILE = st.sampled_from(
    ["x" * 100_000, "١٢٣", "shop\n", "", " ", "\udc80", "\x1b[31mred", 10**400, -(10**30), 0, False, True, [], {}]
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "provider": st.sampled_from(PROVIDERS),
    "account": st.sampled_from(["shop", "billing", "support", "nobody"]),
    "until": st.sampled_from(["read", "delivered", None, "sent"]),
    "expires_in": st.sampled_from([60, 3600.5, None, -1, float("nan"), float("inf")]),
    "chat_id": st.sampled_from(["79001234567@c.us", "120363043968066561@g.us", "120650379300963@lid", "-100200"]),
    "kind": st.sampled_from(["message", "status_post", None]),
    "callback_url": st.sampled_from(["https://hooks.example.test/s", "ftp://x", "http://[::1", None]),
    "callback_task": st.sampled_from(["billing.on_status", "bad name!", None]),
    "meta": st.sampled_from([{"order": 7}, {"deep": deep}, {"n": float("nan")}, {"big": "y" * 3000}, None]),
}


@st.composite
def payloads(draw: st.DrawFn) -> tuple[list[Any], dict[str, Any]]:
    """kwargs near a valid request (a unique msg_id, most fields drawn from what a producer
    might send), some fields swapped for anything JSON can carry; sometimes positional args
    or an unknown field."""
    provider, account = draw(st.sampled_from([("wamm", "shop"), ("wbiztool", "billing"), ("greenapi", "support")]))
    kwargs: dict[str, Any] = {"provider": provider, "account": account}
    if provider == "greenapi":
        kwargs["chat_id"] = "79001234567@c.us"
    for name in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=4)):
        kwargs[name] = draw(FIELD_VALUES.get(name, json_values))
    if draw(st.booleans()):  # half of them: one to three fields that could be anything
        for name in draw(st.lists(st.sampled_from(FIELDS), unique=True, min_size=1, max_size=3)):
            kwargs[name] = draw(json_values | HOSTILE)
    args = draw(st.lists(json_values, max_size=3)) if draw(st.integers(0, 9)) == 0 else []
    return args, kwargs


def expected(kwargs: dict[str, Any], args: list[Any], accounts: Any, default_s: float) -> Any:
    """The request the worker should register, or None where it must reject."""
    if args:
        return None
    try:
        return parse_track_request(kwargs, accounts, default_s)
    except ValueError:
        return None


def test_every_generated_payload_is_registered_or_rejected(deployment: Deployment, simulator: SimulatorClient) -> None:
    # The gateways know the three accounts: a batch sync that runs before the last step must
    # not be refused ("token fail") and pause the account that step's message needs.
    simulator.configure(credentials=[
        WAMM_TOKEN,
        {"provider": "wbiztool", "credential": "hostile-wbiz-key", "client_id": 5},
        {"provider": "greenapi", "credential": "1101000001", "api_token": "hostile-green-tok"},
    ])  # fmt: skip
    deployment.start_worker("w1")
    deployment.start_beat()
    deployment.wait_ready(["w1"])
    accounts = load_accounts(deployment.settings.accounts_file)  # type: ignore[arg-type]
    default_s = deployment.settings.default_expires_s
    sent: dict[str, tuple[Any, Any]] = {}  # task id -> (expected request or None, kwargs)

    @settings(
        max_examples=PAYLOADS, phases=[Phase.generate], deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(payloads())
    def send(payload: tuple[list[Any], dict[str, Any]]) -> None:
        args, kwargs = payload
        n = len(sent)
        if "msg_id" not in kwargs or n % 3:  # most get an id of their own, valid for their gateway
            kwargs["msg_id"] = str(9_000_000 + n) if kwargs.get("provider") != "greenapi" else f"HOSTILE{n}"
        task_id = f"hostile-{n}"
        sent[task_id] = (expected(kwargs, args, accounts, default_s), kwargs)
        deployment.producer.send_task("statuswatch.track", args=args, kwargs=kwargs, task_id=task_id)

    send()
    assert len(sent) >= PAYLOADS
    valid = {tid: req for tid, (req, _) in sent.items() if req is not None}
    assert 50 < len(valid) < len(sent) - 50, "the payloads should mix good and bad requests"

    def rejected_ids() -> set[str]:
        return {e["task_id"] for e in deployment.fleet.rejected(100_000)}

    def accounted() -> bool:
        ids = [tracker_id(r.provider, r.account, r.msg_id) for r in valid.values()]
        registered = sum(t is not None for t in deployment.store.get_many(ids))
        return registered == len({*ids}) and len(rejected_ids()) == len(sent) - len(valid)

    deployment.wait_for(accounted, timeout_s=120, what="every payload registered or rejected")
    rejections = {e["task_id"]: e for e in deployment.fleet.rejected(100_000)}
    assert set(rejections) == set(sent) - set(valid), "a valid request was rejected, or a bad one registered"
    assert all(e["reason"] and len(e["reason"]) <= 300 and len(e["request"]) <= 1000 for e in rejections.values())

    ids = Counter(tracker_id(r.provider, r.account, r.msg_id) for r in valid.values())
    for request in valid.values():  # registered as asked (where no other request named the same message)
        if ids[tracker_id(request.provider, request.account, request.msg_id)] > 1:
            continue
        tracker = deployment.store.get(tracker_id(request.provider, request.account, request.msg_id))
        assert tracker is not None
        stored = tracker.fields
        assert stored["until"] == request.until and int(stored["expires_in"]) == math.ceil(request.expires_in_s * 1000)
        assert stored.get("chat_id", "") == (request.chat_id or "")
        assert json.loads(stored.get("meta", "{}")) == dict(request.meta)

    # nothing half-written: every tracker key is a registered tracker, whole and scheduled
    prefix = deployment.keys.prefix + ":t:"
    registered = {tracker_id(r.provider, r.account, r.msg_id) for r in valid.values()}
    for key in deployment.redis.scan_iter(match=prefix + "*", count=1000):
        tid = key[len(prefix) :]
        assert tid in registered, f"{tid} was written but no valid request asked for it"
        row = deployment.redis.hgetall(key)
        assert {"state", "until", "expires_at", "created_at"} <= set(row), row
        group, member = tid.rsplit(":", 1)
        assert row.get("outcome") or deployment.redis.zscore(deployment.keys.due(group), member) is not None

    # and the worker still serves
    life = [["viewed", 0.1]]
    simulator.add_messages([{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": "9999999", "life": life}])
    deployment.producer.send_task(
        "statuswatch.track", kwargs={"provider": "wamm", "account": "shop", "msg_id": "9999999"},
        queue="statuswatch.track",
    )  # fmt: skip
    done = deployment.engine.store
    deployment.wait_for(lambda: (t := done.get("wamm:shop:9999999")) is not None and t.state.value == "read",
                        timeout_s=60, what="a good request after the hostile ones to settle")  # fmt: skip
