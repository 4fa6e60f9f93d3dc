"""The Lua scripts (``worker/lua/``) and the names of their arguments, each given once.

Every script has a ``Script`` here: a NamedTuple of its KEYS and one of its ARGV, fields in
the order the script reads them. Callers build both by name and ``Loaded`` flattens them,
so no call site counts positions. A field typed ``tuple[...]`` stands for a run of values
(the script reads it by a computed index). ``tests/unit/test_scripts.py`` holds each
definition against the script's header comment (``-- KEYS[n] name ...``, ``-- ARGV[n] ...``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from worker.notify.scripts import (
    NotifyBeginArgs,
    NotifyBeginKeys,
    NotifyClaimArgs,
    NotifyClaimKeys,
    NotifyDoneArgs,
    NotifyDoneKeys,
    NotifyRenewKeys,
    NotifySlotArgs,
    NotifySlotKeys,
)
from worker.push.scripts import ReviveArgs, ReviveKeys


class ScriptRunner(Protocol):
    def __call__(self, keys: Sequence[str], args: Sequence[Any], client: Any = None) -> Any: ...


def with_prelude(body: str) -> str:
    """A script's source as Redis runs it: the shared prelude (``_states.lua``), then ``body``."""
    prelude = (resources.files("worker") / "lua" / "_states.lua").read_text(encoding="utf-8")
    return prelude + "\n" + body


def load_script(redis: Any, name: str) -> ScriptRunner:
    """Register ``worker/lua/<name>.lua`` (after the shared prelude) with the client."""
    body = (resources.files("worker") / "lua" / f"{name}.lua").read_text(encoding="utf-8")
    script: ScriptRunner = redis.register_script(with_prelude(body))
    return script


def ms(seconds: float) -> int:
    """A duration as the scripts take it: whole milliseconds, rounded up, never negative."""
    return max(0, math.ceil(seconds * 1000))


K = TypeVar("K", bound=tuple[Any, ...])
A = TypeVar("A", bound=tuple[Any, ...])


def flatten(values: tuple[Any, ...]) -> list[Any]:
    """A definition's values in script order, a ``tuple`` field's items in its place."""
    return [item for value in values for item in (value if isinstance(value, tuple) else (value,))]


class Loaded(Generic[K, A]):
    """A script registered with a client, called with its two definitions."""

    def __init__(self, runner: ScriptRunner) -> None:
        self._runner = runner

    def __call__(self, keys: K, args: A, client: Any = None) -> Any:
        return self._runner(flatten(keys), flatten(args), client=client)


@dataclass(frozen=True)
class Script(Generic[K, A]):
    """``worker/lua/<name>.lua`` and the NamedTuples of its KEYS and ARGV."""

    name: str
    keys: type[K]
    args: type[A]

    def load(self, redis: Any) -> Loaded[K, A]:
        return Loaded(load_script(redis, self.name))


class TrackerKeys(NamedTuple):
    """The nine keys of register, untrack, observe and defer (the prelude type-checks them)."""

    tracker: str
    due: str
    active: str
    events: str
    stats: str
    inflight: str
    outbox: str  #: the tracker's events to deliver to its callback
    notify: str  #: the delivery schedule
    since: str  #: the undelivered events' ages


class ObserveKeys(NamedTuple):  #: a tracker's nine keys and push ingestion's three
    tracker: str
    due: str
    active: str
    events: str
    stats: str
    inflight: str
    outbox: str
    notify: str
    since: str
    early: str  #: pushes that came before their track request
    early_at: str  #: their ages
    pushed: str  #: each pushing account's last push


class RegisterArgs(NamedTuple):
    tracker_id: str
    until: str
    expires_in_ms: int
    first_delay_ms: int
    ceiling: str
    retention_ms: int
    events_maxlen: int
    outbox_ttl_ms: int  #: the outbox expires this long after its last event
    outbox_max: int  #: events an outbox holds at most
    live_ms: int  #: an account that pushed within this long counts as pushing (0: never)
    safety_ms: int  #: the earliest first check of a pushing account's new tracker
    fields: tuple[str, ...]  #: field, value, field, value...


class UntrackArgs(NamedTuple):
    tracker_id: str
    retention_ms: int
    events_maxlen: int
    outbox_ttl_ms: int
    outbox_max: int


class ObserveArgs(NamedTuple):
    tracker_id: str
    observed: str  #: canonical state, '' when the raw value has no mapping
    raw_state: str
    has_observation: str  #: "1" or "0"
    ceiling: str
    next_delay_ms: int
    retention_ms: int
    events_maxlen: int
    error: str
    not_found: str  #: "1" or "0"
    not_found_grace_ms: int
    detail: str  #: JSON or ''
    counts: str  #: ``worker.tally.encode``
    provider_ts: str = ""  #: the gateway's time of the change, epoch seconds; '' for none
    outbox_ttl_ms: int = 0  #: the outbox expires this long after its last event
    outbox_max: int = 0  #: events an outbox holds at most
    source: str = "poll"  #: "poll" or "push"
    reason: str = ""  #: why a push ended the message
    early_ms: int = 0
    early_max: int = 0
    live_ms: int = 0
    safety_ms: int = 0


class DeferArgs(NamedTuple):
    tracker_id: str
    delay_ms: int
    reason: str
    retention_ms: int
    events_maxlen: int
    counts: str
    outbox_ttl_ms: int
    outbox_max: int


class ClaimKeys(NamedTuple):
    due: str
    inflight: str


class ClaimArgs(NamedTuple):
    limit: int
    lease_ms: int
    max_inflight: int  #: -1: no cap


class ExpireKeys(NamedTuple):
    due: str
    inflight: str
    active: str
    events: str
    stats: str
    notify: str
    since: str
    trackers: tuple[str, ...]  #: per tracker: its hash, its outbox


class ExpireArgs(NamedTuple):
    retention_ms: int
    events_maxlen: int
    lease_ms: int
    outbox_ttl_ms: int
    outbox_max: int
    tracker_ids: tuple[str, ...]  #: in the order of ``ExpireKeys.trackers``


class PruneKeys(NamedTuple):
    active: str
    due: str
    inflight: str


class PruneArgs(NamedTuple):
    group: str


class RollupKeys(NamedTuple):
    stats: str
    rollup: str
    rollup_period: str


class RollupArgs(NamedTuple):
    period_ms: int
    maxlen: int


class PlanKeys(NamedTuple):
    plan: str


class PlanArgs(NamedTuple):
    spacing_us: int
    slots: int


class AcquireKeys(NamedTuple):
    pause: str
    cooldown: str
    buckets: tuple[str, ...]  #: per bucket: its rate key, its grants key


class AcquireArgs(NamedTuple):
    buckets: tuple[int, ...]  #: per bucket: K, W, T, early, late
    slot_us: int  #: the planned slot, epoch µs; 0: not planned


REGISTER = Script("register", ObserveKeys, RegisterArgs)
UNTRACK = Script("untrack", TrackerKeys, UntrackArgs)
OBSERVE = Script("observe", ObserveKeys, ObserveArgs)
DEFER = Script("defer", TrackerKeys, DeferArgs)
CLAIM = Script("claim", ClaimKeys, ClaimArgs)
EXPIRE = Script("expire", ExpireKeys, ExpireArgs)
PRUNE = Script("prune", PruneKeys, PruneArgs)
ROLLUP = Script("rollup", RollupKeys, RollupArgs)
PLAN = Script("plan", PlanKeys, PlanArgs)
ACQUIRE = Script("acquire", AcquireKeys, AcquireArgs)
NOTIFY_CLAIM = Script("notify_claim", NotifyClaimKeys, NotifyClaimArgs)
NOTIFY_BEGIN = Script("notify_begin", NotifyBeginKeys, NotifyBeginArgs)
NOTIFY_SLOT = Script("notify_slot", NotifySlotKeys, NotifySlotArgs)
NOTIFY_DONE = Script("notify_done", NotifyDoneKeys, NotifyDoneArgs)
NOTIFY_RENEW = Script("notify_renew", NotifyRenewKeys, NotifyBeginArgs)  # the same three arguments
REVIVE = Script("revive", ReviveKeys, ReviveArgs)

#: every script in worker/lua/ but the prelude
SCRIPTS: tuple[Script[Any, Any], ...] = (
    REGISTER, UNTRACK, OBSERVE, DEFER, CLAIM, EXPIRE, PRUNE, ROLLUP, PLAN, ACQUIRE,
    NOTIFY_CLAIM, NOTIFY_BEGIN, NOTIFY_SLOT, NOTIFY_DONE, NOTIFY_RENEW, REVIVE,
)  # fmt: skip
