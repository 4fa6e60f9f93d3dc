"""The simulator answers in the shape the gateways' documents show (tests/documented.py)."""

from __future__ import annotations

from tests.documented import (
    GREEN_GET_MESSAGE,
    GREEN_STATUS_STATISTIC,
    WAMM_ERROR_NOT_FOUND,
    WAMM_ERROR_TOKEN,
    WAMM_MSG_GET_LAST,
    WAMM_MSG_STATE,
    WBIZ_AUTH_ERROR,
    WBIZ_FAILED,
    WBIZ_SENT,
    WBIZ_UNKNOWN,
    shape,
)


def test_wamm_answers_as_documented(sim, control, http) -> None:
    control.add_messages(
        [{"provider": "wamm", "credential": "tok", "msg_id": "1234567", "phone": "79001234567",
          "life": [["viewed", 0]]}]
    )  # fmt: skip
    state = http.get(f"{sim.url}/api2/msg_state/tok/?msg_id=1234567")
    assert (state.status_code, state.json()) == (200, WAMM_MSG_STATE)
    last = http.get(f"{sim.url}/api2/msg_get_last/tok/?col=5&from_me=1").json()
    assert shape(last) == shape(WAMM_MSG_GET_LAST)
    assert http.get(f"{sim.url}/api2/msg_state/tok/999").json() == WAMM_ERROR_NOT_FOUND
    assert http.get(f"{sim.url}/api2/msg_state/nobody/1").json() == WAMM_ERROR_TOKEN


def test_wbiztool_answers_as_documented(sim, control, http) -> None:
    control.add_messages(
        [
            {"provider": "wbiztool", "credential": "key", "client_id": 7, "msg_id": "1", "life": [[1, 0]]},
            {"provider": "wbiztool", "credential": "key", "client_id": 7, "msg_id": "2", "life": [[2, 0]],
             "error": "Invalid phone number"},
        ]
    )  # fmt: skip
    auth = {"client_id": 7, "api_key": "key"}
    assert http.post(f"{sim.url}/api/v1/message/status/1/", json=auth).json() == WBIZ_SENT
    assert http.post(f"{sim.url}/api/v1/message/status/2/", data=auth).json() == WBIZ_FAILED  # form body too
    assert http.post(f"{sim.url}/api/v1/message/status/3/", json=auth).json() == WBIZ_UNKNOWN
    refused = http.post(f"{sim.url}/api/v1/message/status/1/", json={"client_id": 7, "api_key": "wrong"})
    assert (refused.status_code, refused.json()) == (400, WBIZ_AUTH_ERROR)


def test_greenapi_answers_as_documented(sim, control, http) -> None:
    control.add_messages(
        [
            {"provider": "greenapi", "credential": "1101", "api_token": "gt", "msg_id": "BAE5F4886F6F2D05",
             "chat_id": "79001234567@c.us", "life": [["read", 0]]},
            {"provider": "greenapi", "credential": "1101", "api_token": "gt", "msg_id": "POST1", "kind": "status_post",
             "viewers": {"11001234567@c.us": [["read", 0]], "71234567891@c.us": [["read", 0]]}, "life": []},
        ]
    )  # fmt: skip
    base = f"{sim.url}/waInstance1101"
    message = http.post(f"{base}/getMessage/gt", json={"chatId": "79001234567@c.us", "idMessage": "BAE5F4886F6F2D05"})
    answered = shape(message.json())
    assert {key: answered.get(key) for key in GREEN_GET_MESSAGE} == shape(GREEN_GET_MESSAGE)
    assert {k: message.json()[k] for k in ("type", "idMessage", "chatId", "statusMessage")} == {
        "type": "outgoing", "idMessage": "BAE5F4886F6F2D05", "chatId": "79001234567@c.us", "statusMessage": "read",
    }  # fmt: skip
    viewers = http.get(f"{base}/getStatusStatistic/gt", params={"idMessage": "POST1"}).json()
    assert shape(viewers) == shape(GREEN_STATUS_STATISTIC)
    assert sorted((v["participant"], v["status"]) for v in viewers) == sorted(
        (v["participant"], v["status"]) for v in GREEN_STATUS_STATISTIC
    )
