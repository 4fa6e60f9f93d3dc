"""Gateway answers exactly as their documents show them, each tagged with its source.

The adapter contract tests (tests/unit/test_wamm.py, test_wbiztool.py, test_greenapi.py)
serve these bodies; tests/simulator/test_sim_documented.py checks that the simulator answers
in the same shape. So adapter and simulator are both held to the documents, and cannot
drift into agreeing with each other instead.

Where a document gives only part of a body (a status table, an error text), the rest is
the shape of its nearest documented sibling, and the comment says so.

The tags name the public pages:

- ``[doc msg_state]``: https://1mhub.ru/en/help/poluchenie-statusa-soobscheniy (WAMM.chat)
- ``[doc msg_get_last]``: https://1mhub.ru/en/help/poluchenie-soobschenii (WAMM.chat)
- ``[doc message-status-api]``: https://wbiztool.com/docs/message-status-api
- ``[pypi wbiztool-client 1.1.0 ...]``: https://pypi.org/project/wbiztool-client/1.1.0/, the
  gateway's official client (its module, docstrings and tests)
- GREEN-API, under https://green-api.com/en/docs/: ``[doc GetStatusStatistic]``
  (api/statuses/GetStatusStatistic/), ``[doc journals/GetMessage]`` (api/journals/GetMessage/),
  ``[doc GetStateInstance]`` (api/account/GetStateInstance/), ``[doc common-errors]``
  (api/common-errors/); ``[doc 466-error-example-body]``:
  https://greenapi.com/en/docs/api/466-error-example-body; ``[doc OutgoingMessageStatus]``
  (api/receiving/notifications-format/outgoing-message/OutgoingMessageStatus/),
  ``[doc ReceiveNotification]`` (api/receiving/technology-http-api/ReceiveNotification/)
- ``[doc webhook]``: https://1mhub.ru/en/help/poluchenie-soobschenii-cherez-webhook (WAMM.chat)
"""

from __future__ import annotations

import json
from typing import Any

# ---------------------------------------------------------------- WAMM.chat

# [doc msg_state] "Success Response" (msg_id comes back as a string)
WAMM_MSG_STATE: dict[str, Any] = {
    "err": 0,
    "msg_data": {"msg_id": "1234567", "phone": "79001234567", "state": "viewed"},
}

# [doc msg_get_last] "Success Response", both items: one outgoing (from_me "1"),
# one incoming (from_me "0", state "received")
WAMM_MSG_GET_LAST: dict[str, Any] = {
    "err": 0,
    "msg_data": [
        {"msg_id": "1234567", "from_me": "1", "phone": "79001234567", "chat_name": "Ivan Petrov",
         "tip_msg": "textMessage", "msg_text": "Good afternoon!", "msg_link": None,
         "date_ins": "2023-05-24 19:52:00", "date_upd": "2023-05-24 19:52:22", "state": "delivered"},
        {"msg_id": "1234566", "from_me": "0", "phone": "79001234567", "chat_name": "Ivan Petrov",
         "tip_msg": "textMessage", "msg_text": "Hello!", "msg_link": None,
         "date_ins": "2023-05-24 19:50:15", "date_upd": "2023-05-24 19:50:15", "state": "received"},
    ],
}  # fmt: skip

# [doc msg_state] and [doc msg_get_last] "Possible Errors": each an ``err`` string inside HTTP
# 200 (the pages' PHP samples read ``$json_response['err']``)
WAMM_TOKEN_FAIL: dict[str, Any] = {"err": "token fail"}  # [doc msg_state], [doc msg_get_last]
WAMM_ACC_NOT_AUTHORIZED: dict[str, Any] = {"err": "acc not authorized"}  # [doc msg_state], [doc msg_get_last]
WAMM_MSG_ID_FAIL: dict[str, Any] = {"err": "msg_id fail"}  # [doc msg_state] bad message id
WAMM_MSG_NOT_BE: dict[str, Any] = {"err": "msg not be"}  # [doc msg_state] message not found
WAMM_COL_FAIL: dict[str, Any] = {"err": "col fail or more 100"}  # [doc msg_get_last] bad count
WAMM_MSGS_NOT_BE: dict[str, Any] = {"err": "msgs not be"}  # [doc msg_get_last] no messages found

# ------------------------------------------------------------------ WBizTool

# [doc message-status-api] "Response (Success)" and "Response (Failed)"
WBIZ_SENT: dict[str, Any] = {"status": 1, "status_text": "Sent", "message": "connected"}
WBIZ_FAILED: dict[str, Any] = {
    "status": 2,
    "status_text": "Failed",
    "message": "connected",
    "error": "Invalid phone number",
}
# [doc message-status-api] status table "0=Pending, 3=Cancelled, 4=Expired", in the shape of "Response (Success)"
WBIZ_PENDING: dict[str, Any] = {"status": 0, "status_text": "Pending", "message": "connected"}
WBIZ_CANCELLED: dict[str, Any] = {"status": 3, "status_text": "Cancelled", "message": "connected"}
WBIZ_EXPIRED: dict[str, Any] = {"status": 4, "status_text": "Expired", "message": "connected"}
# [pypi wbiztool-client 1.1.0 tests] the client's fixture for a queued message
WBIZ_CREATED: dict[str, Any] = {"message": "Created", "status": 0, "status_text": "Created", "error": ""}
# [pypi wbiztool-client 1.1.0 client.py docstring] unknown id: status 0 with message "Unknown message id"
WBIZ_UNKNOWN: dict[str, Any] = {"status": 0, "message": "Unknown message id"}
# [pypi wbiztool-client 1.1.0 tests] bad credentials: HTTP 400 (the client docstring also names 403)
WBIZ_AUTH_ERROR: dict[str, Any] = {"status": 0, "message": "Auth Error: invalid api key"}
# [pypi wbiztool-client 1.1.0 tests] invalid input: HTTP 400
WBIZ_INVALID_PHONE: dict[str, Any] = {"status": 0, "message": "Invalid phone number"}
# [pypi wbiztool-client 1.1.0 tests] daily send limit: HTTP 429 (a mock fixture, unconfirmed live)
WBIZ_DAILY_LIMIT: dict[str, Any] = {
    "status": 0,
    "code": "daily_limit_reached",
    "message": "Daily limit reached",
    "msg_id": 5,
}
# [pypi wbiztool-client 1.1.0 tests] logical refusals inside HTTP 200, one each
WBIZ_INVALID_CLIENT: dict[str, Any] = {"status": 0, "message": "Invalid whatsapp client"}
WBIZ_BAD_SCHEDULE: dict[str, Any] = {"status": 0, "message": "Scheduled date & time is not in valid format"}
WBIZ_HIGHER_SUBSCRIPTION: dict[str, Any] = {"status": 0, "message": "Higher Subscription Required"}
WBIZ_AUTH_ERROR_2: dict[str, Any] = {"status": 0, "message": "Auth Error 2"}
# [pypi wbiztool-client 1.1.0 client.py + tests] POST /send_msg/ accepted: msg_id an integer
WBIZ_SEND_CREATED: dict[str, Any] = {"msg_id": 9, "message": "Created", "status": 1}
# [pypi wbiztool-client 1.1.0 client.py + tests] POST /me/ (the name is illustrative)
WBIZ_ME: dict[str, Any] = {"status": 1, "message": "Okay", "name": "Shop"}

# ----------------------------------------------------------------- GREEN-API

# [doc GetStatusStatistic] getStatusStatistic "Response body example" (its trailing commas removed: not JSON)
GREEN_STATUS_STATISTIC: list[dict[str, Any]] = [
    {"timestamp": 1587129319, "participant": "11001234567@c.us", "status": "read"},
    {"timestamp": 1587129319, "participant": "71234567891@c.us", "status": "read"},
]

# [doc journals/GetMessage] an outgoing journal entry (statusMessage only for type=outgoing)
GREEN_GET_MESSAGE: dict[str, Any] = {
    "type": "outgoing", "idMessage": "BAE5F4886F6F2D05", "timestamp": 1587129319, "typeMessage": "textMessage",
    "chatId": "79001234567@c.us", "textMessage": "hi", "statusMessage": "read", "sendByApi": True,
}  # fmt: skip

# [doc https://green-api.org.il/en/docs/api/journals/LastOutgoingMessages]: an
# array of outgoing entries, the fields of its response-parameter table (type, idMessage,
# timestamp = time of the last action, statusMessage, typeMessage, chatId, textMessage,
# sendByApi). The stored copy shows no example body: ids, texts and times are illustrative.
GREEN_LAST_OUTGOING: list[dict[str, Any]] = [
    {"type": "outgoing", "idMessage": "BAE5F4886F6F2D05", "timestamp": 1587129319, "typeMessage": "textMessage",
     "chatId": "79001234567@c.us", "textMessage": "hi", "statusMessage": "read", "sendByApi": True},
    {"type": "outgoing", "idMessage": "3EB0C767D097B7C7C030", "timestamp": 1587129377, "typeMessage": "textMessage",
     "chatId": "11001234567@c.us", "textMessage": "hello", "statusMessage": "noAccount", "sendByApi": True},
]  # fmt: skip

# [doc GetStateInstance] ``{"stateInstance": ..}``
GREEN_STATE_AUTHORIZED: dict[str, Any] = {"stateInstance": "authorized"}
GREEN_STATE_NOT_AUTHORIZED: dict[str, Any] = {"stateInstance": "notAuthorized"}

# [doc 466-error-example-body] both bodies as given, "..." included; note QUOTE_
GREEN_QUOTA_466: dict[str, Any] = {
    "invokeStatus": {"method": "checkwhatsapp", "used": 100, "total": 100, "status": "QUOTE_EXCEEDED",
                     "description": "Monthly quota has been exceeded. ..."},
}  # fmt: skip
GREEN_CORRESPONDENTS_466: dict[str, Any] = {
    "invokeStatus": {"method": "sendmessage", "used": 67, "total": 0, "status": "QUOTE_ALLOWED"},
    "correspondentsStatus": {"method": "correspondents", "used": 3, "total": 3,
                             "status": "CORRESPONDENTS_QUOTE_EXCEEDED", "description": "..."},
}  # fmt: skip

# [doc common-errors] HTTP 400 texts. The docs give the text only; the body
# ``{"message": text}`` is an assumption (unconfirmed), the simulator's too.
GREEN_400_STARTING: dict[str, Any] = {"message": "instance in starting process try later"}
GREEN_400_NOT_AUTHORIZED: dict[str, Any] = {"message": "instance account not authorized"}
GREEN_400_BAD_DATA: dict[str, Any] = {"message": "bad request data"}
GREEN_400_VALIDATION: dict[str, Any] = {"message": "Validation failed"}
GREEN_400_JSON: dict[str, Any] = {"message": "Unexpected token … in JSON"}
GREEN_400_EXPIRED: dict[str, Any] = {"message": "Instance account is expired…"}
GREEN_400_DELETED: dict[str, Any] = {"message": "Instance is deleted"}
# [doc common-errors] statuses the docs name with their reason only; a plain-text
# reason as the body is an assumption (unconfirmed), the simulator's too
GREEN_401: bytes = b"Unauthorized"
GREEN_403: bytes = b"Forbidden"
GREEN_404: bytes = b"Not Found"
GREEN_429: bytes = b"Too Many Requests"
GREEN_499: bytes = b"Client Closed Request"
GREEN_502: bytes = b"Bad Gateway"


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and value types, list items by their first one."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def item_shapes(values: list[Any]) -> set[str]:
    """The distinct shapes of a list's items, as JSON text (keys sorted: their order means nothing)."""
    return {json.dumps(shape(value), sort_keys=True) for value in values}


# ---------------------------------------------------------------- pushes

# [doc OutgoingMessageStatus] "Webhook body example"
GREENAPI_STATUS_PUSH: dict[str, Any] = {
    "typeWebhook": "outgoingMessageStatus",
    "chatId": "71234567890@c.us",
    "instanceData": {"idInstance": 1234, "wid": "11001234567@c.us", "typeInstance": "whatsapp"},
    "timestamp": 1586700802,
    "idMessage": "3EB0608D6A2901063D63",
    "status": "noAccount",
    "description": "SWE004: 1000",
    "sendByApi": True,
}

# [doc ReceiveNotification] "Response body example" (an incoming message: no status)
GREENAPI_NOTIFICATION: dict[str, Any] = {
    "receiptId": 1234567,
    "body": {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": {"idInstance": 1234, "wid": "11001234567@c.us", "typeInstance": "whatsapp"},
        "timestamp": 1588091580,
        "idMessage": "F7AEC1B7086ECDC7E6E45923F5EDB825",
        "senderData": {"chatId": "79001234568@c.us", "sender": "79001234568@c.us", "senderName": "Green API"},
        "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": "I use Green-API"}},
    },
}

# [doc webhook] "Message Data Format" (tip "msg": an incoming message)
WAMM_MSG_PUSH: dict[str, Any] = {
    "tip": "msg",
    "msg_data": {
        "msg_id": 1234567, "qoute_msg_id": None, "from_api": 0, "from_me": 0, "phone_acc": "79XXXXXXXXX",
        "phone": "79001234567", "chat_name": "Ivan Petrov", "tip_msg": "textMessage",
        "msg_text": "Good afternoon, I'm interested in your offer", "msg_link": None,
        "date_ins": "2023-05-24 12:35:29", "state": "received", "senderId": None, "senderName": None,
    },
}  # fmt: skip

# [doc webhook] names tip "msg_state" (a message's status) without an example: the body of
# the "msg" example with tip msg_state, an outgoing message and a status of msg_state's page
WAMM_STATE_PUSH: dict[str, Any] = {
    "tip": "msg_state",
    "msg_data": {**WAMM_MSG_PUSH["msg_data"], "from_me": 1, "from_api": 1, "state": "delivered",
                 "date_upd": "2023-05-24 12:35:40"},
}  # fmt: skip
