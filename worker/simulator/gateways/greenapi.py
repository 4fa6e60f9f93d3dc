"""GREEN-API: `/waInstance{idInstance}/{method}/{apiTokenInstance}` (https://green-api.com/en/docs/;
the pages are named in `worker/providers/greenapi.py`).

Served: getMessage (POST), lastOutgoingMessages, getStatusStatistic, getStateInstance (GET), and the
notification queue `../push.py` fills: receiveNotification (GET, long poll: `app.py` waits) and
deleteNotification (DELETE `/waInstance{id}/deleteNotification/{token}/{receiptId}`).
Journals never record `failed` (status values): such a message keeps its last other state there.

A request the gateway cannot take is a 400 (common errors names the texts, not what triggers each; the
split follows the docs' descriptions and is an assumption): a body that is not JSON is
`Unexpected token … in JSON`; JSON of the wrong kind (not an object) or a query parameter that
is not a number is `bad request data`; an object whose fields are missing, of the wrong type or
badly formed (a chatId not `digits@c.us` / `digits-digits@g.us`) is `Validation failed`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import unquote

from ..model import Account, Message, Registry, reached
from ..policy import Config
from ..wire import Request, Response, json_response, text_response
from .base import Call, is_integer

PREFIX = "waInstance"
NOT_JOURNALLED = frozenset({"failed"})
#: what a message shows before the first step of its life
PENDING = "pending"
DEFAULT_MINUTES = "1440"
#: methods whose call names a chat: the ones a used-up correspondents quota refuses
CHAT_METHODS = frozenset({"getMessage"})
#: chats a Developer-plan instance may use per month (the 466 body)
CORRESPONDENTS = 3

TOO_MANY = text_response(429, "Too Many Requests")
UNAUTHORIZED = text_response(401, "Unauthorized")
FORBIDDEN = text_response(403, "Forbidden")
#: a wrong verb or an unknown method (common errors); the plain-text body is unconfirmed
NOT_FOUND = text_response(404, "Not Found")
BAD_DATA = json_response(400, {"message": "bad request data"})
VALIDATION_FAILED = json_response(400, {"message": "Validation failed"})
NOT_AUTHORIZED = json_response(400, {"message": "instance account not authorized"})
#: unconfirmed: the docs do not show getMessage's answer for an unknown id
MESSAGE_NOT_FOUND = json_response(400, {"message": "message not found"})


def route(request: Request, registry: Registry, config: Config) -> Call | Response:
    parts = request.path.strip("/").split("/")  # waInstance{id}, method, token[, receiptId]
    if len(parts) != 3 and not (len(parts) == 4 and parts[1] == "deleteNotification"):
        return NOT_FOUND
    instance, method, token = parts[0][len(PREFIX) :], parts[1], unquote(parts[2])
    entry = METHODS.get(method)
    if entry is None or entry[0] != request.method:
        return NOT_FOUND  # a wrong HTTP verb is a 404 here (common errors)
    answer = partial(_answer, entry[1], registry, config, instance, token, method, request)
    return Call("greenapi", instance, method, answer, _msg_id(request))


def _msg_id(request: Request) -> str | None:
    """The idMessage a call asks about: in the query (statistics) or the JSON body (getMessage)."""
    if "idMessage" in request.query:
        return str(request.query["idMessage"])
    try:
        body = request.json() if request.body else None
    except ValueError:
        return None
    return str(body["idMessage"]) if isinstance(body, dict) and "idMessage" in body else None


def _answer(
    handler: Callable[..., Response],
    registry: Registry,
    config: Config,
    instance: str,
    token: str,
    method: str,
    request: Request,
    now: float,
) -> Response:
    account = registry.account("greenapi", instance)
    if account is None:
        return FORBIDDEN
    if token != account.secret or instance in config.revoked:
        return UNAUTHORIZED
    if instance in config.quota_exceeded:
        return _quota_exceeded(method)
    if instance in config.correspondents_exceeded and method in CHAT_METHODS:
        refused = _correspondents_exceeded(account, method, request)
        if refused is not None:
            return refused
    if instance in config.unauthorized:
        if method == "getStateInstance":  # the state call itself still answers, with the state
            return json_response(200, {"stateInstance": "notAuthorized"})
        return NOT_AUTHORIZED
    return handler(account, request, now)


def _quota_exceeded(method: str) -> Response:
    invoke = {
        "method": method.lower(),
        "used": 100,
        "total": 100,
        "status": "QUOTE_EXCEEDED",
        "description": "Monthly quota has been exceeded.",
    }
    return json_response(466, {"invokeStatus": invoke})


def _correspondents_exceeded(account: Account, method: str, request: Request) -> Response | None:
    """The 466 for a chat beyond the instance's first three (in the order its messages came), or None."""
    data = _json_body(request)
    chat_id = data.get("chatId") if isinstance(data, dict) else None
    allowed: list[str] = []
    for msg in account.messages.values():
        if msg.kind == "message" and msg.chat_id not in allowed:
            allowed.append(msg.chat_id)
            if len(allowed) == CORRESPONDENTS:
                break
    if not isinstance(chat_id, str) or not is_chat_id(chat_id) or chat_id in allowed:
        return None  # a malformed request is refused as such further on
    invoke = {"method": method.lower(), "used": 0, "total": 0, "status": "QUOTE_ALLOWED"}
    correspondents = {
        "method": "correspondents",
        "used": CORRESPONDENTS,
        "total": CORRESPONDENTS,
        "status": "CORRESPONDENTS_QUOTE_EXCEEDED",
        "description": f"Monthly quota has been exceeded. You can only send or receive messages from these "
        f"numbers: {','.join(allowed)}.",
    }
    return json_response(466, {"invokeStatus": invoke, "correspondentsStatus": correspondents})


def _json_body(request: Request) -> Any:
    """The JSON body (an empty body is an empty object, as a JSON body parser reads it), or the
    400 a body that does not parse gets: V8's JSON.parse text, naming the character it stopped at."""
    text = request.body.decode("utf-8", "replace").rstrip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        token = text[min(exc.pos, len(text) - 1)]  # a body cut short: its last character
        return json_response(400, {"message": f"Unexpected token {token} in JSON"})


def is_chat_id(chat_id: str) -> bool:
    """`digits@c.us` (a person) or `digits-digits@g.us` (a group, older ids without the dash)."""
    user, _, server = chat_id.partition("@")
    if server == "g.us":
        user = user.replace("-", "")
    return server in ("c.us", "g.us") and is_integer(user)


def get_message(account: Account, request: Request, now: float) -> Response:
    data = _json_body(request)
    if isinstance(data, Response):
        return data
    if not isinstance(data, dict):
        return BAD_DATA
    chat_id, id_message = data.get("chatId"), data.get("idMessage")
    if not isinstance(chat_id, str) or not is_chat_id(chat_id) or not isinstance(id_message, str) or not id_message:
        return VALIDATION_FAILED
    msg = account.messages.get(id_message)
    if msg is None or msg.kind != "message" or not msg.visible(now) or msg.chat_id != chat_id:
        return MESSAGE_NOT_FOUND
    state, _ = _journal_state(msg, now)
    return json_response(200, _journal_entry(msg, state, msg.created_s))


def last_outgoing_messages(account: Account, request: Request, now: float) -> Response:
    minutes = request.query.get("minutes", DEFAULT_MINUTES)
    if not is_integer(minutes):
        return BAD_DATA
    since_s = now - int(minutes) * 60
    entries = []
    for msg in reversed(account.messages.values()):
        if msg.created_s < since_s:
            break  # insertion order is creation order: the rest is older still
        if msg.kind == "message" and msg.visible(now):
            state, last_action_s = _journal_state(msg, now)
            entries.append(_journal_entry(msg, state, last_action_s))
    return json_response(200, entries)


def get_status_statistic(account: Account, request: Request, now: float) -> Response:
    """Per-viewer states of a Status post; viewers whose life has not started are not listed.
    Unknown ids answer `[]` like the real method often does (gh green-api/issues#929)."""
    id_message = request.query.get("idMessage")
    if not id_message:
        return VALIDATION_FAILED
    msg = account.messages.get(id_message)
    if msg is None or msg.kind != "status_post" or not msg.visible(now):
        return json_response(200, [])
    viewers = []
    for participant, life in msg.viewers.items():
        step = reached(life, msg.created_s, now)
        if step is not None:
            status, at_s = step
            viewers.append({"participant": participant, "timestamp": int(at_s), "status": status})
    return json_response(200, viewers)


def receive_notification(account: Account, request: Request, now: float) -> Response:
    """The queue's first notification, left in place until it is deleted; `null` for none."""
    timeout = request.query.get("receiveTimeout", "5")
    if not is_integer(timeout) or not 5 <= int(timeout) <= 60:
        return BAD_DATA
    if not account.notifications:
        return json_response(200, None)
    receipt, body = account.notifications[0]
    return json_response(200, {"receiptId": receipt, "body": body})


def delete_notification(account: Account, request: Request, now: float) -> Response:
    receipt = request.path.rstrip("/").rsplit("/", 1)[-1]
    if not is_integer(receipt):
        return json_response(400, {"message": "Parameter receiptId must be a Number"})
    queue = account.notifications
    found = any(r == int(receipt) for r, _ in queue)
    if found:
        kept = [item for item in queue if item[0] != int(receipt)]
        queue.clear()
        queue.extend(kept)
    return json_response(200, {"result": found})


def get_state_instance(account: Account, request: Request, now: float) -> Response:
    return json_response(200, {"stateInstance": "authorized"})


def _journal_state(msg: Message, now: float) -> tuple[Any, float]:
    return msg.state(now, PENDING, NOT_JOURNALLED)


def _journal_entry(msg: Message, state: Any, timestamp_s: float) -> dict[str, Any]:
    # getMessage gives the acceptance time; lastOutgoingMessages the time of the last action
    return {
        "type": "outgoing",
        "idMessage": msg.msg_id,
        "timestamp": int(timestamp_s),
        "typeMessage": "textMessage",
        "chatId": msg.chat_id,
        "textMessage": msg.text,
        "statusMessage": state,
        "sendByApi": True,
    }


#: method -> (HTTP verb, handler)
METHODS: dict[str, tuple[str, Callable[[Account, Request, float], Response]]] = {
    "getMessage": ("POST", get_message),
    "lastOutgoingMessages": ("GET", last_outgoing_messages),
    "getStatusStatistic": ("GET", get_status_statistic),
    "getStateInstance": ("GET", get_state_instance),
    "receiveNotification": ("GET", receive_notification),
    "deleteNotification": ("DELETE", delete_notification),
}
