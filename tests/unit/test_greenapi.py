"""GREEN-API adapter (getMessage, getStatusStatistic) against the documented bodies of
tests/documented.py (each tagged with its source), over real HTTP; then against the simulator."""

from __future__ import annotations

import json

import pytest

from config import Account
from tests.documented import (
    GREEN_400_BAD_DATA,
    GREEN_400_DELETED,
    GREEN_400_EXPIRED,
    GREEN_400_JSON,
    GREEN_400_NOT_AUTHORIZED,
    GREEN_400_STARTING,
    GREEN_400_VALIDATION,
    GREEN_401,
    GREEN_403,
    GREEN_404,
    GREEN_429,
    GREEN_499,
    GREEN_502,
    GREEN_CORRESPONDENTS_466,
    GREEN_GET_MESSAGE,
    GREEN_LAST_OUTGOING,
    GREEN_QUOTA_466,
    GREEN_STATE_AUTHORIZED,
    GREEN_STATE_NOT_AUTHORIZED,
    GREEN_STATUS_STATISTIC,
)
from tests.stub import RETRY_AFTER_KINDS, retry_after, stub_server
from worker.errors import AccountError, MessageError, NotFound, RateLimited, TransientError, UnexpectedAnswer
from worker.providers import MessageRef, build
from worker.providers.http import Http
from worker.redact import Redactor
from worker.simulator import Clock, start_in_thread
from worker.states import Observation, State

INSTANCE, TOKEN, CHAT = "7103000001", "d75b3a66/3749+42c5", "11001234567@c.us"
QUOTED_TOKEN = "d75b3a66%2F3749%2B42c5"
MESSAGE = MessageRef("BAE5F4886B1D6ABC", chat_id=CHAT)
POST = MessageRef("BAE57C4EEC000000", kind="status_post")

#: GREEN-API's status values -> canonical state; an empty or unknown one maps to nothing
STATUSES = [
    ("pending", State.PENDING), ("sent", State.SENT), ("delivered", State.DELIVERED), ("read", State.READ),
    ("failed", State.FAILED), ("noAccount", State.FAILED), ("NoAccount", State.FAILED),
    ("notInGroup", State.FAILED), ("yellowCard", State.FAILED), ("", None), ("brand-new", None),
]  # fmt: skip


def adapter(url: str, token: str = TOKEN):
    account = Account("support", "greenapi", url, {"id_instance": INSTANCE, "api_token_instance": token})
    return build(account, Http("greenapi", Redactor([token]), timeout_s=2))


def fetch(status: int, body: object, ref: MessageRef = MESSAGE):
    with stub_server(lambda seen: (status, body)) as stub:
        return adapter(stub.url).fetch(ref), stub.requests


def recent(status: int, body: object, window_s: float = 86400):
    with stub_server(lambda seen: (status, body)) as stub:
        return adapter(stub.url).recent(window_s), stub.requests


def journal_entry(status: str) -> dict[str, object]:
    # [doc journals/GetMessage] outgoing entry; statusMessage only for type=outgoing
    return {**GREEN_GET_MESSAGE, "idMessage": MESSAGE.msg_id, "chatId": CHAT, "statusMessage": status}


def viewers(statuses: list[str]) -> list[dict[str, object]]:
    # [doc GetStatusStatistic] the example's viewers, their statuses replaced (per viewer: sent / delivered / read)
    return [{**GREEN_STATUS_STATISTIC[i % 2], "participant": f"7100000000{i}@c.us", "status": s}
            for i, s in enumerate(statuses)]  # fmt: skip


def test_the_documented_get_message_body() -> None:
    observation, _ = fetch(200, GREEN_GET_MESSAGE, MessageRef(GREEN_GET_MESSAGE["idMessage"], chat_id=CHAT))
    # its timestamp is when the message was accepted, not its last change: no provider_ts
    assert observation == Observation(State.READ, "read")


@pytest.mark.parametrize(("raw", "state"), STATUSES)
def test_every_documented_message_status(raw: str, state: State | None) -> None:
    observation, _ = fetch(200, journal_entry(raw))
    assert observation == Observation(state, raw)


def test_an_incoming_message_has_no_status() -> None:
    # [doc journals/GetMessage] statusMessage only for outgoing messages
    body = {k: v for k, v in journal_entry("sent").items() if k != "statusMessage"} | {"type": "incoming"}
    assert fetch(200, body)[0] == Observation(None, "")


def test_the_documented_status_statistic_body() -> None:
    observation, _ = fetch(200, GREEN_STATUS_STATISTIC, POST)
    assert observation == Observation(
        State.READ, "read", detail={"11001234567@c.us": "read", "71234567891@c.us": "read"}, provider_ts=1587129319.0
    )


def test_status_post_is_as_far_as_its_least_advanced_viewer_and_as_recent_as_its_latest() -> None:
    first, second = GREEN_STATUS_STATISTIC
    body = [first, {**second, "status": "delivered", "timestamp": 1587129400}]
    observation, _ = fetch(200, body, POST)
    assert observation == Observation(
        State.DELIVERED,
        "delivered",
        detail={"11001234567@c.us": "read", "71234567891@c.us": "delivered"},
        provider_ts=1587129400.0,
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["read", "read"], Observation(State.READ, "read")),
        (["sent", "read"], Observation(State.SENT, "sent")),
        (["delivered", "read"], Observation(State.DELIVERED, "delivered")),
        (["read", "brand-new"], Observation(None, "brand-new")),
    ],
)
def test_every_documented_viewer_status(statuses: list[str], expected: Observation) -> None:
    observation, _ = fetch(200, viewers(statuses), POST)
    assert (observation.state, observation.raw) == (expected.state, expected.raw)
    assert observation.detail == {f"7100000000{i}@c.us": s for i, s in enumerate(statuses)}


def test_status_post_without_viewers() -> None:
    # [gh green-api/issues#929] getStatusStatistic may return []
    assert fetch(200, [], POST)[0] == Observation(None, "")


def test_the_documented_last_outgoing_messages_body() -> None:
    items, _ = recent(200, GREEN_LAST_OUTGOING)
    assert items == [
        ("BAE5F4886F6F2D05", Observation(State.READ, "read", provider_ts=1587129319.0)),
        ("3EB0C767D097B7C7C030", Observation(State.FAILED, "noAccount", provider_ts=1587129377.0)),
    ]


@pytest.mark.parametrize(("raw", "state"), STATUSES)
def test_every_documented_status_in_last_outgoing_messages(raw: str, state: State | None) -> None:
    items, _ = recent(200, [{**GREEN_LAST_OUTGOING[0], "statusMessage": raw}])
    assert items == [("BAE5F4886F6F2D05", Observation(state, raw, provider_ts=1587129319.0))]


def test_last_outgoing_messages_skips_entries_without_an_id() -> None:
    entry = GREEN_LAST_OUTGOING[0]
    items, _ = recent(200, [{k: v for k, v in entry.items() if k != "idMessage"}, "junk", {**entry, "timestamp": None}])
    assert items == [("BAE5F4886F6F2D05", Observation(State.READ, "read"))]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        # GREEN-API's common errors
        (401, GREEN_401, AccountError),  # wrong apiTokenInstance, body not JSON
        (401, {"message": "Unauthorized"}, AccountError),
        (403, GREEN_403, AccountError),  # wrong idInstance
        (466, GREEN_QUOTA_466, AccountError),  # monthly quota: do not retry
        (466, GREEN_CORRESPONDENTS_466, AccountError),  # correspondents quota, the method's still allowed
        (400, GREEN_400_NOT_AUTHORIZED, AccountError),
        (400, GREEN_400_EXPIRED, AccountError),
        (400, GREEN_400_DELETED, AccountError),
        (400, GREEN_400_STARTING, TransientError),
        # "fix request": our request for this message is wrong, which is not "not found"
        (400, GREEN_400_BAD_DATA, MessageError),
        (400, GREEN_400_VALIDATION, MessageError),
        (400, GREEN_400_JSON, MessageError),
        (400, {"message": "Unexpected token } in JSON at position 42"}, MessageError),
        (400, b"Validation failed", MessageError),  # the same words in a body that is not JSON
        (400, b"instance account not authorized", AccountError),
        # an unknown 400 says nothing about the message (common errors): journals answered 400
        # "Internal Server Error" for days (issues#790)
        (400, {"message": "something new"}, UnexpectedAnswer),
        (400, {"message": "Internal Server Error"}, UnexpectedAnswer),
        (400, b"Internal Server Error", UnexpectedAnswer),
        (400, None, UnexpectedAnswer),
        # the tariff's chat limit (a 2021 copy of the common errors page): billing, the account's
        (400, {"message": "You have used up the chat limit on your tariff"}, AccountError),
        # a 2023 copy of the GetMessage docs
        (400, {"message": "ID message notfound"}, NotFound),
        # unconfirmed shape: what the simulator answers for an unknown id
        (400, {"message": "message not found"}, NotFound),
        (404, GREEN_404, TransientError),  # wrong verb or an instance-side bug (issues#926)
        (404, {"message": "Not Found"}, TransientError),
        (429, GREEN_429, RateLimited),
        (499, GREEN_499, TransientError),
        (502, GREEN_502, TransientError),
        (200, None, TransientError),  # [doc] a `null` body
        (200, b"<html>maintenance</html>", TransientError),
    ],
)
def test_every_documented_error(status: int, body: object, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetch(status, body)
    assert type(caught.value) is error
    assert TOKEN not in str(caught.value) and QUOTED_TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (GREEN_QUOTA_466, "QUOTE_EXCEEDED"),
        (GREEN_CORRESPONDENTS_466, "CORRESPONDENTS_QUOTE_EXCEEDED"),
        (b"quota", "quota"),
    ],
)
def test_a_466_says_which_quota_is_exceeded(body: object, says: str) -> None:
    with pytest.raises(AccountError) as caught:
        fetch(466, body)
    assert f"HTTP 466 {says!r}" in str(caught.value)


@pytest.mark.parametrize("body", [GREEN_400_BAD_DATA, GREEN_400_VALIDATION, GREEN_400_JSON])
def test_a_refused_request_says_so(body: dict[str, str]) -> None:
    with pytest.raises(MessageError) as caught:
        fetch(400, body)
    assert body["message"] in str(caught.value) and "refused the request for this message" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, GREEN_400_BAD_DATA, MessageError),
        (401, GREEN_401, AccountError),
        (200, {"not": "a list"}, TransientError),
        (200, ["not an object"], TransientError),
    ],
)
def test_status_post_errors(status: int, body: object, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetch(status, body, POST)
    assert type(caught.value) is error


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, GREEN_401, AccountError),
        (403, GREEN_403, AccountError),
        (466, GREEN_QUOTA_466, AccountError),
        (400, GREEN_400_NOT_AUTHORIZED, AccountError),
        (400, GREEN_400_STARTING, TransientError),
        (400, GREEN_400_BAD_DATA, MessageError),
        (200, None, TransientError),
        (200, {"not": "a list"}, TransientError),
    ],
)
def test_last_outgoing_messages_errors(status: int, body: object, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        recent(status, body)
    assert type(caught.value) is error
    assert TOKEN not in str(caught.value) and QUOTED_TOKEN not in str(caught.value)


@pytest.mark.parametrize("ref", [MessageRef("BAE5"), MessageRef("BAE5", chat_id=CHAT, kind="call")])
def test_a_message_without_chat_or_of_an_unknown_kind_is_refused_without_asking(ref: MessageRef) -> None:
    with pytest.raises(MessageError):
        fetch(200, journal_entry("sent"), ref)


def no_token_outside_the_path(seen) -> bool:
    return not any(TOKEN in v or QUOTED_TOKEN in v for v in seen.headers.values()) and (
        TOKEN.encode() not in seen.body and QUOTED_TOKEN.encode() not in seen.body
    )


def test_get_message_request_shape_token_only_in_the_path() -> None:
    # [doc journals/GetMessage] POST …/getMessage/{token} with {"chatId", "idMessage"}
    _, [seen] = fetch(200, journal_entry("sent"))
    assert seen.method == "POST"
    assert seen.path == f"/waInstance{INSTANCE}/getMessage/{QUOTED_TOKEN}"
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"chatId": CHAT, "idMessage": MESSAGE.msg_id}
    assert no_token_outside_the_path(seen)


def test_get_status_statistic_request_shape() -> None:
    # [doc GetStatusStatistic] GET …/getStatusStatistic/{token}?idMessage=
    _, [seen] = fetch(200, [], POST)
    assert seen.method == "GET"
    assert seen.path == f"/waInstance{INSTANCE}/getStatusStatistic/{QUOTED_TOKEN}?idMessage={POST.msg_id}"
    assert seen.body == b""
    assert no_token_outside_the_path(seen)


@pytest.mark.parametrize(
    ("window_s", "minutes"),
    [(86400, 1440), (10**9, 1440), (3600, 60), (90, 2), (60, 1), (1, 1), (0, 1)],
)
def test_last_outgoing_messages_request_shape(window_s: float, minutes: int) -> None:
    # [doc journals/LastOutgoingMessages] GET …/lastOutgoingMessages/{token}?minutes=N, at most a day
    _, [seen] = recent(200, [], window_s)
    assert seen.method == "GET"
    assert seen.path == f"/waInstance{INSTANCE}/lastOutgoingMessages/{QUOTED_TOKEN}?minutes={minutes}"
    assert seen.body == b""
    assert no_token_outside_the_path(seen)


def test_get_state_instance_request_shape_and_probe() -> None:
    # [doc GetStateInstance] GET …/getStateInstance/{token}
    with stub_server(lambda seen: (200, GREEN_STATE_AUTHORIZED)) as stub:
        assert adapter(stub.url).probe() == "instance authorized"
    [seen] = stub.requests
    assert (seen.method, seen.path, seen.body) == ("GET", f"/waInstance{INSTANCE}/getStateInstance/{QUOTED_TOKEN}", b"")
    assert no_token_outside_the_path(seen)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, GREEN_STATE_NOT_AUTHORIZED), (200, {"stateInstance": "yellowCard"}),
        (200, {"stateInstance": "blocked"}), (401, GREEN_401),
    ],
)  # fmt: skip
def test_probe_of_an_instance_that_is_not_authorized(status: int, body: object) -> None:
    # GetStateInstance: notAuthorized, blocked, yellowCard: someone must act
    with stub_server(lambda seen: (status, body)) as stub, pytest.raises(AccountError) as caught:
        adapter(stub.url).probe()
    assert type(caught.value) is AccountError


@pytest.mark.parametrize("body", [{"stateInstance": "starting"}, {"stateInstance": "sleepMode"}, None])
def test_probe_of_an_instance_not_ready_yet(body: object) -> None:
    # GetStateInstance: starting (up to 5 min), sleepMode (obsolete); null while being created
    from worker.errors import NotReady

    with stub_server(lambda seen: (200, body)) as stub, pytest.raises(NotReady) as caught:
        adapter(stub.url).probe()
    assert "not ready yet" in str(caught.value)


def test_probe_of_an_instance_state_nobody_documents() -> None:
    with stub_server(lambda seen: (200, {"stateInstance": "x" * 5000})) as stub, pytest.raises(UnexpectedAnswer) as c:
        adapter(stub.url).probe()
    assert len(str(c.value)) < 200


@pytest.mark.parametrize("call", ["getMessage", "getStatusStatistic", "lastOutgoingMessages", "getStateInstance"])
@pytest.mark.parametrize("kind", RETRY_AFTER_KINDS)
def test_a_429_is_rate_limited_with_its_retry_after(call: str, kind: str) -> None:
    # common errors, rate limits: whether a Retry-After comes is unconfirmed; when it does, it is honoured
    headers, bounds = retry_after(kind)
    with stub_server(lambda seen: (429, GREEN_429, headers)) as stub:
        green = adapter(stub.url)
        with pytest.raises(RateLimited) as caught:
            if call == "lastOutgoingMessages":
                green.recent(60)
            elif call == "getStateInstance":
                green.probe()
            else:
                green.fetch(POST if call == "getStatusStatistic" else MESSAGE)
    assert call in stub.requests[0].path
    delay = caught.value.retry_after_s
    assert delay is None if bounds is None else bounds[0] <= delay <= bounds[1]
    assert TOKEN not in str(caught.value) and QUOTED_TOKEN not in str(caught.value)


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
            State.DELIVERED,
            "delivered",
            detail={"11001234567@c.us": "read", "71234567891@c.us": "delivered"},
            provider_ts=1_700_000_001.0,  # the latest viewer's change
        )
        assert green.recent(3600) == [  # newest first; the Status post is not a chat message
            ("NOACC", Observation(State.FAILED, "noAccount", provider_ts=1_700_000_001.0)),
            ("READ", Observation(State.READ, "read", provider_ts=1_700_000_002.0)),
        ]
        with pytest.raises(NotFound):
            green.fetch(MessageRef("UNKNOWN", chat_id=CHAT))
        with pytest.raises(AccountError):
            adapter(sim.url, token="wrong-token").fetch(MessageRef("READ", chat_id=CHAT))


def test_an_answer_about_another_message_is_refused() -> None:
    """getMessage names its message (idMessage): an answer about another one is not applied."""
    from worker.errors import UnexpectedAnswer

    with pytest.raises(UnexpectedAnswer) as caught:
        fetch(200, {**journal_entry("read"), "idMessage": "3EB0C767D097B7C7C030"})
    assert "3EB0C767D097B7C7C030" in str(caught.value) and MESSAGE.msg_id in str(caught.value)


def test_an_answer_that_names_no_message_or_ours_in_another_case_is_applied() -> None:
    without = {k: v for k, v in journal_entry("read").items() if k != "idMessage"}
    assert fetch(200, without)[0] == Observation(State.READ, "read")
    assert fetch(200, {**journal_entry("read"), "idMessage": MESSAGE.msg_id.lower()})[0].state is State.READ


def test_the_notification_queue_as_documented() -> None:
    from tests.documented import GREENAPI_NOTIFICATION

    answers = iter([(200, GREENAPI_NOTIFICATION), (200, None), (200, {"result": True}), (200, {"receiptId": "x"})])
    with stub_server(lambda seen: next(answers)) as stub:
        green = adapter(stub.url)
        assert green.receive_notification(20) == (1234567, GREENAPI_NOTIFICATION["body"])
        assert green.receive_notification(20) is None
        assert green.delete_notification(1234567) is True
        with pytest.raises(TransientError, match="receiptId"):
            green.receive_notification(5)
    receive, _, delete, _ = stub.requests
    base = f"/waInstance{INSTANCE}"
    assert receive.method == "GET" and receive.path == f"{base}/receiveNotification/{QUOTED_TOKEN}?receiveTimeout=20"
    assert delete.method == "DELETE" and delete.path == f"{base}/deleteNotification/{QUOTED_TOKEN}/1234567"
