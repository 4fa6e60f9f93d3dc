"""WAMM.chat adapter (msg_state, msg_get_last) against the documented bodies of
tests/documented.py (each tagged with its source), served over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from config import Account
from tests.documented import (
    WAMM_ACC_NOT_AUTHORIZED,
    WAMM_COL_FAIL,
    WAMM_MSG_GET_LAST,
    WAMM_MSG_ID_FAIL,
    WAMM_MSG_NOT_BE,
    WAMM_MSG_STATE,
    WAMM_MSGS_NOT_BE,
    WAMM_TOKEN_FAIL,
)
from tests.stub import RETRY_AFTER_KINDS, retry_after, stub_server
from worker.errors import AccountError, MessageError, NotFound, RateLimited, TransientError, UnexpectedAnswer
from worker.providers import MessageRef, build
from worker.providers.http import Http
from worker.redact import Redactor
from worker.simulator import Clock, start_in_thread
from worker.states import Observation, State

TOKEN = "wamm-Tok/en+42"
QUOTED_TOKEN = "wamm-Tok%2Fen%2B42"
#: [doc msg_get_last] the outgoing item's date_upd "2023-05-24 19:52:22", read as UTC (zone unconfirmed)
DATE_UPD_S = 1_684_957_942.0


def adapter(url: str, token: str = TOKEN):
    account = Account("shop", "wamm", url, {"token": token})
    return build(account, Http("wamm", Redactor([token]), timeout_s=2))


def fetch(status: int, body: object):
    with stub_server(lambda seen: (status, body)) as stub:
        return adapter(stub.url).fetch(MessageRef("1234567")), stub.requests


def recent(status: int, body: object):
    with stub_server(lambda seen: (status, body)) as stub:
        return adapter(stub.url).recent(3600), stub.requests


def state_body(state: str) -> dict[str, object]:
    # [doc msg_state] success shape: msg_id comes back as a string
    return {**WAMM_MSG_STATE, "msg_data": {**WAMM_MSG_STATE["msg_data"], "state": state}}


def test_the_documented_msg_state_body() -> None:
    observation, _ = fetch(200, WAMM_MSG_STATE)
    assert observation == Observation(State.READ, "viewed")  # msg_state gives no date: no provider_ts


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("sending", State.PENDING), ("sent", State.SENT), ("delivered", State.DELIVERED),
        ("viewed", State.READ), ("not sent", State.FAILED), ("failed", State.FAILED),
        ("noAccount", State.FAILED), ("NoAccount", State.FAILED), ("notInGroup", State.FAILED),
        ("deleted", State.DELETED), ("received", None), ("no info", None), ("brand-new", None),
    ],
)  # fmt: skip
def test_every_documented_state(raw: str, state: State | None) -> None:
    observation, _ = fetch(200, state_body(raw))
    assert observation == Observation(state, raw)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (WAMM_TOKEN_FAIL, AccountError), (WAMM_ACC_NOT_AUTHORIZED, AccountError),
        (WAMM_MSG_ID_FAIL, MessageError), (WAMM_MSG_NOT_BE, NotFound),
        ({"err": "something new"}, UnexpectedAnswer),  # undocumented: not trusted to mean more
    ],
)  # fmt: skip
def test_every_documented_msg_state_error_inside_http_200(body: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetch(200, body)
    assert type(caught.value) is error
    assert body["err"] in str(caught.value) and TOKEN not in str(caught.value)


def test_request_shape_token_only_in_the_path() -> None:
    _, [seen] = fetch(200, state_body("sent"))
    assert seen.method == "GET"
    assert seen.path == f"/api2/msg_state/{QUOTED_TOKEN}/?msg_id=1234567"
    assert seen.body == b""
    assert not any(TOKEN in v or QUOTED_TOKEN in v for v in seen.headers.values())


def test_the_documented_msg_get_last_body_keeps_only_the_outgoing_item() -> None:
    # [doc msg_get_last] item 1: from_me "1", delivered; item 2: from_me "0", received (incoming)
    items, _ = recent(200, WAMM_MSG_GET_LAST)
    assert items == [("1234567", Observation(State.DELIVERED, "delivered", provider_ts=DATE_UPD_S))]


def test_msg_get_last_the_from_me_field_is_what_drops_the_incoming_item() -> None:
    outgoing, incoming = WAMM_MSG_GET_LAST["msg_data"]
    items, _ = recent(200, {"err": 0, "msg_data": [outgoing, {**incoming, "from_me": "1"}]})
    assert [(msg_id, obs.state, obs.raw) for msg_id, obs in items] == [
        ("1234567", State.DELIVERED, "delivered"),
        ("1234566", None, "received"),  # "received" would say nothing about an outgoing message
    ]
    assert items[1][1].provider_ts == DATE_UPD_S - 127  # its date_upd "2023-05-24 19:50:15"


@pytest.mark.parametrize("date_upd", [None, "", "24.05.2023 19:52", 1684957942])
def test_msg_get_last_without_a_readable_date_has_no_provider_ts(date_upd: object) -> None:
    outgoing = {**WAMM_MSG_GET_LAST["msg_data"][0], "date_upd": date_upd}
    [(_, observation)] = recent(200, {"err": 0, "msg_data": [outgoing]})[0]
    assert observation == Observation(State.DELIVERED, "delivered")


@pytest.mark.parametrize(
    ("body", "error"),
    [(WAMM_TOKEN_FAIL, AccountError), (WAMM_ACC_NOT_AUTHORIZED, AccountError), (WAMM_COL_FAIL, MessageError)],
)
def test_every_documented_msg_get_last_error_inside_http_200(body: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        recent(200, body)
    assert type(caught.value) is error
    assert body["err"] in str(caught.value) and TOKEN not in str(caught.value)


def test_msg_get_last_msgs_not_be_is_an_empty_list() -> None:
    # [doc msg_get_last] "msgs not be": no messages found, nothing sent lately; not an error
    assert recent(200, WAMM_MSGS_NOT_BE)[0] == []


def test_msg_get_last_request_shape_token_only_in_the_path() -> None:
    # [doc msg_get_last] GET /api2/msg_get_last/{token}/?col=N&from_me=1: the newest 100, outgoing only
    _, [seen] = recent(200, WAMM_MSG_GET_LAST)
    assert seen.method == "GET"
    assert seen.path == f"/api2/msg_get_last/{QUOTED_TOKEN}/?col=100&from_me=1"
    assert seen.body == b""
    assert not any(TOKEN in v or QUOTED_TOKEN in v for v in seen.headers.values())


def test_probe_asks_msg_state_of_message_zero() -> None:
    # no documented "who am I": "msg not be" for message 0 proves the token works
    with stub_server(lambda seen: (200, WAMM_MSG_NOT_BE)) as stub:
        assert adapter(stub.url).probe() == "token accepted"
    [seen] = stub.requests
    assert (seen.method, seen.path, seen.body) == ("GET", f"/api2/msg_state/{QUOTED_TOKEN}/?msg_id=0", b"")
    with stub_server(lambda seen: (200, WAMM_TOKEN_FAIL)) as stub, pytest.raises(AccountError):
        adapter(stub.url).probe()


@pytest.mark.parametrize("call", ["fetch", "recent"])
@pytest.mark.parametrize("kind", RETRY_AFTER_KINDS)
def test_a_429_is_rate_limited_with_its_retry_after(call: str, kind: str) -> None:
    # WAMM documents no 429: the client handles one like any gateway's
    headers, bounds = retry_after(kind)
    with stub_server(lambda seen: (429, {"err": "too many requests"}, headers)) as stub:
        wamm = adapter(stub.url)
        with pytest.raises(RateLimited) as caught:
            wamm.fetch(MessageRef("1")) if call == "fetch" else wamm.recent(60)
    delay = caught.value.retry_after_s
    assert delay is None if bounds is None else bounds[0] <= delay <= bounds[1]
    assert TOKEN not in str(caught.value) and QUOTED_TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (502, b"<html>Bad Gateway</html>", TransientError),
        (200, b"<html>maintenance</html>", TransientError),
        (200, b'{"err": 0, "msg_data": {"st', TransientError),
        (200, {"unexpected": True}, TransientError),
    ],
)
def test_transport_failures_are_transient(status: int, body: object, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetch(status, body)
    assert type(caught.value) is error
    assert TOKEN not in str(caught.value)


def test_connection_refused_is_transient_and_redacted() -> None:
    with stub_server(lambda seen: (200, {})) as stub:
        url = stub.url
    with pytest.raises(TransientError) as caught:
        adapter(url).fetch(MessageRef("1"))
    text = str(caught.value)
    assert "connection failed" in text and TOKEN not in text and QUOTED_TOKEN not in text


def test_adapter_and_simulator_agree() -> None:
    def message(msg_id: str, life: list[list[object]]) -> dict[str, object]:
        return {"provider": "wamm", "credential": TOKEN, "msg_id": msg_id, "phone": "79001234567", "life": life}

    with start_in_thread(clock=Clock(start_s=1_700_000_000.0)) as sim:
        sim.client.add_messages([
            message("1", [["sent", 0], ["delivered", 1], ["viewed", 2]]),
            message("2", [["sent", 0], ["not sent", 1]]),
            message("3", [["sent", 5]]),
        ])  # fmt: skip
        sim.client.advance_clock(3)
        wamm = adapter(sim.url)
        assert wamm.fetch(MessageRef("1")) == Observation(State.READ, "viewed")
        assert wamm.fetch(MessageRef("2")) == Observation(State.FAILED, "not sent")
        # newest first; date_upd is the time of the last change, written in UTC
        assert wamm.recent(3600) == [
            ("3", Observation(State.PENDING, "sending", provider_ts=1_700_000_000.0)),
            ("2", Observation(State.FAILED, "not sent", provider_ts=1_700_000_001.0)),
            ("1", Observation(State.READ, "viewed", provider_ts=1_700_000_002.0)),
        ]
        with pytest.raises(NotFound):
            wamm.fetch(MessageRef("999"))
        assert wamm.probe() == "token accepted"
        with pytest.raises(AccountError):
            adapter(sim.url, token="wrong-token").recent(3600)


@pytest.mark.parametrize("answered", ["999", 999, "12345670"])
def test_an_answer_about_another_message_is_refused(answered: object) -> None:
    """msg_state names its message (msg_data.msg_id, a string): an answer about another one is
    not applied (one about message 999 settled tracker 1234567)."""
    from worker.errors import UnexpectedAnswer

    body = {**WAMM_MSG_STATE, "msg_data": {**WAMM_MSG_STATE["msg_data"], "msg_id": answered}}
    with pytest.raises(UnexpectedAnswer) as caught:
        fetch(200, body)
    assert f"{answered}" in str(caught.value)


@pytest.mark.parametrize("msg_data", [{"state": "viewed"}, {"msg_id": 1234567, "state": "viewed"}])
def test_an_answer_naming_no_message_or_ours_as_an_integer_is_applied(msg_data: dict[str, object]) -> None:
    assert fetch(200, {"err": 0, "msg_data": msg_data})[0] == Observation(State.READ, "viewed")


def test_a_token_the_gateway_echoes_is_masked_before_its_text_is_cut() -> None:
    with pytest.raises(UnexpectedAnswer) as caught:
        fetch(200, {"err": "no such token: " + "." * 180 + TOKEN})
    assert TOKEN[:6] not in str(caught.value)
    with pytest.raises(UnexpectedAnswer) as caught:
        fetch(200, {"err": 0, "msg_data": {"msg_id": "." * 30 + TOKEN, "state": "sent"}})
    assert TOKEN[:6] not in str(caught.value)
