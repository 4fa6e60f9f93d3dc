"""The dispatcher: claims due trackers, credential by credential, within each one's rate
limit, and hands them out as check orders (``worker.planner`` decides how many and how).

Limit-aware: for each credential it plans check slots one limiter interval apart, up to
``PLAN_HORIZON`` dispatch intervals ahead, and claims only as many trackers as there are
free slots; each check starts at its slot (a countdown of at most a few seconds), so checks
meet the limiter already spaced and are rarely denied. Checks of different credentials
due together go out as one task (gangs). The due trackers of a paused or cooling
credential are deferred here, in Redis, without a check (and end as timed_out if their
deadline passes meanwhile).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from worker import planner
from worker.context import Context
from worker.planner import CheckOrder

Enqueue = Callable[[list[CheckOrder]], None]


class Dispatcher:
    def __init__(self, context: Context, clock: Callable[[], float] = time.monotonic) -> None:
        self.context = context
        self.settings, self.store, self.limiter = context.settings, context.store, context.limiter
        self.gateways = context.gateways
        self.clock = clock

    def dispatch(self, enqueue: Enqueue) -> int:
        """Claim due trackers and hand them to ``enqueue`` as check orders (each one check
        task: one tracker, a chunk or a gang); returns how many trackers. Stops after
        ``dispatch_budget_s``."""
        started, total = self.clock(), 0
        planned: list[CheckOrder] = []
        try:
            for group in self.context.fleet.groups():
                total += self._dispatch_group(group, started, enqueue, planned)
        finally:  # what was claimed goes out even if a later group failed, not a lease later
            if planned:
                enqueue(planner.gangs(planner.from_now(planned, self.clock())))
        return total

    def latency_s(self, provider: str) -> float | None:
        """The gateway's recent latency as this process saw it, else the fleet's average
        (from the counters every check adds to), else None: nobody has asked it yet."""
        return self.gateways.latency_s(provider) or self.context.fleet.average_latency_s(provider)

    def _dispatch_group(self, group: str, started: float, enqueue: Enqueue, planned: list[CheckOrder]) -> int:
        """Claim one account's due trackers; its planned checks are added to ``planned`` with
        their starts on the dispatcher's clock. Returns how many trackers were claimed."""
        provider, _, alias = group.partition(":")
        account = self.gateways.account(alias, provider)
        if account is None:  # not configured here: its checks will say so and back off
            claimed = self._claim(group, None, started)
            enqueue([CheckOrder([tid], 0.0) for tid in claimed])
            return len(claimed)
        blocked = self.limiter.blocked(account)
        if blocked is not None:
            self._defer_all(group, *blocked, started)
            return 0
        rate = self.limiter.rate_per_s(account, self.gateways.check_method(account))
        spacing = self.limiter.spacing_s(rate)
        ahead_s = self.limiter.planned_ahead_s(account)
        latency = self.latency_s(provider) if planner.chunks_apply(spacing) else None
        budget = planner.budget(spacing, self.settings.dispatch_every_s, ahead_s, latency)
        claimed = self._claim(group, budget.claims, started, budget.max_inflight)
        if claimed:
            plan = self.limiter.plan(account, rate, len(claimed))
            size = planner.chunk_size(latency, spacing)
            planned += planner.orders(claimed, plan, size, account.credential_key, self.clock())
        return len(claimed)

    def _claim(self, group: str, budget: int | None, started: float, max_inflight: int | None = None) -> list[str]:
        batch, lease = self.settings.dispatch_batch, self.settings.lease_s
        claimed: list[str] = []
        while budget is None or len(claimed) < budget:
            want = batch if budget is None else min(batch, budget - len(claimed))
            # trackers past their deadline end in the claim and take none of the budget: a
            # crowd of them reaching their deadlines together ends on time, not a few per dispatch
            ids, taken = self.store.claim(group, want, lease, max_inflight)
            claimed += ids
            if taken < want or self.clock() - started > self.settings.dispatch_budget_s:
                break
        return claimed

    def _defer_all(self, group: str, blocked_s: float, reason: str, started: float) -> None:
        """Defer the due trackers of a paused or cooling credential until it is free."""
        batch = self.settings.dispatch_batch
        while True:
            ids = self.store.claim_due(group, batch, self.settings.lease_s)
            for tid in ids:
                self.store.defer(tid, blocked_s, reason)
            if len(ids) < batch or self.clock() - started > self.settings.dispatch_budget_s:
                return
