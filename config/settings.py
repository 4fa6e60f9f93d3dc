"""Settings read from ``STATUSWATCH_*`` environment variables, validated once at start-up.

Every duration is in seconds (``_s``) and may be fractional, so tests can shrink leases,
deadlines and polling intervals to fractions of a second.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from config.accounts import Rate, parse_rate
from config.errors import ConfigError
from config.gateways import GATEWAYS
from config.push import PushSettings, load_push

PREFIX = "STATUSWATCH_"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: the webhook signing keys, current first (read as they are: a secret's spaces are its own)
SECRET_VARIABLES = ("CALLBACK_SECRET", "CALLBACK_SECRET_PREVIOUS")


@dataclass(frozen=True)
class PollPolicy:
    """How often a tracker is checked: ``first_s``, then times ``factor`` up to ``max_s``."""

    first_s: float = 2.0
    factor: float = 2.0
    max_s: float = 300.0
    #: fraction of each interval drawn at random, so trackers tracked together drift apart
    jitter: float = 0.1


@dataclass(frozen=True)
class Settings:
    """Everything the worker, the producers and the CLI need to know about their world."""

    redis_url: str = DEFAULT_REDIS_URL
    broker_url: str = DEFAULT_REDIS_URL
    accounts_file: Path | None = None
    #: prefix of every Redis key statuswatch writes
    namespace: str = "statuswatch"
    #: prefix of every key of a Redis broker (kombu ``global_keyprefix``); "" for none
    broker_key_prefix: str = ""
    #: Redis broker: a message a worker took and never acknowledged (it was killed) is
    #: redelivered after this long; longer than any countdown statuswatch uses (a few s)
    #: and any task's run (a check: the HTTP timeout and ~1 s of retries)
    broker_visibility_timeout_s: float = 120.0
    #: tracking deadline when the producer gives none
    default_expires_s: float = 2 * 24 * 3600.0
    #: how long a claimed tracker stays claimed before it comes due again by itself
    lease_s: float = 60.0
    poll: PollPolicy = field(default_factory=PollPolicy)
    poll_by_provider: Mapping[str, PollPolicy] = field(default_factory=dict)
    #: how long settled and timed-out trackers are kept for ``status`` before they expire
    retention_s: float = 7 * 24 * 3600.0
    #: how long "message not found" is retried before the tracker settles as failed
    not_found_grace_s: float = 120.0
    #: how often beat runs the dispatcher
    dispatch_every_s: float = 1.0
    #: how often beat asks each account with a batch method for its recent messages
    sync_every_s: float = 10.0
    #: how often beat runs housekeeping (empty account schedules, the counters' rollup)
    housekeeping_every_s: float = 60.0
    #: how far back a batch request looks (GREEN-API ``minutes``; WAMM always gives 100)
    sync_window_s: float = 24 * 3600.0
    #: how many due trackers one dispatch claims per round trip
    dispatch_batch: int = 500
    #: how long one dispatch task keeps claiming before it leaves the rest to the next
    dispatch_budget_s: float = 0.8
    #: approximate bound of the events stream (XADD MAXLEN ~)
    events_maxlen: int = 100_000
    #: the most one gateway request may take: each socket read, and the whole exchange
    http_timeout_s: float = 10.0
    #: the largest gateway answer read, after decompression (a larger one is a transient
    #: error). WAMM's msg_get_last is the largest legitimate one: 100 messages of up to 4,500
    #: characters, which JSON may escape to 6 bytes each (\uXXXX), about 2.8 MB at most
    http_max_body_bytes: int = 4 * 1024 * 1024
    #: backoff of a tracker whose check failed for a transient reason
    error_backoff_s: float = 5.0
    #: limit of a credential whose account and gateway name none (WAMM, WBizTool document none)
    default_rate_limit: Rate = field(default_factory=lambda: Rate(5, 1))
    #: fleet-wide cool-down after a 429 that gave no Retry-After
    rate_cooldown_s: float = 2.0
    #: the longest cool-down a 429's Retry-After may set: a gateway's word, not an order
    #: (99999999999 s would park a credential for 3,170 years)
    max_retry_after_s: float = 3600.0
    #: how long an account is paused after an account-level error (bad token, not authorized)
    account_pause_s: float = 300.0
    #: queues where misrouted statuswatch tasks are looked for (besides, on a Redis broker,
    #: every queue kombu has bound); statuswatch never consumes them
    watch_queues: tuple[str, ...] = ("celery",)
    #: HMAC-SHA256 keys that sign webhooks, the current one first (a second one while it is
    #: rotated); never printed (``repr``), masked in every log line and stored error
    callback_secrets: tuple[str, ...] = field(default=(), repr=False)
    #: networks a callback URL may resolve to although they are not public (loopback,
    #: private, link-local, metadata addresses are refused otherwise): for local use
    callback_allow_networks: tuple[str, ...] = ()
    #: how often beat looks for due deliveries
    notify_every_s: float = 1.0
    #: how long an event's delivery is retried, from the event's observed_at, before it is given up on
    notify_retry_s: float = 24 * 3600.0
    #: first retry delay of a failed delivery, doubled at each attempt, with jitter
    notify_backoff_s: float = 1.0
    #: the longest delay between two attempts (a Retry-After is clamped to it too)
    notify_max_backoff_s: float = 600.0
    #: a webhook's connect, send and answer, in all
    notify_timeout_s: float = 10.0
    #: deliveries under way to one callback host (scheme, host and port) at once, fleet-wide
    notify_url_concurrency: int = 4
    #: deliveries started to one callback host per period, fleet-wide
    notify_url_rate: Rate = field(default_factory=lambda: Rate(50, 1))
    #: push ingestion: the webhook receiver, early pushes, polling's back-off (config/push.py)
    push: PushSettings = field(default_factory=PushSettings)

    def poll_for(self, provider: str) -> PollPolicy:
        """The polling policy of one provider (its override or the default)."""
        return self.poll_by_provider.get(provider, self.poll)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment.

    Raises:
        ConfigError: a variable is malformed; the message names it.
    """
    env = os.environ if environ is None else environ
    reader = _Reader(env)
    redis_url = reader.url("REDIS_URL", DEFAULT_REDIS_URL)
    accounts = reader.text("ACCOUNTS_FILE", "")
    poll = _poll_policy(reader, "POLL_", PollPolicy())
    by_provider = {name: _poll_policy(reader, f"{name.upper()}_POLL_", poll) for name in GATEWAYS}
    namespace = reader.text("NAMESPACE", "statuswatch")
    if not namespace or any(c.isspace() for c in namespace):
        raise ConfigError(f"{PREFIX}NAMESPACE: must be a non-empty word, got {namespace!r}")
    defaults = Settings()
    return Settings(
        redis_url=redis_url,
        broker_url=reader.url("BROKER_URL", redis_url),
        broker_key_prefix=reader.text("BROKER_KEY_PREFIX", ""),
        broker_visibility_timeout_s=reader.seconds("BROKER_VISIBILITY_TIMEOUT_S", defaults.broker_visibility_timeout_s),
        accounts_file=Path(accounts) if accounts else None,
        namespace=namespace,
        default_expires_s=reader.seconds("DEFAULT_EXPIRES_S", defaults.default_expires_s),
        lease_s=reader.seconds("LEASE_S", defaults.lease_s),
        poll=poll,
        poll_by_provider={k: v for k, v in by_provider.items() if v != poll},
        retention_s=reader.seconds("RETENTION_S", defaults.retention_s),
        not_found_grace_s=reader.seconds("NOT_FOUND_GRACE_S", defaults.not_found_grace_s, zero=True),
        dispatch_every_s=reader.seconds("DISPATCH_EVERY_S", defaults.dispatch_every_s),
        sync_every_s=reader.seconds("SYNC_EVERY_S", defaults.sync_every_s),
        sync_window_s=reader.seconds("SYNC_WINDOW_S", defaults.sync_window_s),
        housekeeping_every_s=reader.seconds("HOUSEKEEPING_EVERY_S", defaults.housekeeping_every_s),
        dispatch_batch=reader.count("DISPATCH_BATCH", defaults.dispatch_batch),
        dispatch_budget_s=reader.seconds("DISPATCH_BUDGET_S", defaults.dispatch_budget_s),
        events_maxlen=reader.count("EVENTS_MAXLEN", defaults.events_maxlen),
        http_timeout_s=reader.seconds("HTTP_TIMEOUT_S", defaults.http_timeout_s),
        http_max_body_bytes=reader.count("HTTP_MAX_BODY_BYTES", defaults.http_max_body_bytes),
        error_backoff_s=reader.seconds("ERROR_BACKOFF_S", defaults.error_backoff_s),
        default_rate_limit=parse_rate(
            reader.text("DEFAULT_RATE_LIMIT", str(defaults.default_rate_limit)), f"{PREFIX}DEFAULT_RATE_LIMIT"
        ),
        rate_cooldown_s=reader.seconds("RATE_COOLDOWN_S", defaults.rate_cooldown_s),
        max_retry_after_s=reader.seconds("MAX_RETRY_AFTER_S", defaults.max_retry_after_s),
        account_pause_s=reader.seconds("ACCOUNT_PAUSE_S", defaults.account_pause_s),
        watch_queues=tuple(q.strip() for q in reader.text("WATCH_QUEUES", "celery").split(",") if q.strip()),
        callback_secrets=tuple(filter(None, (env.get(PREFIX + n, "") for n in SECRET_VARIABLES))),
        callback_allow_networks=_networks(reader.text("CALLBACK_ALLOW_NETWORKS", "")),
        notify_every_s=reader.seconds("NOTIFY_EVERY_S", defaults.notify_every_s),
        notify_retry_s=reader.seconds("NOTIFY_RETRY_S", defaults.notify_retry_s),
        notify_backoff_s=reader.seconds("NOTIFY_BACKOFF_S", defaults.notify_backoff_s),
        notify_max_backoff_s=reader.seconds("NOTIFY_MAX_BACKOFF_S", defaults.notify_max_backoff_s),
        notify_timeout_s=reader.seconds("NOTIFY_TIMEOUT_S", defaults.notify_timeout_s),
        notify_url_concurrency=reader.count("NOTIFY_URL_CONCURRENCY", defaults.notify_url_concurrency),
        notify_url_rate=parse_rate(
            reader.text("NOTIFY_URL_RATE", str(defaults.notify_url_rate)), f"{PREFIX}NOTIFY_URL_RATE"
        ),
        push=load_push(reader),
    )


def _networks(text: str) -> tuple[str, ...]:
    """``STATUSWATCH_CALLBACK_ALLOW_NETWORKS``: comma-separated networks (``127.0.0.0/8``) or addresses."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"{PREFIX}CALLBACK_ALLOW_NETWORKS: {item!r} is no network like '127.0.0.0/8'") from None
    return tuple(networks)


def _poll_policy(reader: _Reader, infix: str, base: PollPolicy) -> PollPolicy:
    policy = PollPolicy(
        first_s=reader.seconds(f"{infix}FIRST_S", base.first_s, zero=True),
        factor=reader.number(f"{infix}FACTOR", base.factor, minimum=1.0),
        max_s=reader.seconds(f"{infix}MAX_S", base.max_s),
        jitter=reader.number(f"{infix}JITTER", base.jitter, minimum=0.0, maximum=1.0),
    )
    if policy.max_s < policy.first_s:
        raise ConfigError(
            f"{PREFIX}{infix}MAX_S: must be at least {PREFIX}{infix}FIRST_S ({policy.first_s}), got {policy.max_s}"
        )
    return policy


class _Reader:
    """Reads one kind of value per call and names the variable in every error."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str) -> str:
        return self.env.get(PREFIX + name, default).strip()

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if "://" not in value:
            raise ConfigError(f"{PREFIX}{name}: expected a URL like {default!r}, got {value!r}")
        return value

    def number(self, name: str, default: float, minimum: float | None = None, maximum: float | None = None) -> float:
        raw = self.env.get(PREFIX + name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name}: expected a number, got {raw!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{PREFIX}{name}: expected a finite number, got {raw!r}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{PREFIX}{name}: must be at least {minimum}, got {raw!r}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{PREFIX}{name}: must be at most {maximum}, got {raw!r}")
        return value

    def seconds(self, name: str, default: float, zero: bool = False) -> float:
        value = self.number(name, default, minimum=0.0)
        if value == 0 and not zero:
            raise ConfigError(f"{PREFIX}{name}: must be a positive number of seconds, got 0")
        return value

    def count(self, name: str, default: int) -> int:
        raw = self.env.get(PREFIX + name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name}: expected a whole number, got {raw!r}") from None
        if value < 1:
            raise ConfigError(f"{PREFIX}{name}: must be at least 1, got {raw!r}")
        return value
