"""WBizTool message/status adapter against the documented bodies of tests/documented.py (each
tagged with its source), over real HTTP; then against the project's simulator."""

from __future__ import annotations

import json

import pytest

from config import Account
from tests.documented import (
    WBIZ_AUTH_ERROR,
    WBIZ_AUTH_ERROR_2,
    WBIZ_BAD_SCHEDULE,
    WBIZ_CANCELLED,
    WBIZ_CREATED,
    WBIZ_DAILY_LIMIT,
    WBIZ_EXPIRED,
    WBIZ_FAILED,
    WBIZ_HIGHER_SUBSCRIPTION,
    WBIZ_INVALID_CLIENT,
    WBIZ_INVALID_PHONE,
    WBIZ_ME,
    WBIZ_PENDING,
    WBIZ_SENT,
    WBIZ_UNKNOWN,
)
from tests.stub import RETRY_AFTER_KINDS, retry_after, stub_server
from worker.errors import AccountError, MessageError, NotFound, RateLimited, TransientError, UnexpectedAnswer
from worker.providers import MessageRef, build
from worker.providers.http import Http
from worker.redact import Redactor
from worker.simulator import Clock, start_in_thread
from worker.states import Observation, State

API_KEY, CLIENT_ID = "wbiz-Key/42+x", "4242"


def adapter(url: str, api_key: str = API_KEY):
    account = Account("shop", "wbiztool", url, {"client_id": CLIENT_ID, "api_key": api_key})
    return build(account, Http("wbiztool", Redactor([api_key]), timeout_s=2))


def fetch(status: int, body: object, msg_id: str = "12345"):
    with stub_server(lambda seen: (status, body)) as stub:
        return adapter(stub.url).fetch(MessageRef(msg_id)), stub.requests


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (WBIZ_CREATED, Observation(State.PENDING, "0")),  # "error": "" is no reason
        (WBIZ_PENDING, Observation(State.PENDING, "0")),
        (WBIZ_SENT, Observation(State.SENT, "1")),
        (WBIZ_FAILED, Observation(State.FAILED, "2", detail={"error": "Invalid phone number"})),
        (WBIZ_CANCELLED, Observation(State.CANCELLED, "3")),
        (WBIZ_EXPIRED, Observation(State.EXPIRED, "4")),
        # a code no source shows, in the documented shape: unmapped
        ({**WBIZ_SENT, "status": 7, "status_text": "Brand new"}, Observation(None, "7")),
    ],
)
def test_every_documented_status_code(body: dict[str, object], expected: Observation) -> None:
    observation, _ = fetch(200, body)
    assert observation == expected  # WBizTool gives no time: no provider_ts


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, WBIZ_UNKNOWN, NotFound),  # status 0 is not "pending" here
        (400, WBIZ_AUTH_ERROR, AccountError),
        (403, WBIZ_AUTH_ERROR, AccountError),  # the client docstring also names 403
        (401, {"detail": "Authentication credentials were not provided."}, AccountError),  # unconfirmed body
        # client 1.1.0's logical refusals inside HTTP 200: none of them is a pending message
        (200, WBIZ_AUTH_ERROR_2, AccountError),
        (200, WBIZ_INVALID_CLIENT, AccountError),  # the account's connected number
        (200, WBIZ_HIGHER_SUBSCRIPTION, AccountError),  # the account's plan
        (200, WBIZ_BAD_SCHEDULE, MessageError),  # a refusal of the request's fields, not of the account
        (400, WBIZ_INVALID_CLIENT, AccountError),  # the same refusal with an error status
        (400, WBIZ_INVALID_PHONE, MessageError),
        # unconfirmed: a 404 with a JSON body (the HTML one is refused before asking, below);
        # our ids are integers, so the URL pattern matched: what it means is not known
        (404, {"detail": "Not found."}, UnexpectedAnswer),
        (400, {"status": 0, "message": "Internal Server Error"}, UnexpectedAnswer),  # no refusal we know
        (429, WBIZ_DAILY_LIMIT, RateLimited),
        (500, b"<html>Server Error</html>", TransientError),  # [pypi 1.1.0 tests] may be HTML
        (200, b"<html>maintenance</html>", TransientError),
        (200, {**WBIZ_SENT, "status": "1"}, TransientError),
        (200, {"message": "connected"}, TransientError),
        (405, {"detail": "Method not allowed."}, TransientError),
    ],
)
def test_every_documented_error(status: int, body: object, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetch(status, body)
    assert type(caught.value) is error
    assert API_KEY not in str(caught.value)
    if error is not RateLimited and isinstance(body, dict) and "message" in body:
        assert body["message"] in str(caught.value)  # the reason reaches the log and the store


@pytest.mark.parametrize("msg_id", ["abc", "12a", "", "١٢"])
def test_a_non_integer_id_is_refused_without_asking(msg_id: str) -> None:
    # [pypi wbiztool-client 1.1.0 client.py] rejects non-integer ids locally (ValueError)
    with pytest.raises(MessageError) as caught:
        fetch(200, WBIZ_SENT, msg_id=msg_id)
    assert type(caught.value) is MessageError


def test_request_shape_credentials_only_in_the_json_body() -> None:
    # [doc message-status-api] POST /message/status/<id>/ with client_id and api_key as body fields
    _, [seen] = fetch(200, WBIZ_SENT)
    assert seen.method == "POST"
    assert seen.path == "/api/v1/message/status/12345/"
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"client_id": 4242, "api_key": API_KEY}
    assert not any(API_KEY in v or CLIENT_ID in v for v in seen.headers.values())


def test_probe_request_shape_is_me_with_credentials_only_in_the_json_body() -> None:
    # client 1.1.0: POST /me/ is the credentials check
    with stub_server(lambda seen: (200, WBIZ_ME)) as stub:
        assert adapter(stub.url).probe() == "credentials accepted (Shop)"
    [seen] = stub.requests
    assert (seen.method, seen.path) == ("POST", "/api/v1/me/")
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"client_id": 4242, "api_key": API_KEY}
    assert not any(API_KEY in v for v in seen.headers.values())


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, WBIZ_AUTH_ERROR), (200, WBIZ_AUTH_ERROR_2), (200, WBIZ_HIGHER_SUBSCRIPTION), (200, WBIZ_INVALID_CLIENT)],
)
def test_probe_refusals_are_account_errors(status: int, body: dict[str, object]) -> None:
    with stub_server(lambda seen: (status, body)) as stub, pytest.raises(AccountError) as caught:
        adapter(stub.url).probe()
    assert type(caught.value) is AccountError and API_KEY not in str(caught.value)


@pytest.mark.parametrize("call", ["fetch", "probe"])
@pytest.mark.parametrize("kind", RETRY_AFTER_KINDS)
def test_a_429_is_rate_limited_with_its_retry_after(call: str, kind: str) -> None:
    headers, bounds = retry_after(kind)
    with stub_server(lambda seen: (429, WBIZ_DAILY_LIMIT, headers)) as stub:
        wbiz = adapter(stub.url)
        with pytest.raises(RateLimited) as caught:
            wbiz.fetch(MessageRef("5")) if call == "fetch" else wbiz.probe()
    delay = caught.value.retry_after_s
    assert delay is None if bounds is None else bounds[0] <= delay <= bounds[1]
    assert API_KEY not in str(caught.value)


def test_a_non_integer_client_id_is_an_account_error() -> None:
    account = Account("shop", "wbiztool", "http://127.0.0.1:9", {"client_id": "abc", "api_key": API_KEY})
    with pytest.raises(AccountError):
        build(account, Http("wbiztool", Redactor([API_KEY]), timeout_s=2)).fetch(MessageRef("1"))


def test_adapter_and_simulator_agree() -> None:
    def message(msg_id: str, life: list[list[object]], **extra: object) -> dict[str, object]:
        return {"provider": "wbiztool", "credential": API_KEY, "client_id": int(CLIENT_ID),
                "msg_id": msg_id, "life": life, **extra}  # fmt: skip

    with start_in_thread(clock=Clock(start_s=1_700_000_000.0)) as sim:
        sim.client.add_messages([
            message("1", [[1, 0]]),
            message("2", [[1, 0], [2, 1]], error="Invalid phone number"),
            message("3", [[3, 0]]),
            message("4", [[1, 5]]),
        ])  # fmt: skip
        sim.client.advance_clock(2)
        wbiz = adapter(sim.url)
        assert wbiz.fetch(MessageRef("1")) == Observation(State.SENT, "1")
        assert wbiz.fetch(MessageRef("2")) == Observation(State.FAILED, "2", detail={"error": "Invalid phone number"})
        assert wbiz.fetch(MessageRef("3")) == Observation(State.CANCELLED, "3")
        assert wbiz.fetch(MessageRef("4")) == Observation(State.PENDING, "0")
        with pytest.raises(NotFound):
            wbiz.fetch(MessageRef("999"))
        with pytest.raises(AccountError):
            adapter(sim.url, api_key="wrong-key").fetch(MessageRef("1"))


def test_a_secret_the_gateway_echoes_is_masked_before_its_text_is_cut() -> None:
    """Cut first, a secret straddling the cut would leave its first characters unmasked."""
    body = {"status": 0, "message": "Auth Error: invalid api key " + "." * 160 + API_KEY}
    with pytest.raises(AccountError) as caught:
        fetch(200, body)
    assert API_KEY[:6] not in str(caught.value)
