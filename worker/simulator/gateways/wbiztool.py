"""WBizTool api/v1: message status, `/me/` and `/status/` (REFERENCE.md §2).

Credentials (`client_id`, `api_key`) travel as body fields, form-encoded or JSON: the docs'
samples send a form, client 1.1.0 sends JSON, and the docs' curl sends JSON without saying so.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from ..model import PENDING, Account, Registry
from ..policy import Config
from ..wire import Request, Response, html_page, json_response
from .base import NOT_FOUND, Call, is_integer

#: `status` code -> `status_text` (seed 002)
STATUS_TEXT = {0: "Pending", 1: "Sent", 2: "Failed", 3: "Cancelled", 4: "Expired"}
FAILED = 2

AUTH_ERROR = json_response(400, {"status": 0, "message": "Auth Error: invalid api key"})
#: client 1.1.0's docstring: status 0 with message "Unknown message id" (no status_text shown)
UNKNOWN_ID = json_response(200, {"status": 0, "message": "Unknown message id"})
TOO_MANY = json_response(429, {"status": 0, "message": "Too many requests"})
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


def _account(registry: Registry, config: Config, fields: dict[str, Any]) -> Account | None:
    """The account when `api_key` is known (not revoked) and `client_id` is its own."""
    api_key = _api_key(fields)
    if api_key is None or api_key in config.revoked:
        return None
    account = registry.account("wbiztool", api_key)
    client_id = str(fields.get("client_id", "")).strip()
    return account if account is not None and client_id == account.secret else None


def message_status(registry: Registry, config: Config, msg_id: str, fields: dict[str, Any], now: float) -> Response:
    if _account(registry, config, fields) is None:
        return AUTH_ERROR
    msg = registry.find("wbiztool", fields["api_key"], msg_id, now)
    if msg is None:
        return UNKNOWN_ID
    code, _ = msg.state(now, PENDING["wbiztool"])
    body = {"status": code, "status_text": STATUS_TEXT.get(code, ""), "message": "connected"}
    if code == FAILED:
        body["error"] = msg.error
    return json_response(200, body)


def me(registry: Registry, config: Config, fields: dict[str, Any], now: float) -> Response:
    account = _account(registry, config, fields)
    if account is None:
        return AUTH_ERROR
    return json_response(200, {"status": 1, "message": "Okay", "name": account.name})
