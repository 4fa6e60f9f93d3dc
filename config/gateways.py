"""The gateways statuswatch knows: one entry each, pure data (this module imports nothing).

An entry holds all that is data, not code, about a gateway, and each part has one reader:

- its accounts (``config/accounts.py``): the credential fields, in the gateway's own names;
  the secret ones; the one that identifies the credential (aliases of one credential share
  its rate limits); the key of the base URL and its default;
- its message ids: the pattern a request's ``msg_id`` must match and the hint a refusal
  gives (``worker/tracking.py`` checks every request with them);
- its checks: the gateway method a check of each message kind calls, the batch method
  (``recent``) if it has one, and its documented per-method limits (``worker/ratelimit.py``
  turns methods into limiter buckets; the adapters take their methods from here);
- the furthest state it can report (``ceiling``: WBizTool never says more than "sent");
- its name: the ``provider`` of accounts and requests, the infix of the per-gateway poll
  settings ``STATUSWATCH_{NAME}_POLL_*`` (``config/settings.py``), the simulator's names.

A gateway's code is its adapter, ``worker/providers/<name>.py``, bound to its entry by name
in ``worker/providers/__init__.py``. The producer client installs without this package and
keeps its own copy of the names and id rules (``statuswatch_client.contract.MSG_ID_RULES``);
``tests/unit/test_gateways.py`` holds the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: the ids of gateways that number their messages: ASCII digits (``\d`` lets "١٢٣" through)
INTEGER_ID = r"[0-9]{1,20}"


@dataclass(frozen=True)
class Gateway:
    """What statuswatch knows about one gateway, apart from how to talk to it."""

    #: registry name: ``provider = "wamm"``
    name: str
    #: credential fields an account must give, in the gateway's own names
    credentials: tuple[str, ...]
    #: the fields among them that are secret (never logged, never sent to the broker)
    secrets: tuple[str, ...]
    #: the field that identifies the credential for rate limiting
    identity: str
    #: the account key of the base URL, and the URL when an account gives none
    url_field: str
    default_url: str
    #: a regular expression a request's ``msg_id`` must match whole, and what a refusal says
    msg_id: str
    msg_id_hint: str
    #: the furthest canonical state (``worker.states.State`` value) the gateway can report
    ceiling: str
    #: message kind -> the gateway method a check of it calls (its rate-limit bucket);
    #: ``message`` is required, and a kind the contract allows the gateway only if listed
    methods: Mapping[str, str]
    #: the method that lists recent outgoing messages in one request, if the gateway has one
    batch_method: str | None = None
    #: documented limits by method, as in an accounts file's ``method_limits`` ("10/s")
    method_limits: Mapping[str, str] = field(default_factory=dict)
    #: the optional account key of the secret a push to the webhook receiver proves itself
    #: with (GREEN-API's webhookUrlToken, a bearer header; WAMM.chat documents none: a secret
    #: path segment); None: the gateway does not push
    push_secret: str | None = None
    #: whether the gateway also queues its pushes for ``receiveNotification`` (GREEN-API)
    notifications: bool = False

    @property
    def integer_ids(self) -> bool:
        """Whether the gateway numbers its messages ("007" and "7" are one message)."""
        return self.msg_id == INTEGER_ID


GATEWAYS: Mapping[str, Gateway] = {
    gateway.name: gateway
    for gateway in (
        Gateway(
            name="wamm",
            credentials=("token",),
            secrets=("token",),
            identity="token",
            url_field="base_url",
            default_url="https://wamm.chat",
            msg_id=INTEGER_ID,
            msg_id_hint="a WAMM.chat msg_id is a number like 1234567",
            ceiling="read",
            methods={"message": "msg_state"},
            batch_method="msg_get_last",
            # https://1mhub.ru/en/help/poluchenie-soobschenii-cherez-webhook
            push_secret="webhook_secret",
        ),
        Gateway(
            name="wbiztool",
            credentials=("client_id", "api_key"),
            secrets=("api_key",),
            identity="api_key",
            url_field="base_url",
            default_url="https://wbiztool.com",
            msg_id=INTEGER_ID,
            msg_id_hint="a WBizTool msg_id is a number like 12345",
            ceiling="sent",
            methods={"message": "message_status"},
        ),
        Gateway(
            name="greenapi",
            credentials=("id_instance", "api_token_instance"),
            secrets=("api_token_instance",),
            identity="id_instance",
            url_field="api_url",
            default_url="https://api.green-api.com",
            msg_id=r"[A-Za-z0-9_.-]{1,128}",
            msg_id_hint="a GREEN-API idMessage is like 'BAE5F4886F6F2D05'",
            ceiling="read",
            methods={"message": "getMessage", "status_post": "getStatusStatistic"},
            batch_method="lastOutgoingMessages",
            # https://green-api.com/en/docs/api/ratelimiter/; WAMM and WBizTool document none
            method_limits={
                "getMessage": "10/s",
                "lastOutgoingMessages": "1/s",
                "getStatusStatistic": "1/s",
                "getStateInstance": "1/s",
            },
            # webhookUrlToken: https://green-api.com/en/docs/api/account/SetSettings/; the queue:
            # https://green-api.com/en/docs/api/receiving/technology-http-api/ReceiveNotification/
            push_secret="webhook_token",
            notifications=True,
        ),
    )
}
