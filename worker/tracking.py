"""What a producer may ask: the ``statuswatch.track`` request, validated field by field.

The same function validates in the producer (``from tasks import track``) and again on
the worker, so a request sent by name from another service meets the same rules.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from config import PROVIDERS, Accounts
from worker.states import TARGETS, State

MAX_EXPIRES_S = 31 * 24 * 3600
MAX_META_BYTES = 2048
KINDS = ("message", "status_post")
FIELDS = (
    "provider", "account", "msg_id", "until", "expires_in", "chat_id", "kind",
    "callback_url", "callback_task", "meta",
)  # fmt: skip
#: what a message id looks like at each gateway (ids are strings inside statuswatch)
MSG_ID_RULES: Mapping[str, tuple[re.Pattern[str], str]] = {
    "wamm": (re.compile(r"^\d{1,20}$"), "a WAMM.chat msg_id is a number"),
    "wbiztool": (re.compile(r"^\d{1,20}$"), "a WBizTool msg_id is a number"),
    "greenapi": (re.compile(r"^[A-Za-z0-9_.-]{1,128}$"), "a GREEN-API idMessage is like 'BAE5F4886F6F2D05'"),
}
CHAT_ID_RE = re.compile(r"^[0-9A-Za-z_.-]{1,64}@(c|g)\.us$")
TASK_NAME_RE = re.compile(r"^[A-Za-z_][\w.:-]{0,199}$")


@dataclass(frozen=True)
class TrackRequest:
    """A valid request to track one message."""

    provider: str
    account: str
    msg_id: str
    until: State = State.READ
    expires_in_s: float = 0.0
    chat_id: str | None = None
    kind: str = "message"
    callback_url: str | None = None
    callback_task: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def as_kwargs(self) -> dict[str, Any]:
        """The task's keyword arguments: primitives only, no secret."""
        kwargs: dict[str, Any] = {
            "provider": self.provider, "account": self.account, "msg_id": self.msg_id,
            "until": self.until.value, "expires_in": self.expires_in_s,
        }  # fmt: skip
        optional = {
            "chat_id": self.chat_id, "callback_url": self.callback_url,
            "callback_task": self.callback_task, "meta": dict(self.meta) or None,
            "kind": None if self.kind == "message" else self.kind,
        }  # fmt: skip
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        return kwargs

    def stored_fields(self) -> dict[str, str]:
        """Optional fields kept on the tracker record."""
        fields = {
            "chat_id": self.chat_id or "", "kind": self.kind if self.kind != "message" else "",
            "callback_url": self.callback_url or "", "callback_task": self.callback_task or "",
            "meta": json.dumps(dict(self.meta), separators=(",", ":")) if self.meta else "",
        }  # fmt: skip
        return {k: v for k, v in fields.items() if v}


def parse_track_request(kwargs: Mapping[str, Any], accounts: Accounts | None, default_expires_s: float) -> TrackRequest:
    """Validate a track request.

    ``accounts`` is None where no accounts file is configured (a producer elsewhere):
    then the account alias is checked for form only.

    Raises:
        ValueError: naming the first field that is wrong and what is wrong with it.
    """
    unknown = sorted(set(kwargs) - set(FIELDS))
    if unknown:
        raise ValueError(f"unexpected field(s) {unknown}; allowed: {list(FIELDS)}")
    provider = _provider(kwargs.get("provider"))
    account = _account(kwargs.get("account"), provider, accounts)
    kind = _choice("kind", kwargs.get("kind") or "message", KINDS)
    if kind == "status_post" and provider != "greenapi":
        raise ValueError("kind: 'status_post' exists only for provider 'greenapi'")
    chat_id = _optional_text("chat_id", kwargs.get("chat_id"))
    if chat_id is not None and not CHAT_ID_RE.match(chat_id):
        raise ValueError(f"chat_id: expected like '79001234567@c.us' or '...@g.us', got {chat_id!r}")
    if provider == "greenapi" and kind == "message" and chat_id is None:
        raise ValueError("chat_id: required for a GREEN-API chat message (getMessage needs it)")
    return TrackRequest(
        provider=provider,
        account=account,
        msg_id=_msg_id(kwargs.get("msg_id"), provider),
        until=State(_choice("until", kwargs.get("until") or "read", [t.value for t in TARGETS])),
        expires_in_s=_expires_in(kwargs.get("expires_in"), default_expires_s),
        chat_id=chat_id,
        kind=kind,
        callback_url=_callback_url(kwargs.get("callback_url")),
        callback_task=_callback_task(kwargs.get("callback_task")),
        meta=_meta(kwargs.get("meta")),
    )


def _provider(value: object) -> str:
    if not isinstance(value, str) or value not in PROVIDERS:
        raise ValueError(f"provider: must be one of {sorted(PROVIDERS)}, got {value!r}")
    return value


def _account(value: object, provider: str, accounts: Accounts | None) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9_.-]{1,64}$", value):
        raise ValueError(f"account: expected an account alias (1-64 letters, digits, '_', '.', '-'), got {value!r}")
    if accounts is not None:
        if value not in accounts:
            raise ValueError(f"account: unknown account {value!r}; configured: {sorted(accounts)}")
        if accounts[value].provider != provider:
            raise ValueError(f"account: {value!r} is a {accounts[value].provider} account, not {provider}")
    return value


def _msg_id(value: object, provider: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"msg_id: expected a string or an integer, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError("msg_id: must not be empty")
    pattern, hint = MSG_ID_RULES[provider]
    if not pattern.match(text):
        raise ValueError(f"msg_id: {hint}, got {text[:140]!r}")
    return text


def _choice(name: str, value: object, allowed: Any) -> str:
    if value not in allowed:
        raise ValueError(f"{name}: must be one of {list(allowed)}, got {value!r}")
    return str(value)


def _expires_in(value: object, default_s: float) -> float:
    if value is None:
        return default_s
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"expires_in: expected a number of seconds, got {value!r}")
    if value <= 0 or value > MAX_EXPIRES_S:
        raise ValueError(f"expires_in: must be more than 0 and at most {MAX_EXPIRES_S} s, got {value}")
    return float(value)


def _optional_text(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {type(value).__name__}")
    return value.strip()


def _callback_url(value: object) -> str | None:
    url = _optional_text("callback_url", value)
    if url is not None and (not re.match(r"^https?://[^\s/]+", url) or len(url) > 2000):
        raise ValueError(f"callback_url: expected an http(s) URL, got {url[:100]!r}")
    return url


def _callback_task(value: object) -> str | None:
    name = _optional_text("callback_task", value)
    if name is not None and not TASK_NAME_RE.match(name):
        raise ValueError(f"callback_task: expected a Celery task name, got {name[:100]!r}")
    return name


def _meta(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"meta: expected a JSON object, got {type(value).__name__}")
    try:
        encoded = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"meta: not JSON-serialisable ({exc})") from None
    if len(encoded.encode()) > MAX_META_BYTES:
        raise ValueError(f"meta: at most {MAX_META_BYTES} bytes as JSON, got {len(encoded)}")
    return dict(value)
