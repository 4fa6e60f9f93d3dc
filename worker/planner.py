"""The dispatch planner, pure: how many of a credential's due trackers to claim, and how to
send the claimed ones as check orders (single checks in their slots, chunks, gangs).

Nothing here reads a clock or Redis: the dispatcher passes the time, the limiter's plan and
the gateway's latency in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from worker.messages import TaskCall, countdown
from worker.ratelimit import Plan

#: how many dispatch intervals ahead a credential's checks are planned
PLAN_HORIZON = 2
#: Chunks: where a credential's limit leaves its planned checks at most CHUNK_SPACING_S
#: apart and this process has seen its gateway answer fast, the dispatcher sends several of
#: them as one task message, run one after another (each still takes a limiter token), as
#: many as fit in CHUNK_BUDGET_S and at most CHUNK_MAX. A chunk thus holds one thread for a
#: few tens of ms and saves a Celery task per check; slow gateways or tight limits get one
#: check per task, as no sequence of them could keep to its slots.
CHUNK_SPACING_S = 0.002
CHUNK_BUDGET_S = 0.05
CHUNK_MAX = 10
#: Gangs: single planned checks of different credentials whose slots lie within
#: GANG_WINDOW_S of the first go out as one task message, at most GANG_MAX of them, and run
#: side by side on threads of their own, each starting at its own slot. Under a tight limit
#: (one check per slot) a fleet of many credentials thus pays Celery's cost of a task
#: (publish, receive, acknowledge) once per gang instead of once per check. A gang holds
#: one check per credential, and its task runs for the window plus its slowest check.
GANG_WINDOW_S = 0.04
GANG_MAX = 16
#: the time a check takes besides the gateway's answer (store and limiter round trips)
CHECK_OVERHEAD_S = 0.002
#: where chunks could apply but nobody has measured the gateway yet, a dispatch sends only
#: this many checks of the credential (one per task), and the next one knows the latency
PROBE_CHECKS = 20


class CheckOrder(NamedTuple):
    """One check task for the dispatcher to send: its trackers (one, a chunk or a gang), its
    start (seconds from now); for a single planned check its limiter slot (epoch µs; 0:
    none) and its credential; for a gang, each tracker's slot."""

    trackers: list[str]
    start_s: float
    slot_us: int = 0
    credential: str = ""
    slots: list[int] | None = None

    def task_call(self, expires_s: float) -> TaskCall:
        """The ``statuswatch.check`` message of this order: a countdown under one dispatch
        interval spaces a credential's checks; one older than its lease (``expires_s``) is
        pointless, the lease having brought its trackers back."""
        tracker: str | list[str] = self.trackers[0] if len(self.trackers) == 1 else self.trackers
        kwargs: dict[str, Any] = {"slot": self.slot_us} if self.slot_us else {}
        if self.slots:
            kwargs["slots"] = self.slots
        return TaskCall((tracker,), kwargs, countdown(self.start_s), expires_s)


class Budget(NamedTuple):
    """How many due trackers of a credential one dispatch claims, and at most how many of
    its claims may wait for their check at once."""

    claims: int
    max_inflight: int


def chunks_apply(spacing_s: float) -> bool:
    """Whether a credential's checks are planned close enough together to share tasks."""
    return spacing_s <= CHUNK_SPACING_S


def budget(spacing_s: float, dispatch_every_s: float, planned_ahead_s: float, latency_s: float | None) -> Budget:
    """The claims of a credential whose checks are ``spacing_s`` apart, already planned
    ``planned_ahead_s`` ahead: the free slots up to PLAN_HORIZON dispatch intervals ahead
    (only PROBE_CHECKS where chunks apply and the gateway's ``latency_s`` is unknown). At
    most a horizon's worth of checks wait to run: when workers fall behind, the dispatcher
    stops handing out more instead of feeding a backlog."""
    horizon_s = PLAN_HORIZON * dispatch_every_s
    claims = max(0, math.floor((horizon_s - planned_ahead_s) / spacing_s))
    if chunks_apply(spacing_s) and latency_s is None:
        claims = min(claims, PROBE_CHECKS)
    return Budget(claims, max(1, math.ceil(horizon_s / spacing_s)))


def chunk_size(latency_s: float | None, spacing_s: float) -> int:
    """How many of a credential's planned checks one task runs, one after another."""
    if latency_s is None or spacing_s > CHUNK_SPACING_S:
        return 1
    return max(1, min(CHUNK_MAX, int(CHUNK_BUDGET_S / (latency_s + CHECK_OVERHEAD_S))))


def orders(claimed: Sequence[str], plan: Plan, size: int, credential: str, now: float) -> list[CheckOrder]:
    """The claimed trackers in their planned slots, ``size`` to a task, starting at ``now``
    plus their plan's offset (on the caller's clock): a single check carries its slot to
    the limiter, a chunk's checks take the grid."""
    return [
        CheckOrder(list(claimed[i : i + size]), now + plan.start_s(i), plan.slot_us(i) if size == 1 else 0, credential)
        for i in range(0, len(claimed), size)
    ]


def from_now(planned: Sequence[CheckOrder], now: float) -> list[CheckOrder]:
    """Orders planned on a clock, their starts made seconds after ``now`` (0: at once)."""
    return [order._replace(start_s=max(0.0, order.start_s - now)) for order in planned]


def gangs(orders: list[CheckOrder]) -> list[CheckOrder]:
    """Join single planned checks of different credentials due within GANG_WINDOW_S of each
    other into gangs (see GANG_*); chunks and unplanned checks stay as they are."""

    def joins(order: CheckOrder) -> bool:
        return len(order.trackers) == 1 and bool(order.slot_us) and bool(order.credential)

    out = [o for o in orders if not joins(o)]
    pending = sorted(filter(joins, orders), key=lambda o: o.slot_us)
    while pending:
        members, pending = _gang(pending)
        if len(members) == 1:
            out.append(members[0])
        else:
            trackers = [o.trackers[0] for o in members]
            out.append(CheckOrder(trackers, members[0].start_s, slots=[o.slot_us for o in members]))
    return out


def _gang(pending: list[CheckOrder]) -> tuple[list[CheckOrder], list[CheckOrder]]:
    """The first gang of ``pending`` (in slot order), and the orders left for later gangs."""
    first, later = pending[0], []
    members, credentials = [first], {first.credential}
    for i, order in enumerate(pending[1:], 1):
        if order.slot_us - first.slot_us > GANG_WINDOW_S * 1e6:
            later += pending[i:]
            break
        if order.credential in credentials or len(members) == GANG_MAX:
            later.append(order)  # the credential's next slot, or a full gang: a later gang
        else:
            members.append(order)
            credentials.add(order.credential)
    return members, later
