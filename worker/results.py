"""What the engine answers each task: typed results, each of which knows its task's JSON
summary (the task's result, as Flower and the worker's log show it; its keys are part of
the contract) and, for a check to re-send, the task message.

A check: ``Applied | BackedOff | Deferred | Requeue | Skipped | Raised``; a chunk's or a
gang's checks: ``Checked``. Intake: ``Accepted | Rejected``, ``Untracked``, ``Bulk``. A
batch sync: ``Synced | SyncSkipped | SyncFailed``, its fan-out ``FannedOut``; housekeeping:
``Upkeep``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.messages import TaskCall
from worker.states import Outcome, State

# -- a check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """The gateway's answer was written to the tracker."""

    tracker: str
    state: State | None
    outcome: Outcome | None
    changed: bool

    def summary(self) -> dict[str, Any]:
        return _written(self.tracker, self.state, self.outcome, self.changed)


@dataclass(frozen=True)
class BackedOff:
    """No answer (an error, kept on the tracker): the next check comes ``backoff_s`` later,
    longer after each error in a row."""

    tracker: str
    state: State | None
    outcome: Outcome | None
    changed: bool
    backoff_s: float

    def summary(self) -> dict[str, Any]:
        return {
            **_written(self.tracker, self.state, self.outcome, self.changed),
            "deferred_s": round(self.backoff_s, 3),
        }


@dataclass(frozen=True)
class Deferred:
    """Not checked (the limiter said not now, or the credential cools down or is paused):
    back on the schedule ``deferred_s`` from now; ``outcome`` as the store left it."""

    tracker: str
    deferred_s: float
    reason: str
    outcome: str

    def summary(self) -> dict[str, Any]:
        return {"tracker": self.tracker, "deferred_s": round(self.deferred_s, 3), "reason": self.reason,
                "outcome": self.outcome}  # fmt: skip


@dataclass(frozen=True)
class Requeue:
    """The limiter said "in a few ms": the same check is sent again with that countdown
    (``requeued`` times so far), keeping its planned slot (0: none)."""

    tracker: str
    after_s: float
    requeued: int
    slot_us: int

    def summary(self) -> dict[str, Any]:
        return {"tracker": self.tracker, "requeue_s": self.after_s, "requeued": self.requeued, "slot_us": self.slot_us}

    def task_call(self, expires_s: float) -> TaskCall:
        """The ``statuswatch.check`` message that checks again."""
        kwargs: dict[str, Any] = {"requeued": self.requeued, **({"slot": self.slot_us} if self.slot_us else {})}
        return TaskCall((self.tracker,), kwargs, self.after_s, expires_s)


@dataclass(frozen=True)
class Skipped:
    """Nothing to check: the tracker is ``gone``, or has ended (its outcome)."""

    tracker: str
    why: str

    def summary(self) -> dict[str, Any]:
        return {"tracker": self.tracker, "skipped": self.why}


@dataclass(frozen=True)
class Raised:
    """One check of a chunk or gang raised (logged); its lease brings the tracker back."""

    tracker: str

    def summary(self) -> dict[str, Any]:
        return {"tracker": self.tracker, "error": True}


CheckResult = Applied | BackedOff | Deferred | Requeue | Skipped | Raised
#: a check that wrote to its tracker
Written = Applied | BackedOff


@dataclass(frozen=True)
class Checked:
    """The checks of one task message with several trackers (a chunk or a gang)."""

    results: Sequence[CheckResult]

    def summary(self) -> dict[str, Any]:
        # (a deferral can find its tracker settled: another check got there first)
        settled = sum(1 for r in self.results if isinstance(r, Written | Deferred) and r.outcome == Outcome.SETTLED)
        requeued = sum(1 for r in self.results if isinstance(r, Requeue))
        return {"checked": len(self.results), "settled": settled, "requeued": requeued}


def _written(tracker: str, state: State | None, outcome: Outcome | None, changed: bool) -> dict[str, Any]:
    return {"tracker": tracker, "state": state.value if state else None,
            "outcome": outcome.value if outcome else None, "changed": changed}  # fmt: skip


# -- intake ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """A track request registered: ``status`` says what the store did."""

    tracker: str
    status: str
    outcome: Outcome

    def summary(self) -> dict[str, Any]:
        return {"accepted": True, "tracker": self.tracker, "status": self.status, "outcome": self.outcome.value}


@dataclass(frozen=True)
class Rejected:
    """A request refused (and recorded) for ``reason``."""

    reason: str

    def summary(self) -> dict[str, Any]:
        return {"accepted": False, "reason": self.reason}


@dataclass(frozen=True)
class Untracked:
    """An untrack request done: ``status`` cancelled, finished (already) or gone."""

    tracker: str
    status: str
    outcome: Outcome

    def summary(self) -> dict[str, Any]:
        return {"tracker": self.tracker, "status": self.status, "outcome": self.outcome.value}


@dataclass(frozen=True)
class Bulk:
    """A ``track_many``: how many items, accepted and rejected, and the store's statuses of
    the accepted; ``reason`` where the message as a whole was refused."""

    items: int
    accepted: int
    rejected: int
    statuses: Mapping[str, int] = field(default_factory=dict)
    reason: str = ""

    def summary(self) -> dict[str, Any]:
        counts = {"items": self.items, "accepted": self.accepted, "rejected": self.rejected}
        return {**counts, "reason": self.reason} if self.reason else {**counts, **self.statuses}


# -- batch sync and housekeeping -------------------------------------------------------------


@dataclass(frozen=True)
class Synced:
    """A batch answer applied: messages seen, trackers they applied to, trackers ended."""

    account: str
    seen: int
    applied: int
    finished: int

    def summary(self) -> dict[str, Any]:
        return {"account": self.account, "seen": self.seen, "applied": self.applied, "finished": self.finished}


@dataclass(frozen=True)
class SyncSkipped:
    """No batch request: ``reason`` (with the credential's cool-down or pause, in seconds)."""

    account: str
    reason: str
    for_s: float | None = None

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {"account": self.account, "skipped": self.reason}
        if self.for_s is not None:
            summary[f"{self.reason}_s"] = self.for_s
        return summary


@dataclass(frozen=True)
class SyncFailed:
    """The batch request failed with ``error``; the trackers' own checks go on."""

    account: str
    error: str

    def summary(self) -> dict[str, Any]:
        return {"account": self.account, "error": self.error}


SyncResult = Synced | SyncSkipped | SyncFailed


@dataclass(frozen=True)
class FannedOut:
    """One sync task sent per account with a batch method."""

    accounts: list[str]

    def summary(self) -> dict[str, Any]:
        return {"accounts": self.accounts}


@dataclass(frozen=True)
class Upkeep:
    """One housekeeping pass: schedules pruned and repaired, the rollup entry written (None:
    not this period), misrouted tasks found (None: the broker could not be read)."""

    pruned: int
    repaired: int
    rollup: str | None
    misrouted: int | None

    def summary(self) -> dict[str, Any]:
        return {"pruned": self.pruned, "repaired": self.repaired, "rollup": self.rollup, "misrouted": self.misrouted}
