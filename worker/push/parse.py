"""The gateways' push bodies, read leniently: what is a status of an outgoing message becomes a
``Push``; any other kind of push is acknowledged and counted (``Parsed.ignored``), never an
error; a body that cannot be read at all raises ``BadPush`` naming the problem (bounded).

GREEN-API, outgoingMessageStatus
(https://green-api.com/en/docs/api/receiving/notifications-format/outgoing-message/OutgoingMessageStatus/):
``typeWebhook``, ``instanceData.idInstance``, ``timestamp`` (UNIX s), ``idMessage``, ``chatId``,
``status`` (sent, delivered, read, failed, noAccount, notInGroup, yellowCard), ``description``
(the error's), ``sendByApi``. The other types (incoming webhooks types,
https://green-api.com/en/docs/api/receiving/notifications-format/type-webhook/) say nothing
about an outgoing message's status. An empty ``status`` says nothing either (it is ignored).

WAMM.chat (https://1mhub.ru/en/help/poluchenie-soobschenii-cherez-webhook): ``tip`` is ``msg``
(a message) or ``msg_state`` (a message's status), ``msg_data`` the message's fields as
msg_get_last gives them (``msg_id``, ``state``, ``date_upd``). The page shows no msg_state
body: ``msg_data`` is read as one object or a list of them, ``msg_id`` as a number or digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from config import GATEWAYS
from worker.providers import greenapi, wamm
from worker.providers.base import normalise
from worker.states import TERMINAL, Observation
from worker.text import clip

#: a push type's name as counted: letters, digits and '_', at most 40 (anything else: "other")
KIND = re.compile(r"^[A-Za-z0-9_]{1,40}$")
#: the most statuses one WAMM body may carry
MAX_ITEMS = 100


class BadPush(ValueError):
    """A body that cannot be read as the gateway's push; the text names the problem."""


@dataclass(frozen=True)
class Push:
    """One status of one outgoing message, as a gateway pushed it."""

    msg_id: str
    observation: Observation
    #: why the message failed, in the gateway's words ('' unless the status is a failure)
    reason: str = ""


@dataclass(frozen=True)
class Parsed:
    pushes: list[Push] = field(default_factory=list)
    #: the kind of a push that carries no status (counted, acknowledged); '' for a status push
    ignored: str = ""
    #: GREEN-API: the instance the body names (None: it names none)
    instance: str | None = None


def kind_of(value: object) -> str:
    return value if isinstance(value, str) and KIND.match(value) else "other"


def greenapi_body(body: Any) -> Parsed:
    """A GREEN-API webhook (or a notification's ``body``)."""
    if not isinstance(body, Mapping):
        raise BadPush("the body is not a JSON object")
    kind = body.get("typeWebhook")
    if not isinstance(kind, str) or not kind:
        raise BadPush("typeWebhook: missing or not a string")
    instance = _instance(body.get("instanceData"))
    if kind != "outgoingMessageStatus":
        return Parsed(ignored=kind_of(kind), instance=instance)
    status = body.get("status")
    if status is None or status == "":
        return Parsed(ignored="empty_status", instance=instance)
    if not isinstance(status, str):
        raise BadPush("status: not a string")
    msg_id = _msg_id("greenapi", body.get("idMessage"), "idMessage")
    obs = greenapi.observation(status, _epoch_s(body.get("timestamp")))
    reason = ""
    if obs.state in TERMINAL:
        description = body.get("description")
        reason = clip(f"{status}: {description}" if isinstance(description, str) and description else status)
    return Parsed([Push(msg_id, obs, reason)], instance=instance)


def wamm_body(body: Any) -> Parsed:
    """A WAMM.chat webhook."""
    if not isinstance(body, Mapping):
        raise BadPush("the body is not a JSON object")
    tip = body.get("tip")
    if not isinstance(tip, str) or not tip:
        raise BadPush("tip: missing or not a string")
    if tip != "msg_state":
        return Parsed(ignored=kind_of(tip))
    data = body.get("msg_data")
    items: list[Any] = data if isinstance(data, list) else [data]
    if not items or len(items) > MAX_ITEMS or not all(isinstance(item, Mapping) for item in items):
        raise BadPush(f"msg_data: expected an object or a list of 1 to {MAX_ITEMS} objects")
    pushes = []
    for item in items:
        assert isinstance(item, Mapping)
        state = item.get("state")
        if not isinstance(state, str):
            raise BadPush("msg_data.state: missing or not a string")
        if not state.strip():
            continue
        obs = wamm.observation(state, wamm.parse_date(item.get("date_upd")))
        reason = clip(state) if obs.state in TERMINAL else ""
        pushes.append(Push(_msg_id("wamm", item.get("msg_id"), "msg_data.msg_id"), obs, reason))
    return Parsed(pushes, ignored="" if pushes else "empty_status")


def _msg_id(provider: str, value: object, where: str) -> str:
    """A message id as a tracker's (as the batch sync reads them: the text); BadPush otherwise."""
    gateway = GATEWAYS[provider]
    if isinstance(value, int) and not isinstance(value, bool) and gateway.integer_ids and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(gateway.msg_id, value.strip()):
        raise BadPush(f"{where}: not a {provider} message id ({gateway.msg_id_hint})")
    return value.strip()


def _instance(data: object) -> str | None:
    value = data.get("idInstance") if isinstance(data, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).strip() == "":
        return None
    return str(value).strip()


def _epoch_s(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def same_instance(named: str | None, ours: str) -> bool:
    """Whether a body names our instance (or names none: accepted, as nothing says it always does)."""
    return named is None or normalise(named) == normalise(ours)
