"""GREEN-API adapter (getMessage, getStatusStatistic) against bodies from REFERENCE.md §3 and
shared/seeds/greenapi-getStatusStatistic.txt, over real HTTP; then against the simulator."""

from __future__ import annotations

import json

import pytest

from config import Account
from tests.documented import GREEN_GET_MESSAGE
from tests.stub import stub_server
from worker.errors import AccountError, MessageError, NotFound, RateLimited, TransientError
from worker.providers import MessageRef, build
from worker.providers.http import Http
from worker.redact import Redactor
from worker.simulator import Clock, start_in_thread
from worker.states import Observation, State

INSTANCE, TOKEN, CHAT = "7103000001", "d75b3a66/3749+42c5", "11001234567@c.us"
MESSAGE = MessageRef("BAE5F4886B1D6ABC", chat_id=CHAT)
POST = MessageRef("BAE57C4EEC000000", kind="status_post")


def adapter(url: str, token: str = TOKEN):
    account = Account("support", "greenapi", url, {"id_instance": INSTANCE, "api_token_instance": token})
    return build(account, Http("greenapi", Redactor([token]), timeout_s=2))


def fetch(status: int, body: object, ref: MessageRef = MESSAGE):
    with stub_server(lambda seen: (status, body)) as stub:
        return adapter(stub.url).fetch(ref), stub.requests


def journal_entry(status: str) -> dict[str, object]:
    # [doc journals/GetMessage] outgoing entry; statusMessage only for type=outgoing
    return {**GREEN_GET_MESSAGE, "idMessage": MESSAGE.msg_id, "chatId": CHAT, "statusMessage": status}


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        # REFERENCE §3.4 status values
        ("pending", State.PENDING), ("sent", State.SENT), ("delivered", State.DELIVERED), ("read", State.READ),
        ("failed", State.FAILED), ("noAccount", State.FAILED), ("NoAccount", State.FAILED),
        ("notInGroup", State.FAILED), ("yellowCard", State.FAILED), ("", None), ("brand-new", None),
    ],
)  # fmt: skip
def test_every_documented_message_status(raw: str, state: State | None) -> None:
    observation, _ = fetch(200, journal_entry(raw))
    assert observation == Observation(state, raw)


def test_an_incoming_message_has_no_status() -> None:
    # [doc journals/GetMessage] statusMessage only for outgoing messages
    body = {k: v for k, v in journal_entry("sent").items() if k != "statusMessage"} | {"type": "incoming"}
    assert fetch(200, body)[0] == Observation(None, "")


def test_status_post_is_as_far_as_its_least_advanced_viewer() -> None:
    # [seed 003] response body example (trailing commas removed), second viewer made "delivered"
    body = [
        {"timestamp": 1587129319, "participant": "11001234567@c.us", "status": "read"},
        {"timestamp": 1587129319, "participant": "71234567891@c.us", "status": "delivered"},
    ]
    observation, _ = fetch(200, body, POST)
    assert observation == Observation(
        State.DELIVERED, "delivered", detail={"11001234567@c.us": "read", "71234567891@c.us": "delivered"}
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["read", "read"], Observation(State.READ, "read")),  # [seed 003] example as given
        (["sent", "read"], Observation(State.SENT, "sent")),
        (["read", "brand-new"], Observation(None, "brand-new")),
    ],
)
def test_every_documented_viewer_status(statuses: list[str], expected: Observation) -> None:
    # [seed 003] per viewer: sent / delivered / read
    body = [
        {"timestamp": 1587129319, "participant": f"7100000000{i}@c.us", "status": s} for i, s in enumerate(statuses)
    ]
    observation, _ = fetch(200, body, POST)
    assert (observation.state, observation.raw) == (expected.state, expected.raw)
    assert observation.detail == {f"7100000000{i}@c.us": s for i, s in enumerate(statuses)}


def test_status_post_without_viewers() -> None:
    # [gh green-api/issues#929] getStatusStatistic may return []
    assert fetch(200, [], POST)[0] == Observation(None, "")


QUOTA_466 = {  # [doc 466-error-example-body] note the spelling QUOTE_
    "invokeStatus": {"method": "getmessage", "used": 100, "total": 100, "status": "QUOTE_EXCEEDED",
                     "description": "Monthly quota has been exceeded. ..."}
}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        # REFERENCE §3.5 common errors
        (401, b"Unauthorized", AccountError),  # wrong apiTokenInstance, body not JSON
        (401, {"message": "Unauthorized"}, AccountError),
        (403, b"Forbidden", AccountError),  # wrong idInstance
        (466, QUOTA_466, AccountError),
        (400, {"message": "instance account not authorized"}, AccountError),
        (400, {"message": "Instance account is expired"}, AccountError),
        (400, {"message": "Instance is deleted"}, AccountError),
        (400, {"message": "instance in starting process try later"}, TransientError),
        # unconfirmed shape: what the simulator answers for an unknown id
        (400, {"message": "message not found"}, NotFound),
        (404, b"Not Found", TransientError),  # wrong verb or an instance-side bug (issues#926)
        (404, {"message": "Not Found"}, TransientError),
        (429, b"Too Many Requests", RateLimited),
        (499, b"Client Closed Request", TransientError),
        (502, b"Bad Gateway", TransientError),
        (200, None, TransientError),  # [doc] a `null` body
        (200, b"<html>maintenance</html>", TransientError),
    ],
)
def test_every_documented_error(status: int, body: object, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetch(status, body)
    assert type(caught.value) is error
    assert TOKEN not in str(caught.value) and "d75b3a66%2F" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"message": "bad request data"}, MessageError),
        (401, b"Unauthorized", AccountError),
        (200, {"not": "a list"}, TransientError),
        (200, ["not an object"], TransientError),
    ],
)
def test_status_post_errors(status: int, body: object, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetch(status, body, POST)
    assert type(caught.value) is error


@pytest.mark.parametrize("ref", [MessageRef("BAE5"), MessageRef("BAE5", chat_id=CHAT, kind="call")])
def test_a_message_without_chat_or_of_an_unknown_kind_is_refused_without_asking(ref: MessageRef) -> None:
    with pytest.raises(MessageError):
        fetch(200, journal_entry("sent"), ref)


def test_get_message_request_shape_token_only_in_the_path() -> None:
    _, [seen] = fetch(200, journal_entry("sent"))
    assert seen.method == "POST"
    assert seen.path == f"/waInstance{INSTANCE}/getMessage/d75b3a66%2F3749%2B42c5"
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"chatId": CHAT, "idMessage": MESSAGE.msg_id}
    assert not any(TOKEN in v for v in seen.headers.values()) and TOKEN.encode() not in seen.body


def test_get_status_statistic_request_shape() -> None:
    _, [seen] = fetch(200, [], POST)
    assert seen.method == "GET"
    assert seen.path == f"/waInstance{INSTANCE}/getStatusStatistic/d75b3a66%2F3749%2B42c5?idMessage={POST.msg_id}"
    assert seen.body == b""
    assert not any(TOKEN in v for v in seen.headers.values())


def test_adapter_and_simulator_agree() -> None:
    def message(msg_id: str, life: list[list[object]], **extra: object) -> dict[str, object]:
        return {"provider": "greenapi", "credential": INSTANCE, "api_token": TOKEN, "chat_id": CHAT,
                "msg_id": msg_id, "life": life, **extra}  # fmt: skip

    viewers = {"11001234567@c.us": [["sent", 0], ["read", 1]], "71234567891@c.us": [["delivered", 1]]}
    with start_in_thread(clock=Clock(start_s=1_700_000_000.0)) as sim:
        sim.client.add_messages([
            message("READ", [["sent", 0], ["delivered", 1], ["read", 2]]),
            message("NOACC", [["sent", 0], ["noAccount", 1]]),
            message("POST", [["sent", 0]], kind="status_post", viewers=viewers),
        ])  # fmt: skip
        sim.client.advance_clock(3)
        green = adapter(sim.url)
        assert green.fetch(MessageRef("READ", chat_id=CHAT)) == Observation(State.READ, "read")
        assert green.fetch(MessageRef("NOACC", chat_id=CHAT)) == Observation(State.FAILED, "noAccount")
        assert green.fetch(MessageRef("POST", kind="status_post")) == Observation(
            State.DELIVERED, "delivered", detail={"11001234567@c.us": "read", "71234567891@c.us": "delivered"}
        )
        with pytest.raises(NotFound):
            green.fetch(MessageRef("UNKNOWN", chat_id=CHAT))
        with pytest.raises(AccountError):
            adapter(sim.url, token="wrong-token").fetch(MessageRef("READ", chat_id=CHAT))
