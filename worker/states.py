"""Canonical delivery states, their order, and the rules that merge and settle them.

Pure: no I/O. ``worker/lua/_states.lua`` repeats the order and the terminal set for the
atomic merge in Redis; ``tests/unit/test_states.py`` proves the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Where a message is, as far as its gateway can tell."""

    PENDING = "pending"  #: queued at the gateway, not yet sent
    SENT = "sent"  #: handed to the messenger (one tick)
    DELIVERED = "delivered"  #: reached the recipient's device (two ticks)
    READ = "read"  #: read, seen or heard
    FAILED = "failed"  #: will never be delivered (raw value says why)
    DELETED = "deleted"  #: deleted
    CANCELLED = "cancelled"  #: cancelled before it was sent
    EXPIRED = "expired"  #: the gateway gave up sending it


class Outcome(StrEnum):
    """What became of the tracker, apart from the message's state."""

    ACTIVE = "active"  #: still being checked
    SETTLED = "settled"  #: reached its target, or a terminal failure
    TIMED_OUT = "timed_out"  #: its deadline passed first; the state stays the last seen
    CANCELLED = "cancelled"  #: a producer untracked it; the state stays the last seen


#: progress states, in order; a state never moves backwards along this line
PROGRESS: tuple[State, ...] = (State.PENDING, State.SENT, State.DELIVERED, State.READ)
#: states after which nothing more will happen
TERMINAL: frozenset[State] = frozenset({State.FAILED, State.DELETED, State.CANCELLED, State.EXPIRED})
#: what a producer may ask to wait for
TARGETS: tuple[State, ...] = (State.DELIVERED, State.READ)

_RANK = {state: rank for rank, state in enumerate(PROGRESS)}


def rank(state: State) -> int:
    """Position on the progress line; terminal failures rank above everything."""
    return _RANK.get(state, len(PROGRESS))


def merge(current: State, observed: State | None) -> State:
    """The state after seeing ``observed``: monotonic, terminal states freeze.

    ``None`` (a raw value we could not map) keeps the current state.
    """
    if observed is None or current in TERMINAL:
        return current
    if observed in TERMINAL:
        return observed
    return observed if rank(observed) > rank(current) else current


def target(until: State, ceiling: State) -> State:
    """The state that settles a tracker: ``until``, capped by what the provider can report."""
    return until if rank(until) <= rank(ceiling) else ceiling


def is_settled(state: State, until: State, ceiling: State) -> bool:
    """True when the tracker has nothing more to wait for."""
    return state in TERMINAL or rank(state) >= rank(target(until, ceiling))


@dataclass(frozen=True)
class Observation:
    """What one look at the gateway said about one message."""

    #: canonical state, or None when the raw value has no mapping (kept raw, logged once)
    state: State | None
    #: the value exactly as the gateway said it
    raw: str
    #: per-recipient states where the gateway gives them (GREEN-API Status posts)
    detail: Mapping[str, str] | None = None
    #: the gateway's own time of the last change, epoch seconds, when it says one
    provider_ts: float | None = None
