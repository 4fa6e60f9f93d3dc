"""WBizTool message/status adapter against bodies from shared/seeds/wbiztool-message-status.txt
and REFERENCE.md §2, over real HTTP; then against the project's simulator."""

from __future__ import annotations

import json

import pytest

from config import Account
from tests.stub import stub_server
from worker.errors import AccountError, MessageError, NotFound, RateLimited, TransientError
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
        # [pypi wbiztool-client 1.1.0 tests] queued fixture
        ({"message": "Created", "status": 0, "status_text": "Created", "error": ""}, Observation(State.PENDING, "0")),
        # [seed 002] docs' status table: 0=Pending
        ({"status": 0, "status_text": "Pending", "message": "connected"}, Observation(State.PENDING, "0")),
        # [seed 002] "Response (Success)"
        ({"status": 1, "status_text": "Sent", "message": "connected"}, Observation(State.SENT, "1")),
        # [seed 002] "Response (Failed)"
        (
            {"status": 2, "status_text": "Failed", "message": "connected", "error": "Invalid phone number"},
            Observation(State.FAILED, "2", detail={"error": "Invalid phone number"}),
        ),
        # [seed 002] 3=Cancelled, 4=Expired
        ({"status": 3, "status_text": "Cancelled", "message": "connected"}, Observation(State.CANCELLED, "3")),
        ({"status": 4, "status_text": "Expired", "message": "connected"}, Observation(State.EXPIRED, "4")),
        # REFERENCE §4: "WbizTool other -> unknown"
        ({"status": 7, "status_text": "Brand new", "message": "connected"}, Observation(None, "7")),
    ],
)
def test_every_documented_status_code(body: dict[str, object], expected: Observation) -> None:
    observation, _ = fetch(200, body)
    assert observation == expected


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        # [pypi wbiztool-client 1.1.0 client.py docstring] unknown id is status 0 + this message
        (200, {"status": 0, "status_text": "", "message": "Unknown message id"}, NotFound),
        # [pypi 1.1.0 tests] bad credentials; the client docstring also names 403
        (400, {"status": 0, "message": "Auth Error: invalid api key"}, AccountError),
        (403, {"status": 0, "message": "Auth Error: invalid api key"}, AccountError),
        (401, {"detail": "Authentication credentials were not provided."}, AccountError),
        # [pypi 1.1.0 tests] logical refusal inside HTTP 200
        (200, {"status": 0, "message": "Auth Error 2"}, AccountError),
        # [pypi 1.1.0 tests] invalid input
        (400, {"status": 0, "message": "Invalid phone number"}, MessageError),
        # unconfirmed: a 404 with a JSON body (the HTML one is refused before asking, below)
        (404, {"detail": "Not found."}, MessageError),
        # [pypi 1.1.0 tests] daily limit (mock fixture)
        (429, {"status": 0, "code": "daily_limit_reached", "message": "Daily limit reached", "msg_id": 5}, RateLimited),
        # [pypi 1.1.0 tests] server error may be HTML
        (500, b"<html>Server Error</html>", TransientError),
        (200, b"<html>maintenance</html>", TransientError),
        (200, {"status": "1", "message": "connected"}, TransientError),
        (200, {"message": "connected"}, TransientError),
        (405, {"detail": "Method not allowed."}, TransientError),
    ],
)
def test_every_documented_error(status: int, body: object, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetch(status, body)
    assert type(caught.value) is error
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize("msg_id", ["abc", "12a", "", "١٢"])
def test_a_non_integer_id_is_refused_without_asking(msg_id: str) -> None:
    # [pypi wbiztool-client 1.1.0 client.py] rejects non-integer ids locally (ValueError)
    with pytest.raises(MessageError) as caught:
        fetch(200, {"status": 1}, msg_id=msg_id)
    assert type(caught.value) is MessageError


def test_request_shape_credentials_only_in_the_json_body() -> None:
    _, [seen] = fetch(200, {"status": 1, "status_text": "Sent", "message": "connected"})
    assert seen.method == "POST"
    assert seen.path == "/api/v1/message/status/12345/"
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"client_id": 4242, "api_key": API_KEY}
    assert not any(API_KEY in v for v in seen.headers.values())


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
