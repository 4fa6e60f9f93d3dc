"""The producer contract of statuswatch: task names, queues, and the rules a request must meet.

Pure Python, no third-party import: the client validates with it before it enqueues, and the
worker validates every message with it again, so a request sent by name from a service that
never installed statuswatch meets the same rules (docs/contract.md lists them).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: the one queue producers send to; statuswatch workers never read Celery's default ``celery``
TRACK_QUEUE = "statuswatch.track"
TRACK_TASK = "statuswatch.track"
TRACK_MANY_TASK = "statuswatch.track_many"
UNTRACK_TASK = "statuswatch.untrack"
PUBLIC_TASKS = (TRACK_TASK, TRACK_MANY_TASK, UNTRACK_TASK)
#: ``app.conf.task_routes.update(TASK_ROUTES)`` once in a producer instead of ``queue=`` per call
TASK_ROUTES: Mapping[str, Mapping[str, str]] = {name: {"queue": TRACK_QUEUE} for name in PUBLIC_TASKS}

TARGETS = ("delivered", "read")
KINDS = ("message", "status_post")
#: the longest tracking deadline a request may ask for (31 days)
MAX_EXPIRES_S = 31 * 24 * 3600
MAX_META_BYTES = 2048
#: nesting of ``meta`` (objects and arrays): deeper is refused before anything recurses into it
MAX_META_DEPTH = 16
MAX_URL_CHARS = 2000
#: items one ``statuswatch.track_many`` message may carry
MAX_ITEMS = 1000
#: characters of a producer's value quoted back in an error (the rest is counted, not shown)
ECHO_CHARS = 200

FIELDS = (
    "provider", "account", "msg_id", "until", "expires_in", "chat_id", "kind",
    "callback_url", "callback_task", "callback_queue", "meta",
)  # fmt: skip
UNTRACK_FIELDS = ("provider", "account", "msg_id")

_ALIAS_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: provider -> (the pattern a ``msg_id`` of it matches whole, what a refusal says)
MsgIdRules = Mapping[str, tuple[re.Pattern[str], str]]
#: the copy of the worker's gateway table (config/gateways.py) this package, which installs
#: without it, validates with; a test of the worker holds the two equal, and the worker
#: validates with its table. Ids are ASCII: ``[0-9]``, not ``\d``, which lets "١٢٣"
#: (Arabic-Indic digits) through
MSG_ID_RULES: MsgIdRules = {
    "wamm": (re.compile(r"[0-9]{1,20}"), "a WAMM.chat msg_id is a number like 1234567"),
    "wbiztool": (re.compile(r"[0-9]{1,20}"), "a WBizTool msg_id is a number like 12345"),
    "greenapi": (re.compile(r"[A-Za-z0-9_.-]{1,128}"), "a GREEN-API idMessage is like 'BAE5F4886F6F2D05'"),
}
#: the providers a request may name
PROVIDERS = tuple(sorted(MSG_ID_RULES))
#: GREEN-API chat ids, by the instance's messenger:
#: - WhatsApp: ``11001234567@c.us`` (person), ``11001234567-1581234048@g.us`` or
#:   ``120363043968066561@g.us`` (group), ``120650379300963@lid`` (linked id, returned by journals
#:   and webhooks): https://green-api.com/en/docs/api/chat-id
#: - Telegram: ``10000000`` (person), ``-10000000000000`` (group, always a minus):
#:   https://green-api.com/en/telegram/docs/api/chat-id
#: - MAX (v3): the same two numeric forms; "the length may grow over time":
#:   https://green-api.com/v3/docs/api/chat-id
_CHAT_ID_RE = re.compile(r"[0-9A-Za-z_.-]{1,64}@(?:c\.us|g\.us|lid)|-?[0-9]{1,32}")
_TASK_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,199}")
_QUEUE_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
#: the queue a callback task is sent to when the request names none (Celery's default)
DEFAULT_CALLBACK_QUEUE = "celery"


@dataclass(frozen=True)
class TrackRequest:
    """A valid request to track one message. ``expires_in_s`` None: the worker's default."""

    provider: str
    account: str
    msg_id: str
    until: str = "read"
    expires_in_s: float | None = None
    chat_id: str | None = None
    kind: str = "message"
    callback_url: str | None = None
    callback_task: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: the queue ``callback_task`` is sent to; None: DEFAULT_CALLBACK_QUEUE
    callback_queue: str | None = None

    def as_kwargs(self) -> dict[str, Any]:
        """The task's keyword arguments: JSON primitives only, no secret, defaults left out."""
        values = {
            "provider": self.provider, "account": self.account, "msg_id": self.msg_id, "until": self.until,
            "expires_in": self.expires_in_s, "chat_id": self.chat_id, "callback_url": self.callback_url,
            "callback_task": self.callback_task, "meta": dict(self.meta) or None,
            "kind": None if self.kind == "message" else self.kind, "callback_queue": self.callback_queue,
        }  # fmt: skip
        return {k: v for k, v in values.items() if v is not None}

    def stored_fields(self) -> dict[str, str]:
        """Optional fields kept on the tracker record."""
        fields = {
            "chat_id": self.chat_id or "", "kind": self.kind if self.kind != "message" else "",
            "callback_url": self.callback_url or "", "callback_task": self.callback_task or "",
            "callback_queue": self.callback_queue or "", "meta": _json(self.meta) if self.meta else "",
        }  # fmt: skip
        return {k: v for k, v in fields.items() if v}


@dataclass(frozen=True)
class MessageRef:
    """The message an ``untrack`` names."""

    provider: str
    account: str
    msg_id: str


def parse_track(kwargs: Mapping[str, Any], *, msg_id_rules: MsgIdRules = MSG_ID_RULES) -> TrackRequest:
    """Validate the keyword arguments of ``statuswatch.track``; ``msg_id_rules`` name the
    providers and their id rules (the worker passes its gateway table's).

    Raises:
        ValueError: naming the first field that is wrong and what is wrong with it; any
            value quoted back is cut to ECHO_CHARS characters.
    """
    _known_fields(kwargs, FIELDS)
    provider = _provider(kwargs.get("provider"), msg_id_rules)
    kind = _choice("kind", kwargs.get("kind"), KINDS, "message")
    if kind == "status_post" and provider != "greenapi":
        raise ValueError("kind: 'status_post' exists only for provider 'greenapi'")
    chat_id = _optional_text("chat_id", kwargs.get("chat_id"), 64)
    if chat_id is not None and not _CHAT_ID_RE.fullmatch(chat_id):
        forms = "'79001234567@c.us', '...@g.us', '...@lid', or a Telegram/MAX id like '10000000' or '-100200'"
        raise ValueError(f"chat_id: expected like {forms}, got {echo(chat_id)}")
    if provider == "greenapi" and kind == "message" and chat_id is None:
        raise ValueError("chat_id: required for a GREEN-API chat message (getMessage needs it)")
    return TrackRequest(
        provider=provider,
        account=_account(kwargs.get("account")),
        msg_id=_msg_id(kwargs.get("msg_id"), msg_id_rules[provider]),
        until=_choice("until", kwargs.get("until"), TARGETS, "read"),
        expires_in_s=_expires_in(kwargs.get("expires_in")),
        chat_id=chat_id,
        kind=kind,
        callback_url=_callback_url(kwargs.get("callback_url")),
        callback_task=_callback_task(kwargs.get("callback_task")),
        meta=_meta(kwargs.get("meta")),
        callback_queue=_callback_queue(kwargs.get("callback_queue")),
    )


def parse_untrack(kwargs: Mapping[str, Any], *, msg_id_rules: MsgIdRules = MSG_ID_RULES) -> MessageRef:
    """Validate the keyword arguments of ``statuswatch.untrack`` (``msg_id_rules`` as for
    ``parse_track``).

    Raises:
        ValueError: naming the field that is wrong.
    """
    _known_fields(kwargs, UNTRACK_FIELDS)
    provider = _provider(kwargs.get("provider"), msg_id_rules)
    account = _account(kwargs.get("account"))
    return MessageRef(provider, account, _msg_id(kwargs.get("msg_id"), msg_id_rules[provider]))


def items_of(value: object) -> Sequence[object]:
    """The ``items`` of ``statuswatch.track_many``: a list of at most MAX_ITEMS (each item is
    then validated on its own).

    Raises:
        ValueError: ``items`` is not such a list.
    """
    if not isinstance(value, list | tuple):
        raise ValueError(f"items: expected a list of track requests, got {type(value).__name__}")
    if len(value) > MAX_ITEMS:
        raise ValueError(f"items: at most {MAX_ITEMS} per message, got {len(value)}; send several messages")
    return value


def item_kwargs(item: object) -> Mapping[str, Any]:
    """One item of ``items``: an object of ``statuswatch.track`` keyword arguments.

    Raises:
        ValueError: it is not an object.
    """
    if not isinstance(item, Mapping):
        raise ValueError(f"expected an object of track keyword arguments, got {type(item).__name__}")
    return item


def echo(value: object) -> str:
    """A producer's value as an error may quote it: short, one line, never a deep walk."""
    if isinstance(value, str):
        shown = repr(value[:ECHO_CHARS])
        return shown if len(value) <= ECHO_CHARS else f"{shown}... ({len(value)} characters)"
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        # str() of an int of more than 4,300 digits raises; nobody needs more than ECHO_CHARS
        return repr(value) if abs(value) < 10**ECHO_CHARS else f"an integer of more than {ECHO_CHARS} digits"
    if isinstance(value, list | tuple | dict):
        return f"a {'JSON object' if isinstance(value, dict) else 'JSON array'} of {len(value)} items"
    return f"a value of type {type(value).__name__}"


# -- one rule per field --------------------------------------------------------------------


def safe_url(url: str) -> str:
    """The URL without its secrets, wherever they are: ``user:***@``, ``***@`` for userinfo
    without a colon (it may be the password alone), and every query value masked (redis-py
    takes ``?password=``, a webhook URL may carry ``?token=``; any parameter could be one)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:  # the last '@': a password may hold '@', '?' or '/'
        creds, _, rest = rest.rpartition("@")
        user, colon, _ = creds.partition(":")
        rest = f"{user}:***@{rest}" if user and colon else f"***@{rest}"
    where, question, query = rest.partition("?")
    return scheme + sep + where + question + (masked_query(query) if question else "")


def masked_query(query: str) -> str:
    """A URL's query with every value masked: ``a=***&b``."""
    return "&".join(f"{name}=***" if eq else name for name, eq, _ in (p.partition("=") for p in query.split("&")))


def _known_fields(kwargs: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = [name for name in kwargs if name not in allowed]
    if unknown:
        shown = ", ".join(echo(name) for name in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise ValueError(f"unexpected field(s) {shown}; allowed: {', '.join(allowed)}")


def _text(name: str, value: str) -> str:
    """``value`` if it is text a store, a log and another host can carry (no lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name}: not valid Unicode text (a lone surrogate?)") from None
    return value


def _provider(value: object, msg_id_rules: MsgIdRules) -> str:
    if not isinstance(value, str) or value not in msg_id_rules:
        raise ValueError(f"provider: must be one of {', '.join(sorted(msg_id_rules))}, got {echo(value)}")
    return value


def _account(value: object) -> str:
    if not isinstance(value, str) or not _ALIAS_RE.fullmatch(value):
        raise ValueError(f"account: expected an account alias (1-64 letters, digits, '_', '.', '-'), got {echo(value)}")
    return value


def _msg_id(value: object, rule: tuple[re.Pattern[str], str]) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"msg_id: expected a string or an integer, got {echo(value)}")
    if isinstance(value, int) and not 0 <= value < 10**20:
        raise ValueError(f"msg_id: expected a positive id of at most 20 digits, got {echo(value)}")
    text = str(value)
    if not text:
        raise ValueError("msg_id: must not be empty")
    pattern, hint = rule
    if not pattern.fullmatch(text):
        raise ValueError(f"msg_id: {hint}, got {echo(text)}")
    return text


def _choice(name: str, value: object, allowed: Sequence[str], default: str) -> str:
    """One of ``allowed``; absent (None) means ``default``. Anything else, 0 and False included,
    is refused rather than read as "not given"."""
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}: must be one of {', '.join(allowed)}, got {echo(value)}")
    return value


def _expires_in(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expires_in: expected a number of seconds, got {echo(value)}")
    # compared before any float(): 10**400 is a valid int and no float
    if (isinstance(value, float) and not math.isfinite(value)) or not 0 < value <= MAX_EXPIRES_S:
        raise ValueError(f"expires_in: must be more than 0 and at most {MAX_EXPIRES_S} s, got {echo(value)}")
    return float(value)


def _optional_text(name: str, value: object, max_chars: int) -> str | None:
    """An optional string field; absent, None and "" all mean "not given"."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {echo(value)}")
    if len(value) > max_chars:
        raise ValueError(f"{name}: at most {max_chars} characters, got {len(value)}")
    return _text(name, value)


def _callback_url(value: object) -> str | None:
    url = _optional_text("callback_url", value, MAX_URL_CHARS)
    if url is not None and not (url.isprintable() and " " not in url and _is_http_url(url)):
        raise ValueError(f"callback_url: expected an http(s) URL, got {echo(url)}")
    return url


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # a malformed port or IPv6 literal
        return False


def _callback_task(value: object) -> str | None:
    name = _optional_text("callback_task", value, 200)
    if name is not None and not _TASK_NAME_RE.fullmatch(name):
        raise ValueError(f"callback_task: expected a Celery task name like 'billing.on_status', got {echo(name)}")
    return name


def _callback_queue(value: object) -> str | None:
    name = _optional_text("callback_queue", value, 200)
    if name is not None and not _QUEUE_NAME_RE.fullmatch(name):
        raise ValueError(f"callback_queue: expected a queue name like 'billing.events', got {echo(name)}")
    return name


def _meta(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"meta: expected a JSON object, got {echo(value)}")
    _check_shape(value)
    try:
        encoded = _json(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"meta: not plain JSON ({type(exc).__name__})") from None
    _text("meta", encoded)
    size = len(encoded.encode("utf-8"))
    if size > MAX_META_BYTES:
        raise ValueError(f"meta: at most {MAX_META_BYTES} bytes as JSON, got {size}")
    return dict(value)


def _check_shape(value: dict[str, Any]) -> None:
    """Depth and size of ``meta`` without recursion: a deep value cannot exhaust the stack,
    a wide one stops at the byte limit's worth of items."""
    stack: list[tuple[object, int]] = [(value, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if depth > MAX_META_DEPTH:
            raise ValueError(f"meta: nested deeper than {MAX_META_DEPTH} levels")
        if seen > MAX_META_BYTES:
            raise ValueError(f"meta: at most {MAX_META_BYTES} bytes as JSON")
        if isinstance(node, dict):
            if not all(isinstance(k, str) for k in node):
                raise ValueError("meta: object keys must be strings")
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif not (node is None or isinstance(node, str | int | float | bool)):
            raise ValueError(f"meta: not plain JSON ({echo(node)})")


def _json(value: Mapping[str, Any]) -> str:
    """Compact JSON; NaN and Infinity are refused (no JSON reader of another service takes them)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
