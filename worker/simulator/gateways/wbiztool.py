"""WBizTool api/v1: message status, `/send_msg/`, `/me/` and `/status/` (the status page,
https://wbiztool.com/docs/message-status-api, and the official client `wbiztool-client` 1.1.0).

Credentials (`client_id`, `api_key`) travel as body fields, form-encoded or JSON: the docs'
samples send a form, client 1.1.0 sends JSON, and the docs' curl sends JSON without saying so.
An account set to a refusal (config `refusals`) gets it, in HTTP 200 with status 0, from every
call its credentials pass; `/send_msg/` is served for the daily send limit (config
`daily_send_limit`), the one place client 1.1.0's tests show it.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from ..model import Account, Life, Message, Registry
from ..policy import REFUSALS, Config
from ..wire import Request, Response, html_page, json_response
from .base import NOT_FOUND, Call, is_integer

#: `status` code -> `status_text` (the status page)
STATUS_TEXT = {0: "Pending", 1: "Sent", 2: "Failed", 3: "Cancelled", 4: "Expired"}
#: what a message shows before the first step of its life
PENDING = 0
FAILED = 2
SENT = 1
#: a message `/send_msg/` accepts is Pending, then Sent a second later (the simulator's choice)
SEND_LIFE: Life = ((1.0, SENT),)
#: digits in a phone number: at most 15 (E.164); the lower bound is the simulator's, unconfirmed
PHONE_DIGITS = range(6, 16)

AUTH_ERROR = json_response(400, {"status": 0, "message": "Auth Error: invalid api key"})
#: client 1.1.0's docstring: status 0 with message "Unknown message id" (no status_text shown)
UNKNOWN_ID = json_response(200, {"status": 0, "message": "Unknown message id"})
TOO_MANY = json_response(429, {"status": 0, "message": "Too many requests"})
INVALID_PHONE = json_response(400, {"status": 0, "message": "Invalid phone number"})
REFUSED = {text: json_response(200, {"status": 0, "message": text}) for text in REFUSALS}
DAILY_LIMIT = "Daily limit reached"
HEALTH = json_response(200, {"status": 200, "data": {}})
#: unconfirmed: a non-integer id should miss the server's URL pattern, so a framework 404 page
BAD_ID_PAGE = html_page(404, "Not Found")
#: unconfirmed: answer of a GET on a POST-only endpoint
NOT_ALLOWED = json_response(405, {"detail": "Method not allowed."})


def route(request: Request, registry: Registry, config: Config) -> Call | Response:
    parts = request.path.strip("/").split("/")[2:]  # after api/v1
    if parts == ["status"] and request.method == "GET":
        return Call("wbiztool", None, "status", lambda now: HEALTH)
    if parts == ["me"] and request.method == "POST":
        fields = body_fields(request)
        return Call("wbiztool", _api_key(fields), "me", partial(me, registry, config, fields))
    if parts == ["send_msg"] and request.method == "POST":
        fields = body_fields(request)
        return Call("wbiztool", _api_key(fields), "send_msg", partial(send_msg, registry, config, fields))
    if len(parts) == 3 and parts[:2] == ["message", "status"]:
        if not is_integer(parts[2]):
            return BAD_ID_PAGE
        if request.method != "POST":
            return NOT_ALLOWED
        fields = body_fields(request)
        answer = partial(message_status, registry, config, parts[2], fields)
        return Call("wbiztool", _api_key(fields), "message_status", answer, parts[2])
    return NOT_FOUND


def body_fields(request: Request) -> dict[str, Any]:
    """Form or JSON body fields; an unreadable body has none (and so fails auth)."""
    body = request.body
    if "json" in request.headers.get("content-type", "") or body.lstrip()[:1] == b"{":
        try:
            fields = json.loads(body)
        except ValueError:
            return {}
        return fields if isinstance(fields, dict) else {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _api_key(fields: dict[str, Any]) -> str | None:
    api_key = fields.get("api_key")
    return api_key if isinstance(api_key, str) and api_key else None


def _account(registry: Registry, config: Config, fields: dict[str, Any]) -> Account | Response:
    """The account when `api_key` is known (not revoked) and `client_id` is its own, and the
    account is not set to a refusal; otherwise the answer that refuses the call."""
    api_key = _api_key(fields)
    if api_key is None or api_key in config.revoked:
        return AUTH_ERROR
    account = registry.account("wbiztool", api_key)
    client_id = str(fields.get("client_id", "")).strip()
    if account is None or client_id != account.secret:
        return AUTH_ERROR
    refusal = config.refusals.get(api_key)
    return account if refusal is None else REFUSED[refusal]


def message_status(registry: Registry, config: Config, msg_id: str, fields: dict[str, Any], now: float) -> Response:
    account = _account(registry, config, fields)
    if isinstance(account, Response):
        return account
    msg = registry.find("wbiztool", fields["api_key"], msg_id, now)
    if msg is None:
        return UNKNOWN_ID
    code, _ = msg.state(now, PENDING)
    body = {"status": code, "status_text": STATUS_TEXT.get(code, ""), "message": "connected"}
    if code == FAILED:
        body["error"] = msg.error
    return json_response(200, body)


def send_msg(registry: Registry, config: Config, fields: dict[str, Any], now: float) -> Response:
    """Accept a text message: a new integer id, Pending then Sent (SEND_LIFE).

    Over the account's daily limit the answer is the 429 of [pypi 1.1.0 tests], whose body
    carries a `msg_id`: that message is kept as Failed with the reason (an assumption).
    """
    account = _account(registry, config, fields)
    if isinstance(account, Response):
        return account
    phone = str(fields.get("phone", "")).removeprefix("+")
    if not is_integer(phone) or len(phone) not in PHONE_DIGITS:
        return INVALID_PHONE
    msg_id, sent = account.new_id(), account.sends_today(now)
    limit = config.daily_send_limit.get(fields["api_key"])
    text = str(fields.get("msg", ""))
    if limit is not None and sent >= limit:
        account.messages[msg_id] = Message(msg_id, now, ((0.0, FAILED),), phone=phone, text=text, error=DAILY_LIMIT)
        body = {"status": 0, "code": "daily_limit_reached", "message": DAILY_LIMIT, "msg_id": int(msg_id)}
        return json_response(429, body)
    account.sends = sent + 1
    account.messages[msg_id] = Message(msg_id, now, SEND_LIFE, phone=phone, text=text)
    return json_response(200, {"msg_id": int(msg_id), "message": "Created", "status": 1})


def me(registry: Registry, config: Config, fields: dict[str, Any], now: float) -> Response:
    account = _account(registry, config, fields)
    if isinstance(account, Response):
        return account
    return json_response(200, {"status": 1, "message": "Okay", "name": account.name})
