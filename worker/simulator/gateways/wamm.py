"""WAMM.chat api2: `msg_state` and `msg_get_last` (https://1mhub.ru/en/help/poluchenie-statusa-soobscheniy,
https://1mhub.ru/en/help/poluchenie-soobschenii).

Both URL shapes are served: `/api2/{method}/{token}/?arg=...` and `/api2/{method}/{token}/{arg}`.
Every error is HTTP 200 with `{"err": "<text>"}` (the docs' samples only read `err`; the HTTP
status of errors is unconfirmed).
"""

from __future__ import annotations

import time
from functools import lru_cache, partial
from typing import Any
from urllib.parse import unquote

from ..model import Account, Message, Registry
from ..policy import Config
from ..wire import Request, Response, json_response
from .base import NOT_FOUND, Call, is_integer

#: the query parameter a method takes when its argument is not a path segment
QUERY_ARG = {"msg_state": "msg_id", "msg_get_last": "col"}
#: what a message shows before the first step of its life
PENDING = "sending"
MAX_COL = 100

#: Assumption: WAMM documents no request-rate limit nor its answer; we use HTTP 429 with an
#: `err` text in the house style so clients can treat it like any other 429.
TOO_MANY = json_response(429, {"err": "too many requests"})


def _err(text: str) -> Response:
    return json_response(200, {"err": text})


TOKEN_FAIL = _err("token fail")
NOT_AUTHORIZED = _err("acc not authorized")
MSG_ID_FAIL = _err("msg_id fail")
MSG_NOT_BE = _err("msg not be")
COL_FAIL = _err("col fail or more 100")
MSGS_NOT_BE = _err("msgs not be")


def route(request: Request, registry: Registry, config: Config) -> Call | Response:
    parts = request.path.strip("/").split("/")  # api2, method, token[, arg]
    if request.method != "GET" or len(parts) not in (3, 4) or parts[1] not in QUERY_ARG:
        return NOT_FOUND
    method, token = parts[1], unquote(parts[2])
    arg = unquote(parts[3]) if len(parts) == 4 else request.query.get(QUERY_ARG[method])
    answer = msg_state if method == "msg_state" else msg_get_last
    msg_id = arg if method == "msg_state" else None
    return Call("wamm", token, method, partial(answer, registry, config, token, arg, request.query), msg_id)


def _account(registry: Registry, config: Config, token: str) -> Account | Response:
    """The token's account, or its refusal: a token nobody added (or a revoked one) fails."""
    account = registry.account("wamm", token)
    if account is None or token in config.revoked:
        return TOKEN_FAIL
    if token in config.unauthorized:
        return NOT_AUTHORIZED
    return account


def msg_state(
    registry: Registry, config: Config, token: str, msg_id: str | None, query: dict[str, str], now: float
) -> Response:
    account = _account(registry, config, token)
    if isinstance(account, Response):
        return account
    if msg_id is None or not is_integer(msg_id):
        return MSG_ID_FAIL
    msg = registry.find("wamm", token, msg_id, now)
    if msg is None:
        return MSG_NOT_BE
    state, _ = msg.state(now, PENDING)
    # msg_id comes back as a string here although msg_to returns it as an integer
    data = {"msg_id": msg.msg_id, "phone": msg.phone, "state": state}
    return json_response(200, {"err": 0, "msg_data": data})


def msg_get_last(
    registry: Registry, config: Config, token: str, col: str | None, query: dict[str, str], now: float
) -> Response:
    """The newest `col` messages of the token, newest first (we only simulate outgoing ones)."""
    account = _account(registry, config, token)
    if isinstance(account, Response):
        return account
    if col is None or not is_integer(col) or not 1 <= int(col) <= MAX_COL:
        return COL_FAIL
    if query.get("from_me") == "0":
        return MSGS_NOT_BE
    wanted = int(col)
    items = []
    for msg in reversed(account.messages.values()):
        if msg.visible(now):
            items.append(_item(msg, now))
            if len(items) == wanted:
                break
    if not items:
        return MSGS_NOT_BE
    return json_response(200, {"err": 0, "msg_data": items})


def _item(msg: Message, now: float) -> dict[str, Any]:
    state, since_s = msg.state(now, PENDING)
    return {
        "msg_id": msg.msg_id,
        "from_me": "1",
        "phone": msg.phone,
        "chat_name": msg.phone,
        "tip_msg": "textMessage",
        "msg_text": msg.text,
        "msg_link": None,
        "date_ins": _date(msg.created_s),
        "date_upd": _date(since_s),
        "state": state,
    }


def _date(epoch_s: float) -> str:
    return _format_date(int(epoch_s))


@lru_cache(maxsize=4096)  # msg_get_last formats two dates per item: most repeat
def _format_date(epoch_s: int) -> str:
    # the docs give no time zone for these dates (unconfirmed); the simulator writes UTC
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_s))
