"""Gateway answers exactly as their documents show them, each tagged with its source.

The adapter contract tests (tests/unit/test_wamm.py, test_wbiztool.py, test_greenapi.py)
serve these bodies; tests/simulator/test_sim_documented.py checks that the simulator answers
in the same shape. So adapter and simulator are both held to the documents, and cannot
drift into agreeing with each other instead.
"""

from __future__ import annotations

from typing import Any

# [seed 000] wamm-msg_state.txt "Success Response" (msg_id comes back as a string)
WAMM_MSG_STATE: dict[str, Any] = {
    "err": 0,
    "msg_data": {"msg_id": "1234567", "phone": "79001234567", "state": "viewed"},
}

# [seed 001] wamm-msg_get_last.txt "Success Response", first (outgoing) item
WAMM_MSG_GET_LAST: dict[str, Any] = {
    "err": 0,
    "msg_data": [
        {"msg_id": "1234567", "from_me": "1", "phone": "79001234567", "chat_name": "Ivan Petrov",
         "tip_msg": "textMessage", "msg_text": "Good afternoon!", "msg_link": None,
         "date_ins": "2023-05-24 19:52:00", "date_upd": "2023-05-24 19:52:22", "state": "delivered"},
    ],
}  # fmt: skip

# [seed 000] / [seed 001] "Possible Errors": err strings inside HTTP 200
WAMM_ERROR_NOT_FOUND: dict[str, Any] = {"err": "msg not be"}
WAMM_ERROR_TOKEN: dict[str, Any] = {"err": "token fail"}

# [seed 002] "Response (Success)" and "Response (Failed)"
WBIZ_SENT: dict[str, Any] = {"status": 1, "status_text": "Sent", "message": "connected"}
WBIZ_FAILED: dict[str, Any] = {
    "status": 2,
    "status_text": "Failed",
    "message": "connected",
    "error": "Invalid phone number",
}
# [pypi wbiztool-client 1.1.0 client.py] unknown id: status 0 with message "Unknown message id"
WBIZ_UNKNOWN: dict[str, Any] = {"status": 0, "status_text": "", "message": "Unknown message id"}
# [pypi wbiztool-client 1.1.0 tests] bad credentials: HTTP 400
WBIZ_AUTH_ERROR: dict[str, Any] = {"status": 0, "message": "Auth Error: invalid api key"}

# [seed 003] getStatusStatistic "Response body example" (its trailing commas removed: not JSON)
GREEN_STATUS_STATISTIC: list[dict[str, Any]] = [
    {"timestamp": 1587129319, "participant": "11001234567@c.us", "status": "read"},
    {"timestamp": 1587129319, "participant": "71234567891@c.us", "status": "read"},
]

# [doc journals/GetMessage] an outgoing journal entry (statusMessage only for type=outgoing)
GREEN_GET_MESSAGE: dict[str, Any] = {
    "type": "outgoing", "idMessage": "BAE5F4886F6F2D05", "timestamp": 1587129319, "typeMessage": "textMessage",
    "chatId": "79001234567@c.us", "textMessage": "hi", "statusMessage": "read", "sendByApi": True,
}  # fmt: skip


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and value types, list items by their first one."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__
