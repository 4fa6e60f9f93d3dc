"""The simulator answers what the gateways' documents show (tests/documented.py): the same bodies
the adapter contract tests serve, for every documented case the simulator can produce."""

from __future__ import annotations

import re

import pytest

from tests.documented import (
    GREEN_400_BAD_DATA,
    GREEN_400_JSON,
    GREEN_400_NOT_AUTHORIZED,
    GREEN_400_VALIDATION,
    GREEN_401,
    GREEN_403,
    GREEN_404,
    GREEN_429,
    GREEN_CORRESPONDENTS_466,
    GREEN_GET_MESSAGE,
    GREEN_LAST_OUTGOING,
    GREEN_QUOTA_466,
    GREEN_STATE_AUTHORIZED,
    GREEN_STATE_NOT_AUTHORIZED,
    GREEN_STATUS_STATISTIC,
    WAMM_ACC_NOT_AUTHORIZED,
    WAMM_COL_FAIL,
    WAMM_MSG_GET_LAST,
    WAMM_MSG_ID_FAIL,
    WAMM_MSG_NOT_BE,
    WAMM_MSG_STATE,
    WAMM_MSGS_NOT_BE,
    WAMM_TOKEN_FAIL,
    WBIZ_AUTH_ERROR,
    WBIZ_AUTH_ERROR_2,
    WBIZ_CANCELLED,
    WBIZ_DAILY_LIMIT,
    WBIZ_EXPIRED,
    WBIZ_FAILED,
    WBIZ_HIGHER_SUBSCRIPTION,
    WBIZ_INVALID_CLIENT,
    WBIZ_INVALID_PHONE,
    WBIZ_ME,
    WBIZ_PENDING,
    WBIZ_SEND_CREATED,
    WBIZ_SENT,
    WBIZ_UNKNOWN,
    item_shapes,
    shape,
)

pytestmark = pytest.mark.timeout(30)

#: [doc msg_get_last] date_ins / date_upd
WAMM_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def test_wamm_msg_state_answers_as_documented(sim, control, http) -> None:
    control.add_messages(
        [{"provider": "wamm", "credential": "tok", "msg_id": "1234567", "phone": "79001234567",
          "life": [["viewed", 0]]}, {"provider": "wamm", "credential": "noqr", "msg_id": "1", "life": []}]
    )  # fmt: skip
    control.configure(unauthorized=["noqr"])
    state = http.get(f"{sim.url}/api2/msg_state/tok/?msg_id=1234567")
    assert (state.status_code, state.json()) == (200, WAMM_MSG_STATE)
    for path, documented in [
        ("/api2/msg_state/nobody/?msg_id=1", WAMM_TOKEN_FAIL),
        ("/api2/msg_state/noqr/?msg_id=1", WAMM_ACC_NOT_AUTHORIZED),
        ("/api2/msg_state/tok/?msg_id=abc", WAMM_MSG_ID_FAIL),
        ("/api2/msg_state/tok/?msg_id=999", WAMM_MSG_NOT_BE),
    ]:
        answer = http.get(sim.url + path)
        assert (path, answer.status_code, answer.json()) == (path, 200, documented)


def test_wamm_msg_get_last_answers_as_documented(sim, control, http) -> None:
    control.add_messages(
        [{"provider": "wamm", "credential": "tok", "msg_id": str(i), "phone": "79001234567",
          "life": [["sent", 0], ["delivered", 1]]} for i in (1, 2)]
        + [{"provider": "wamm", "credential": "noqr", "msg_id": "1", "life": []}]
    )  # fmt: skip
    control.configure(unauthorized=["noqr"])
    control.advance_clock(2)
    last = http.get(f"{sim.url}/api2/msg_get_last/tok/?col=100&from_me=1")
    assert last.status_code == 200
    body = last.json()
    assert body.keys() == WAMM_MSG_GET_LAST.keys() and body["err"] == WAMM_MSG_GET_LAST["err"]
    assert item_shapes(body["msg_data"]) == item_shapes(WAMM_MSG_GET_LAST["msg_data"])
    for item in body["msg_data"]:  # [doc msg_get_last] string ids and direction, dates without a zone
        assert isinstance(item["msg_id"], str) and item["from_me"] == "1"
        assert WAMM_DATE.fullmatch(item["date_ins"]) and WAMM_DATE.fullmatch(item["date_upd"])
    for path, documented in [
        ("/api2/msg_get_last/nobody/?col=5", WAMM_TOKEN_FAIL),
        ("/api2/msg_get_last/noqr/?col=5", WAMM_ACC_NOT_AUTHORIZED),
        ("/api2/msg_get_last/tok/?col=101", WAMM_COL_FAIL),
        ("/api2/msg_get_last/tok/?col=5&from_me=0", WAMM_MSGS_NOT_BE),  # it sends; it never receives
    ]:
        answer = http.get(sim.url + path)
        assert (path, answer.status_code, answer.json()) == (path, 200, documented)


def test_wbiztool_answers_as_documented(sim, control, http) -> None:
    def message(msg_id: str, life: list[list[object]], **extra: object) -> dict[str, object]:
        return {"provider": "wbiztool", "credential": "key", "client_id": 7, "msg_id": msg_id, "life": life, **extra}

    control.configure(credentials=[{"provider": "wbiztool", "credential": "key", "client_id": 7, "name": "Shop"}])
    control.add_messages(
        [
            message("0", [[1, 5]]),
            message("1", [[1, 0]]),
            message("2", [[2, 0]], error="Invalid phone number"),
            message("3", [[3, 0]]),
            message("4", [[4, 0]]),
        ]
    )
    auth = {"client_id": 7, "api_key": "key"}
    for msg_id, documented in [
        ("0", WBIZ_PENDING),
        ("1", WBIZ_SENT),
        ("2", WBIZ_FAILED),
        ("3", WBIZ_CANCELLED),
        ("4", WBIZ_EXPIRED),
        ("99", WBIZ_UNKNOWN),
    ]:
        answer = http.post(f"{sim.url}/api/v1/message/status/{msg_id}/", json=auth)
        assert (msg_id, answer.status_code, answer.json()) == (msg_id, 200, documented)
    assert http.post(f"{sim.url}/api/v1/message/status/2/", data=auth).json() == WBIZ_FAILED  # form body too
    refused = http.post(f"{sim.url}/api/v1/message/status/1/", json={"client_id": 7, "api_key": "wrong"})
    assert (refused.status_code, refused.json()) == (400, WBIZ_AUTH_ERROR)
    me = http.post(f"{sim.url}/api/v1/me/", json=auth)
    assert (me.status_code, me.json()) == (200, WBIZ_ME)


@pytest.mark.parametrize("documented", [WBIZ_INVALID_CLIENT, WBIZ_HIGHER_SUBSCRIPTION, WBIZ_AUTH_ERROR_2])
def test_wbiztool_refusals_are_as_documented(sim, control, http, documented) -> None:
    control.add_messages(
        [{"provider": "wbiztool", "credential": "key", "client_id": 7, "msg_id": "1", "life": [[1, 0]]}]
    )
    control.configure(refusals={"key": documented["message"]})
    for path in ("message/status/1/", "me/", "send_msg/"):
        answer = http.post(f"{sim.url}/api/v1/{path}", json={"client_id": 7, "api_key": "key", "phone": "9876543210"})
        assert (path, answer.status_code, answer.json()) == (path, 200, documented)  # client 1.1.0's tests: in HTTP 200


def test_wbiztool_send_answers_as_documented(sim, control, http) -> None:
    def messages(api_key: str, count: int) -> list[dict[str, object]]:
        return [{"provider": "wbiztool", "credential": api_key, "client_id": 7, "msg_id": str(i), "life": []}
                for i in range(1, count + 1)]  # fmt: skip

    control.add_messages(messages("key", 8) + messages("spent", 4))
    control.configure(daily_send_limit={"spent": 0})
    url = f"{sim.url}/api/v1/send_msg/"
    created = http.post(url, json={"client_id": 7, "api_key": "key", "phone": "9876543210", "msg": "hi"})
    assert (created.status_code, created.json()) == (200, WBIZ_SEND_CREATED)  # its ninth message: id 9
    bad_phone = http.post(url, json={"client_id": 7, "api_key": "key", "phone": "98765-43210", "msg": "hi"})
    assert (bad_phone.status_code, bad_phone.json()) == (400, WBIZ_INVALID_PHONE)
    over = http.post(url, json={"client_id": 7, "api_key": "spent", "phone": "9876543210", "msg": "hi"})
    assert (over.status_code, over.json()) == (429, WBIZ_DAILY_LIMIT)  # its fifth message: id 5


GREEN_MESSAGES = [
    {"provider": "greenapi", "credential": "1101", "api_token": "gt", "msg_id": "BAE5F4886F6F2D05",
     "chat_id": "79001234567@c.us", "life": [["read", 0]]},
    {"provider": "greenapi", "credential": "1101", "api_token": "gt", "msg_id": "3EB0C767D097B7C7C030",
     "chat_id": "11001234567@c.us", "life": [["sent", 0], ["noAccount", 1]]},
    {"provider": "greenapi", "credential": "1101", "api_token": "gt", "msg_id": "POST1", "kind": "status_post",
     "viewers": {"11001234567@c.us": [["read", 0]], "71234567891@c.us": [["read", 0]]}, "life": []},
]  # fmt: skip


def test_greenapi_answers_as_documented(sim, control, http) -> None:
    control.add_messages(GREEN_MESSAGES)
    control.advance_clock(2)
    base = f"{sim.url}/waInstance1101"
    message = http.post(f"{base}/getMessage/gt", json={"chatId": "79001234567@c.us", "idMessage": "BAE5F4886F6F2D05"})
    answered = shape(message.json())
    assert {key: answered.get(key) for key in GREEN_GET_MESSAGE} == shape(GREEN_GET_MESSAGE)
    assert {k: message.json()[k] for k in ("type", "idMessage", "chatId", "statusMessage")} == {
        "type": "outgoing", "idMessage": "BAE5F4886F6F2D05", "chatId": "79001234567@c.us", "statusMessage": "read",
    }  # fmt: skip
    journal = http.get(f"{base}/lastOutgoingMessages/gt", params={"minutes": 60}).json()
    assert item_shapes(journal) == item_shapes(GREEN_LAST_OUTGOING)
    assert [(e["idMessage"], e["statusMessage"]) for e in journal] == [
        (e["idMessage"], e["statusMessage"]) for e in reversed(GREEN_LAST_OUTGOING)
    ]  # the simulator lists the newest first
    viewers = http.get(f"{base}/getStatusStatistic/gt", params={"idMessage": "POST1"}).json()
    assert item_shapes(viewers) == item_shapes(GREEN_STATUS_STATISTIC)
    assert sorted((v["participant"], v["status"]) for v in viewers) == sorted(
        (v["participant"], v["status"]) for v in GREEN_STATUS_STATISTIC
    )
    state = http.get(f"{base}/getStateInstance/gt")
    assert (state.status_code, state.json()) == (200, GREEN_STATE_AUTHORIZED)


def test_greenapi_errors_are_as_documented(sim, control, http) -> None:
    control.add_messages(
        GREEN_MESSAGES + [{**m, "credential": c} for m in GREEN_MESSAGES[:1] for c in ("2202", "3303")]
    )
    control.configure(unauthorized=["2202"], quota_exceeded=["3303"])
    wrong_token = http.get(f"{sim.url}/waInstance1101/getStateInstance/wrong")
    assert (wrong_token.status_code, wrong_token.content) == (401, GREEN_401)
    wrong_instance = http.get(f"{sim.url}/waInstance9999/getStateInstance/gt")
    assert (wrong_instance.status_code, wrong_instance.content) == (403, GREEN_403)
    wrong_verb = http.get(f"{sim.url}/waInstance1101/getMessage/gt")
    assert (wrong_verb.status_code, wrong_verb.content) == (404, GREEN_404)
    get_message = f"{sim.url}/waInstance1101/getMessage/gt"
    bad_data = http.post(get_message, json=[])  # JSON, but not an object
    assert (bad_data.status_code, bad_data.json()) == (400, GREEN_400_BAD_DATA)
    invalid = http.post(get_message, json={"chatId": "79001234567", "idMessage": "BAE5F4886F6F2D05"})  # no @c.us
    assert (invalid.status_code, invalid.json()) == (400, GREEN_400_VALIDATION)
    not_json = http.post(get_message, data=b"{not json")
    assert not_json.status_code == 400 and not_json.json().keys() == GREEN_400_JSON.keys()
    # the docs elide the token ("…"): the simulator names the character its parser stopped at
    pattern = re.escape(GREEN_400_JSON["message"]).replace("…", r"\S")
    assert re.fullmatch(pattern, not_json.json()["message"]) and not_json.json()["message"] != GREEN_400_JSON["message"]
    not_authorized = http.get(f"{sim.url}/waInstance2202/lastOutgoingMessages/gt")
    assert (not_authorized.status_code, not_authorized.json()) == (400, GREEN_400_NOT_AUTHORIZED)
    state = http.get(f"{sim.url}/waInstance2202/getStateInstance/gt")
    assert (state.status_code, state.json()) == (200, GREEN_STATE_NOT_AUTHORIZED)
    quota = http.get(f"{sim.url}/waInstance3303/lastOutgoingMessages/gt")
    assert (quota.status_code, shape(quota.json())) == (466, shape(GREEN_QUOTA_466))
    answered, documented = quota.json()["invokeStatus"], GREEN_QUOTA_466["invokeStatus"]
    assert answered["status"] == documented["status"] == "QUOTE_EXCEEDED"
    assert answered["method"] == "lastoutgoingmessages"  # the method, lower case, as "checkwhatsapp"
    assert documented["description"].startswith(answered["description"])  # the docs elide the rest
    control.configure(rate_limits={"greenapi": 0})
    throttled = http.get(f"{sim.url}/waInstance1101/lastOutgoingMessages/gt")
    assert (throttled.status_code, throttled.content) == (429, GREEN_429)


def test_greenapi_correspondents_466_is_as_documented(sim, control, http) -> None:
    chats = [f"7900123456{i}@c.us" for i in range(4)]
    control.add_messages(
        [{"provider": "greenapi", "credential": "1101", "api_token": "gt", "msg_id": f"BAE5{i}", "chat_id": chat,
          "life": [["read", 0]]} for i, chat in enumerate(chats)]
    )  # fmt: skip
    control.configure(correspondents_exceeded=["1101"])
    answer = http.post(f"{sim.url}/waInstance1101/getMessage/gt", json={"chatId": chats[3], "idMessage": "BAE53"})
    assert (answer.status_code, shape(answer.json())) == (466, shape(GREEN_CORRESPONDENTS_466))
    invoke, documented_invoke = answer.json()["invokeStatus"], GREEN_CORRESPONDENTS_466["invokeStatus"]
    assert (invoke["status"], invoke["total"]) == (documented_invoke["status"], documented_invoke["total"])
    assert invoke["method"] == "getmessage"  # the method, lower case, as "sendmessage"
    quota, documented = answer.json()["correspondentsStatus"], GREEN_CORRESPONDENTS_466["correspondentsStatus"]
    assert {k: v for k, v in quota.items() if k != "description"} == {
        k: v for k, v in documented.items() if k != "description"
    }  # the docs elide the description whole
