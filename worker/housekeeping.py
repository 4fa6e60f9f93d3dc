"""Periodic upkeep, idempotent: repair active counts from the schedules, drop accounts with
nothing left to track, snapshot the fleet counters once per period, and look for
statuswatch tasks on queues no statuswatch worker reads. Finished trackers need nothing:
they expire by their own TTL."""

from __future__ import annotations

import logging

from worker import misrouted
from worker.context import Context
from worker.push.revive import Revive
from worker.results import Upkeep

log = logging.getLogger("statuswatch")


class Housekeeping:
    def __init__(self, context: Context) -> None:
        self.settings = context.settings
        self.maintenance = context.maintenance
        self.redactor = context.redactor
        self.revive = Revive(context.store.redis, context.store.keys, context.settings)

    def run(self) -> Upkeep:
        """One pass (``statuswatch stats`` shows rates from the counters' snapshots)."""
        for group, moved in self.revive.run().items():
            log.warning("%s: no push for %.0f s: its %d trackers on the safety net poll again",
                        group, self.settings.push.live_s, moved)  # fmt: skip
        pruned, repaired = self.maintenance.prune()
        if repaired:
            log.warning("active counts of %s did not match their schedules; repaired", ", ".join(repaired[:10]))
        entry = self.maintenance.rollup(self.settings.housekeeping_every_s)
        return Upkeep(len(pruned), len(repaired), entry, self.look_for_misrouted())

    def look_for_misrouted(self) -> int | None:
        """Count statuswatch tasks waiting on queues no statuswatch worker reads, say so in the
        log and keep the count for the metrics; None when the broker could not be read."""
        try:
            findings = misrouted.find(self.settings)
        except Exception as exc:  # a diagnostic: it must never stop housekeeping
            reason = self.redactor(f"{type(exc).__name__}: {exc}")[:300]
            log.warning("could not look for misrouted statuswatch tasks: %s", reason)
            return None
        for finding in findings:
            log.error("misrouted: %s; the fix: %s", finding.describe(), misrouted.FIX)
        self.maintenance.set_misrouted({f.queue: f.count for f in findings})
        return sum(f.count for f in findings)
