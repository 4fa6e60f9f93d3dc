"""How the simulated gateways misbehave: latency, faults, rate limits, throttles, account troubles.

`Policy.prepare` validates a `/_sim/config` change without applying it and `Policy.apply` commits
it, so a bad change leaves everything as it was. Time comes in as `now` (epoch seconds).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .model import PROVIDERS

#: the `/_sim/config` keys that are plain settings (`throttle` and `credentials` have effects)
FRACTIONS = ("fault_5xx", "fault_timeout", "fault_malformed", "push_duplicate", "push_reorder", "push_unknown",
             "push_resend")  # fmt: skip
#: rates that add up to 1 in decimal may exceed it by a rounding error in binary
ROUNDING = 1e-9
DURATIONS = ("latency_s", "latency_jitter_s", "timeout_hold_s", "push_resend_s", "push_reorder_s", "push_timeout_s",
             "notification_wait_max_s")  # fmt: skip
CREDENTIAL_SETS = ("revoked", "unauthorized", "quota_exceeded", "correspondents_exceeded", "notifications")
#: WBizTool's logical refusals of an account, answered in HTTP 200 with status 0 (wbiztool-client 1.1.0's tests);
#: "Scheduled date & time is not in valid format" refuses a request's fields, not an account
REFUSALS = ("Invalid whatsapp client", "Higher Subscription Required", "Auth Error 2")


@dataclass(frozen=True, slots=True)
class Config:
    latency_s: float = 0.0
    latency_jitter_s: float = 0.0
    #: how long a `fault_timeout` request is held before the connection is closed unanswered
    timeout_hold_s: float = 30.0
    fault_5xx: float = 0.0
    fault_timeout: float = 0.0
    fault_malformed: float = 0.0
    #: {provider: {bucket: n}, "by_credential": {credential: {bucket: n}}}; bucket "*" = all methods
    rate_limits: dict[str, Any] = field(default_factory=dict)
    retry_after: bool = False
    revoked: frozenset[str] = frozenset()
    unauthorized: frozenset[str] = frozenset()
    quota_exceeded: frozenset[str] = frozenset()
    #: GREEN-API instances whose Developer-plan chats are used up: a call naming a fourth chat gets a 466
    correspondents_exceeded: frozenset[str] = frozenset()
    #: WBizTool api_key -> the refusal (one of REFUSALS) its authenticated calls get
    refusals: dict[str, str] = field(default_factory=dict)
    #: WBizTool api_key -> messages `/send_msg/` accepts per UTC day; then HTTP 429 "Daily limit reached"
    daily_send_limit: dict[str, int] = field(default_factory=dict)
    seed: int | None = None
    #: pushes (`push.py`): credential -> {"url": webhook URL, "token": bearer token or absent}
    push: dict[str, dict[str, str]] = field(default_factory=dict)
    #: GREEN-API instances whose pushes go to their notification queue
    notifications: frozenset[str] = frozenset()
    push_duplicate: float = 0.0
    push_reorder: float = 0.0
    push_unknown: float = 0.0
    push_resend: float = 0.0
    #: a push without a 200 is sent again this much later (GREEN-API: 60 s), at most push_attempts in all
    push_resend_s: float = 60.0
    push_attempts: int = 6
    push_reorder_s: float = 1.0
    push_timeout_s: float = 10.0
    #: receiveNotification waits at most this long (and at most its receiveTimeout) for a notification
    notification_wait_max_s: float = 60.0

    def faults(self) -> tuple[tuple[str, str, float], ...]:
        """(fault, config key, rate), in the order `draw_fault` lays their intervals on [0, 1)."""
        return (
            ("timeout", "fault_timeout", self.fault_timeout),
            ("5xx", "fault_5xx", self.fault_5xx),
            ("malformed", "fault_malformed", self.fault_malformed),
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in CREDENTIAL_SETS:
            data[key] = sorted(data[key])
        return data


@dataclass(frozen=True, slots=True)
class Change:
    config: Config
    #: credential -> throttled until (epoch s); an entry in the past lifts a throttle
    throttles: dict[str, float]
    reseed: bool


class Policy:
    def __init__(self) -> None:
        self.config = Config()
        self.rng = random.Random()
        self.throttled_until: dict[str, float] = {}

    def prepare(self, changes: dict[str, Any], now: float) -> Change:
        """Validate `changes` (merged over the current config); raise ValueError, apply nothing."""
        settings: dict[str, Any] = {}
        throttles: dict[str, float] = {}
        for key, value in changes.items():
            if key == "throttle":
                throttles.update(_throttles(value, now))
            else:
                settings[key] = _setting(key, value)
        config = replace(self.config, **settings)
        _check_fault_total(config)
        return Change(config, throttles, "seed" in settings)

    def apply(self, change: Change) -> None:
        self.config = change.config
        if change.reseed:
            self.rng.seed(change.config.seed)
        self.throttled_until.update(change.throttles)

    def throttle_left(self, credential: str, now: float) -> float | None:
        """Seconds left of a throttle on `credential`, or None."""
        until = self.throttled_until.get(credential)
        if until is None:
            return None
        if now >= until:
            del self.throttled_until[credential]
            return None
        return until - now

    def limits_for(self, provider: str, credential: str) -> dict[str, int]:
        """Rate-limit buckets of a credential: {"*": n} and/or {method: n}; {} = unlimited."""
        limits = self.config.rate_limits
        by_credential: dict[str, dict[str, int]] = limits.get("by_credential", {})
        buckets: dict[str, int] = by_credential.get(credential, limits.get(provider, {}))
        return buckets

    def draw_fault(self) -> str | None:
        """ "timeout", "5xx", "malformed" or None, drawn per request with the seeded RNG.

        One roll split into consecutive intervals, so each `fault_*` is the share of requests
        that get that fault. No roll while all rates are 0: the RNG sequence stays as it was.
        """
        faults = self.config.faults()
        if not any(rate for _, _, rate in faults):
            return None
        roll = self.rng.random()
        upper = 0.0
        for fault, _, rate in faults:
            upper += rate
            if roll < upper:
                return fault
        return None

    def latency_s(self) -> float:
        config = self.config
        if config.latency_jitter_s:
            return config.latency_s + self.rng.uniform(0.0, config.latency_jitter_s)
        return config.latency_s


def _setting(key: str, value: Any) -> Any:
    if key in FRACTIONS:
        number = _number(key, value)
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{key} must be a fraction between 0 and 1, got {value!r}")
        return number
    if key in DURATIONS:
        return _non_negative(key, value)
    if key in CREDENTIAL_SETS:
        if not isinstance(value, list):
            raise ValueError(f"{key} must be a list of credentials")
        return frozenset(str(c) for c in value)
    parse = PARSERS.get(key)
    if parse is None:
        raise ValueError(f"unknown config key {key!r}")
    return parse(value)


def _check_fault_total(config: Config) -> None:
    """Each fault rate is a share of all requests, so together they are at most 1."""
    faults = config.faults()
    total = sum(rate for _, _, rate in faults)
    if total > 1.0 + ROUNDING:
        terms = " + ".join(f"{key} {rate:g}" for _, key, rate in faults)
        raise ValueError(f"fault rates add up to more than 1: {terms} = {total:g}")


def _throttles(value: Any, now: float) -> dict[str, float]:
    """{"credential": X, "for_s": 2.0} (or a list of them) -> {X: until}."""
    items = value if isinstance(value, list) else [value]
    throttles = {}
    for item in items:
        if not isinstance(item, dict) or "credential" not in item:
            raise ValueError(f"throttle must be {{'credential': ..., 'for_s': ...}}, got {item!r}")
        throttles[str(item["credential"])] = now + _non_negative("for_s", item.get("for_s", 0))
    return throttles


def _by_credential(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be an object {{credential: value}}, got {value!r}")
    return {str(credential): item for credential, item in value.items()}


def _refusals(value: Any) -> dict[str, str]:
    refusals = _by_credential("refusals", value)
    for credential, text in refusals.items():
        if text not in REFUSALS:
            raise ValueError(f"refusals.{credential} must be one of {REFUSALS}, got {text!r}")
    return refusals


def _daily_send_limit(value: Any) -> dict[str, int]:
    limits = {}
    for credential, n in _by_credential("daily_send_limit", value).items():
        key = f"daily_send_limit.{credential}"
        number = _non_negative(key, n)
        if not number.is_integer():
            raise ValueError(f"{key} must be a whole number of messages, got {n!r}")
        limits[credential] = int(number)
    return limits


def _seed(value: Any) -> int | None:
    return None if value is None else int(_number("seed", value))


def _rate_limits(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("rate_limits must be an object")
    limits: dict[str, Any] = {}
    for key, spec in value.items():
        if key == "by_credential":
            if not isinstance(spec, dict):
                raise ValueError("rate_limits.by_credential must be an object")
            limits[key] = {str(cred): _buckets(s) for cred, s in spec.items()}
        elif key in PROVIDERS:
            limits[key] = _buckets(spec)
        else:
            raise ValueError(f"rate_limits keys are {PROVIDERS} and 'by_credential', got {key!r}")
    return limits


def _buckets(spec: Any) -> dict[str, int]:
    """20 -> {"*": 20} (all methods of a credential share 20/s); a dict lists buckets."""
    if isinstance(spec, dict):
        return {str(bucket): _per_second(n) for bucket, n in spec.items()}
    return {"*": _per_second(spec)}


def _per_second(value: Any) -> int:
    number = _non_negative("rate limit", value)
    if not number.is_integer():
        raise ValueError(f"a rate limit counts whole requests per second, got {value!r}")
    return int(number)


def _non_negative(key: str, value: Any) -> float:
    number = _number(key, value)
    if number < 0:
        raise ValueError(f"{key} must be >= 0, got {value!r}")
    return number


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


#: the `/_sim/config` keys parsed by one function each
def _push(value: Any) -> dict[str, dict[str, str]]:
    targets = {}
    for credential, target in _by_credential("push", value).items():
        if not isinstance(target, dict) or not str(target.get("url", "")).startswith("http://"):
            raise ValueError(f"push.{credential} must be {{'url': 'http://...', 'token': ...}}, got {target!r}")
        targets[credential] = {k: str(v) for k, v in target.items() if k in ("url", "token") and v}
    return targets


def _attempts(value: Any) -> int:
    number = _number("push_attempts", value)
    if not number.is_integer() or number < 1:
        raise ValueError(f"push_attempts must be a whole number >= 1, got {value!r}")
    return int(number)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "push": _push,
    "push_attempts": _attempts,
    "rate_limits": _rate_limits,
    "refusals": _refusals,
    "daily_send_limit": _daily_send_limit,
    "retry_after": bool,
    "seed": _seed,
}
