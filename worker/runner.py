"""One check task's trackers: a single check, a chunk (one after another) or a gang (side by
side, each from its slot). A check of a chunk or gang that raises does not hold the others
back a lease; a check to re-send goes out at once, not after its task's last check."""

from __future__ import annotations

import logging
from collections.abc import Callable

from worker.check import Checker
from worker.gang import Gang
from worker.messages import TaskCall
from worker.results import Checked, CheckResult, Raised, Requeue

log = logging.getLogger("statuswatch")

Resend = Callable[[TaskCall], None]


class CheckRunner:
    def __init__(self, checker: Checker, gang: Gang, lease_s: float) -> None:
        self.checker = checker
        self.gang = gang
        #: a re-sent check older than this is pointless: the lease has brought it back
        self.lease_s = lease_s

    def run(
        self, tracker: str | list[str], requeued: int, slot: int, slots: list[int] | None, resend: Resend
    ) -> CheckResult | Checked:
        """The check of ``tracker``; given a list, with ``slots`` (one per tracker) a gang,
        without a chunk. Each ``Requeue`` goes to ``resend`` as its task message.

        Raises:
            ValueError: a gang whose slots do not match its trackers.
        """
        if not isinstance(tracker, list):
            return self._one(tracker, requeued, slot, resend)
        if slots is not None:
            results = self.gang.run(tracker, slots, lambda tid, s: self._guarded(tid, s, resend))
        else:
            results = [self._guarded(tid, 0, resend) for tid in tracker]
        return Checked(results)

    def _guarded(self, tid: str, slot: int, resend: Resend) -> CheckResult:
        try:
            return self._one(tid, 0, slot, resend)
        except Exception:
            log.exception("check of %s failed; its lease brings it back", tid)
            return Raised(tid)

    def _one(self, tid: str, requeued: int, slot: int, resend: Resend) -> CheckResult:
        result = self.checker.check(tid, requeued, slot)
        if isinstance(result, Requeue):  # "in a few ms": go again then, never sleep here
            resend(result.task_call(self.lease_s))
        return result
