"""Batch sync: one request for an account's recent outgoing messages, applied to every
active tracker it names, in a limiter slot planned after the account's checks."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import cast

from config import Account
from worker import providers
from worker.context import Context
from worker.disposition import Disposition, disposition_of, unforeseen
from worker.errors import RateLimited
from worker.fetch import Denied
from worker.keys import tracker_id
from worker.messages import TaskCall, countdown
from worker.results import FannedOut, Synced, SyncFailed, SyncResult, SyncSkipped
from worker.schedule import next_check_delay_s
from worker.states import Observation, Outcome, State
from worker.tally import Tally

log = logging.getLogger("statuswatch")


class BatchSync:
    def __init__(self, context: Context, draw: Callable[[], float] = random.random) -> None:
        self.context = context
        self.settings, self.store, self.limiter = context.settings, context.store, context.limiter
        self.gateways, self.redactor = context.gateways, context.redactor
        #: uniform in [0, 1): the jitter of the next check's delay
        self.draw = draw

    def targets(self) -> list[str]:
        """Aliases of accounts with active trackers whose gateway has a batch method, but for
        those whose pushes arrive (their trackers poll as a safety net only, docs/push.md)."""
        targets = []
        pushing = self.context.fleet.pushing(self.settings.push.live_s)
        for group in self.context.fleet.groups():
            provider, _, alias = group.partition(":")
            known = provider in providers.BATCH and self.gateways.account(alias, provider) is not None
            if known and group not in pushing:
                targets.append(alias)
        return targets

    def fan_out(self, send: Callable[[TaskCall], None]) -> FannedOut:
        """One ``statuswatch.sync_recent`` message per target account through ``send``, each
        to start at the slot ``plan`` reserved for it (carried as ``slot``)."""
        targets = self.targets()
        for alias in targets:
            start_s, slot_us = self.plan(alias)
            kwargs = {"account": alias, **({"slot": slot_us} if slot_us else {})}
            send(TaskCall((), kwargs, countdown(start_s), self.settings.sync_every_s))
        return FannedOut(targets)

    def plan(self, alias: str) -> tuple[float, int]:
        """Reserve a slot for the account's batch request in its credential's plan, after the
        checks already planned (which would otherwise leave it none under a backlog):
        (seconds from now, slot epoch µs). (0, 0) for an account not configured here or
        without a batch method, and where the batch method shares no limiter bucket with
        the checks (GREEN-API's ``lastOutgoingMessages`` has a limit of its own)."""
        found = self._batch(alias)
        if found is None:
            return 0.0, 0
        account, batch = found
        check_method = self.gateways.check_method(account)
        checks = self.limiter.buckets(account, check_method)
        if not self.limiter.buckets(account, batch.batch_method).keys() & checks.keys():
            return 0.0, 0
        plan = self.limiter.plan(account, self.limiter.rate_per_s(account, check_method), 1)
        return plan.start_s(0), plan.slot_us(0)

    def sync(self, alias: str, slot_us: int = 0) -> SyncResult:
        """Apply one batch answer (recent outgoing messages) to the account's active trackers.

        The batch request takes from the limiter budget of its method (shared with single
        checks where the gateway limits the account as a whole), in the slot ``plan``
        reserved for it (``slot_us``; 0: none).
        """
        found = self._batch(alias)
        if found is None:
            return SyncSkipped(alias, "no such account with a batch method")
        account, batch = found
        window_s = self.settings.sync_window_s
        tally = Tally(account.provider)
        try:
            items = self.context.fetch(account, batch.batch_method, lambda: batch.recent(window_s), tally, slot_us)
        except Denied as denied:
            return SyncSkipped(alias, denied.decision.reason)
        except Exception as exc:  # as in a check: whatever the request raised ends in a result
            return self._refused(account, exc, tally)
        else:
            return self._apply(account, batch.ceiling, items, tally)
        finally:
            self.context.ledger.add_counts(tally.take())  # what no tracker's write took

    def _batch(self, alias: str) -> tuple[Account, providers.BatchProvider] | None:
        account = self.gateways.account(alias)
        if account is None or account.provider not in providers.BATCH:
            return None
        return account, cast(providers.BatchProvider, self.gateways.provider(account))

    def _refused(self, account: Account, exc: Exception, tally: Tally) -> SyncSkipped | SyncFailed:
        """What the batch request's error means (``worker.disposition``)."""
        disposition = disposition_of(exc)
        if disposition is Disposition.THROTTLED:
            seconds = self.context.credentials.cool_down(account, cast(RateLimited, exc).retry_after_s)
            return SyncSkipped(account.alias, "cooldown", seconds)
        if disposition is Disposition.ACCOUNT:
            return SyncSkipped(account.alias, "paused", self.context.credentials.pause(account, str(exc)))
        if disposition is Disposition.UNFORESEEN:
            error = unforeseen(exc, self.redactor)
            log.error("account %s: batch sync failed: %s", account.alias, error)
            tally.add("errors:unexpected")
            return SyncFailed(account.alias, error)
        log.warning("account %s: batch sync failed: %s", account.alias, exc)
        return SyncFailed(account.alias, str(exc))

    def _apply(self, account: Account, ceiling: State, items: list[tuple[str, Observation]], tally: Tally) -> Synced:
        masked = self.context.answers.masked
        observed = {tracker_id(account.provider, account.alias, msg_id): masked(obs) for msg_id, obs in items}
        policy = self.settings.poll_for(account.provider)
        applied = finished = 0
        for tid, checks in self.store.active_checks(observed).items():
            result = self.store.observe(
                tid,
                observed[tid],
                ceiling=ceiling,
                next_delay_s=next_check_delay_s(checks + 1, policy, self.draw()),
                counts=tally.take(),
            )
            applied += 1
            finished += result.outcome is not Outcome.ACTIVE
        return Synced(account.alias, len(items), applied, finished)
