"""Pure simulator state: accounts, message lives on a clock, admission (rate limits, stats), faults.

Nothing here does I/O. Everything that depends on time takes `now` (epoch seconds, float), so
tests drive it with any clock they like.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from config.gateways import GATEWAYS

#: the gateways simulated: every one of the gateway table (a module each in `gateways/`)
PROVIDERS = tuple(GATEWAYS)

#: one life step: (seconds after creation, provider's raw value)
Life = tuple[tuple[float, Any], ...]


class Clock:
    """Epoch seconds: the wall clock (or a frozen `start_s`) plus an offset tests can advance."""

    def __init__(self, start_s: float | None = None) -> None:
        self._base: Callable[[], float] = time.time if start_s is None else (lambda: start_s)
        self.offset_s = 0.0

    def __call__(self) -> float:
        return self._base() + self.offset_s

    def advance(self, seconds: float) -> float:
        self.offset_s += seconds
        return self()


def reached(life: Life, created_s: float, now: float, skip: frozenset[Any] = frozenset()) -> tuple[Any, float] | None:
    """The last step of `life` reached at `now` as (raw, at_s), ignoring `skip` values; or None."""
    age_s = now - created_s
    found: tuple[Any, float] | None = None
    for offset_s, raw in life:
        if offset_s > age_s:
            break
        if raw not in skip:
            found = (raw, created_s + offset_s)
    return found


@dataclass(slots=True)
class Message:
    msg_id: str
    created_s: float
    life: Life
    invisible_s: float = 0.0
    kind: str = "message"
    chat_id: str = ""
    phone: str = ""
    text: str = ""
    error: str = ""
    viewers: dict[str, Life] = field(default_factory=dict)

    def visible(self, now: float) -> bool:
        return now - self.created_s >= self.invisible_s

    def state(self, now: float, pending: Any, skip: frozenset[Any] = frozenset()) -> tuple[Any, float]:
        """(raw value, since_s) at `now`; the pending value since creation before any step."""
        return reached(self.life, self.created_s, now, skip) or (pending, self.created_s)


@dataclass(slots=True)
class Account:
    #: WBizTool client_id, GREEN-API apiTokenInstance; None for WAMM (the token is the credential)
    secret: str | None
    name: str = "Simulated account"
    #: insertion order is creation order: reversed() walks newest first
    messages: dict[str, Message] = field(default_factory=dict)
    #: messages the gateway accepted for sending on `send_day` (UTC days since the epoch)
    sends: int = 0
    send_day: int = -1
    #: GREEN-API: the notification queue, (receiptId, body) oldest first (`push.py` fills it)
    notifications: deque[tuple[int, Any]] = field(default_factory=deque)

    def sends_today(self, now: float) -> int:
        """Messages accepted for sending so far today (UTC), this one not included."""
        day = int(now // 86_400)
        if day != self.send_day:
            self.send_day, self.sends = day, 0
        return self.sends

    def new_id(self) -> str:
        """A free integer id (WAMM and WBizTool ids are integers)."""
        n = len(self.messages) + 1
        while str(n) in self.messages:
            n += 1
        return str(n)


def normalize_id(provider: str, msg_id: str) -> str:
    """Where the gateway numbers its messages (WAMM, WBizTool), "007" and "7" name the same one."""
    gateway = GATEWAYS.get(provider)
    if (gateway is None or gateway.integer_ids) and msg_id.isascii() and msg_id.isdigit():
        return str(int(msg_id))
    return msg_id


class Registry:
    """Accounts by (provider, credential), each with its messages."""

    def __init__(self) -> None:
        self.accounts: dict[tuple[str, str], Account] = {}

    def account(self, provider: str, credential: str | None) -> Account | None:
        return self.accounts.get((provider, credential or ""))

    def find(self, provider: str, credential: str, msg_id: str, now: float) -> Message | None:
        """A visible message of that credential, or None (unknown, or still invisible)."""
        account = self.accounts.get((provider, credential))
        if account is None:
            return None
        msg = account.messages.get(normalize_id(provider, msg_id))
        return msg if msg is not None and msg.visible(now) else None

    def ensure(self, provider: str, credential: str, secret: str | None, name: str = "") -> Account:
        account = self.accounts.get((provider, credential))
        if account is None:
            account = self.accounts[(provider, credential)] = Account(secret)
        account.secret = secret
        if name:
            account.name = name
        return account

    def add_messages(self, items: Iterable[Any], now: float) -> list[tuple[str, str, Message]]:
        """Validate every item first, then add them all (a bad batch adds nothing); the added
        ones as (provider, credential, message)."""
        parsed = [parse_message(item, now) for item in _as_list(items, "messages")]
        for provider, credential, secret, msg in parsed:
            messages = self.ensure(provider, credential, secret).messages
            messages.pop(msg.msg_id, None)  # a re-added message becomes the newest
            messages[msg.msg_id] = msg
        return [(provider, credential, msg) for provider, credential, _, msg in parsed]

    def add_credentials(self, items: Iterable[Any]) -> None:
        """Known accounts without messages: a string is a WAMM token, a dict names its provider."""
        parsed = [_parse_credential(item) for item in _as_list(items, "credentials")]
        for provider, credential, secret, name in parsed:
            self.ensure(provider, credential, secret, name)


def parse_message(item: Any, now: float) -> tuple[str, str, str | None, Message]:
    if not isinstance(item, dict):
        raise ValueError(f"a message must be an object, got {item!r}")
    provider, credential, secret, _ = _parse_credential(item)
    msg = Message(
        msg_id=normalize_id(provider, _text(item, "msg_id")),
        created_s=now,
        life=_life(item.get("life", [])),
        invisible_s=_seconds(item.get("invisible_s", 0.0)),
        kind=_kind(item.get("kind", "message")),
        chat_id=str(item.get("chat_id") or f"{item.get('phone') or '79000000000'}@c.us"),
        phone=str(item.get("phone", "")),
        text=str(item.get("text", "")),
        error=str(item.get("error", "Failed")),
        viewers={str(p): _life(life) for p, life in dict(item.get("viewers", {})).items()},
    )
    return provider, credential, secret, msg


def _parse_credential(item: Any) -> tuple[str, str, str | None, str]:
    if isinstance(item, str):
        return "wamm", item, None, ""
    if not isinstance(item, dict):
        raise ValueError(f"a credential must be a string or an object, got {item!r}")
    provider = item.get("provider")
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {PROVIDERS}, got {provider!r}")
    credential = _text(item, "credential")
    secret = None
    if provider == "wbiztool":
        secret = str(_integer(item.get("client_id"), "client_id"))
    elif provider == "greenapi":
        secret = _text(item, "api_token")
    return provider, credential, secret, str(item.get("name", ""))


def _as_list(items: Any, what: str) -> list[Any]:
    if not isinstance(items, list):
        raise ValueError(f"{what} must be a list")
    return items


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise ValueError(f"{key} is required (a non-empty string)")
    return str(value)


def _integer(value: Any, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be an integer, got {value!r}") from None


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"expected a number of seconds >= 0, got {value!r}")
    return float(value)


def _kind(value: Any) -> str:
    if value not in ("message", "status_post"):
        raise ValueError(f"kind must be 'message' or 'status_post', got {value!r}")
    return str(value)


def _life(steps: Any) -> Life:
    if not isinstance(steps, list | tuple):
        raise ValueError(f"life must be a list of [raw_value, seconds], got {steps!r}")
    parsed = []
    for step in steps:
        if not isinstance(step, list | tuple) or len(step) != 2:
            raise ValueError(f"a life step must be [raw_value, seconds], got {step!r}")
        parsed.append((_seconds(step[1]), step[0]))
    return tuple(sorted(parsed, key=lambda s: s[0]))


class Traffic:
    """Request counters, injected faults and exact sliding one-second windows of admitted requests."""

    def __init__(self) -> None:
        self.total = 0
        self.by_credential: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.responses: Counter[str] = Counter()
        #: injected faults by kind: a malformed body is a 200 in `responses`, so only this counts it
        self.faults: Counter[str] = Counter()
        self.max_per_second: defaultdict[str, dict[str, int]] = defaultdict(dict)
        self.in_flight = 0
        self.in_flight_max = 0
        #: (credential, method, msg_id) -> requests that asked about that one message
        self.by_message: Counter[tuple[str, str, str]] = Counter()
        self._windows: dict[tuple[str, str], deque[float]] = {}

    def enter(self) -> None:
        self.total += 1
        self.in_flight += 1
        self.in_flight_max = max(self.in_flight_max, self.in_flight)

    def leave(self, outcome: str) -> None:
        self.in_flight -= 1
        self.responses[outcome] += 1

    def count(self, credential: str, method: str, msg_id: str | None = None) -> None:
        self.by_credential[credential][method] += 1
        if msg_id is not None:
            self.by_message[(credential, method, msg_id)] += 1

    def per_message(self) -> dict[str, dict[str, dict[str, int]]]:
        """Requests per credential, method and message id (only calls about one message)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (credential, method, msg_id), n in self.by_message.items():
            out.setdefault(credential, {}).setdefault(method, {})[msg_id] = n
        return out

    def admit(self, credential: str, method: str, limits: dict[str, int], now: float) -> float | None:
        """Admit and return None, or return the seconds until the full bucket has room."""
        windows = (("*", self._window(credential, "*", now)), (method, self._window(credential, method, now)))
        for bucket, window in windows:
            limit = limits.get(bucket)
            if limit is not None and len(window) >= limit:
                # room comes when the limit-th newest admission leaves the window
                return window[-limit] + 1.0 - now if limit else 1.0
        peaks = self.max_per_second[credential]
        for bucket, window in windows:
            window.append(now)
            if len(window) > peaks.get(bucket, 0):
                peaks[bucket] = len(window)
        return None

    def _window(self, credential: str, bucket: str, now: float) -> deque[float]:
        window = self._windows.get((credential, bucket))
        if window is None:
            window = self._windows[(credential, bucket)] = deque()
        horizon = now - 1.0  # the window is (now - 1 s, now]
        while window and window[0] <= horizon:
            window.popleft()
        return window

    def snapshot(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_credential": {c: dict(m) for c, m in self.by_credential.items()},
            "max_per_second": {c: dict(m) for c, m in self.max_per_second.items()},
            "responses": dict(self.responses),
            "faults": dict(self.faults),
            "in_flight": self.in_flight,
            "in_flight_max": self.in_flight_max,
        }
