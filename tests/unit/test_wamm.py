"""WAMM.chat msg_state adapter against bodies from shared/seeds/wamm-msg_state.txt, over real HTTP."""

from __future__ import annotations

import pytest

from config import Account
from tests.documented import WAMM_MSG_STATE
from tests.stub import stub_server
from worker.errors import AccountError, MessageError, NotFound, RateLimited, TransientError
from worker.providers import MessageRef, build
from worker.providers.http import Http
from worker.redact import Redactor
from worker.states import State

TOKEN = "wamm-Tok/en+42"


def adapter(url: str):
    account = Account("shop", "wamm", url, {"token": TOKEN})
    return build(account, Http("wamm", Redactor([TOKEN]), timeout_s=2))


def fetch(status: int, body: object, headers_ok: bool = True):
    with stub_server(lambda seen: (status, body)) as stub:
        return adapter(stub.url).fetch(MessageRef("1234567")), stub.requests


def state_body(state: str) -> dict[str, object]:
    # [seed 000] success shape: msg_id comes back as a string
    return {**WAMM_MSG_STATE, "msg_data": {**WAMM_MSG_STATE["msg_data"], "state": state}}


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
    assert (observation.state, observation.raw) == (state, raw)


@pytest.mark.parametrize(
    ("err", "error"),
    [
        ("token fail", AccountError), ("acc not authorized", AccountError),
        ("msg_id fail", MessageError), ("msg not be", NotFound), ("something new", TransientError),
    ],
)  # fmt: skip
def test_every_documented_error_inside_http_200(err: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetch(200, {"err": err})
    assert type(caught.value) is error
    assert TOKEN not in str(caught.value)


def test_request_shape_token_only_in_the_path() -> None:
    _, [seen] = fetch(200, state_body("sent"))
    assert seen.method == "GET"
    assert seen.path == "/api2/msg_state/wamm-Tok%2Fen%2B42/?msg_id=1234567"
    assert seen.body == b""
    assert not any(TOKEN in v for v in seen.headers.values())


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (502, b"<html>Bad Gateway</html>", TransientError),
        (200, b"<html>maintenance</html>", TransientError),
        (200, b'{"err": 0, "msg_data": {"st', TransientError),
        (200, {"unexpected": True}, TransientError),
        (429, {"err": "too many requests"}, RateLimited),
    ],
)
def test_transport_failures_are_transient(status: int, body: object, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetch(status, body)
    assert TOKEN not in str(caught.value)


def test_connection_refused_is_transient_and_redacted() -> None:
    with stub_server(lambda seen: (200, {})) as stub:
        url = stub.url
    with pytest.raises(TransientError) as caught:
        adapter(url).fetch(MessageRef("1"))
    text = str(caught.value)
    assert "connection failed" in text and TOKEN not in text and "wamm-Tok%2Fen" not in text
