"""One check: ask the gateway about one tracker's message and apply the answer, whatever
happens on the way (a denial, an error, an exception nobody foresaw) ending in a result."""

from __future__ import annotations

import logging
import random
import time
import traceback
from collections.abc import Callable
from typing import cast

from config import Account
from worker import providers
from worker.context import Context
from worker.disposition import Disposition, disposition_of, unforeseen
from worker.errors import ProviderError, RateLimited
from worker.fetch import Denied
from worker.ratelimit import Decision
from worker.results import Applied, BackedOff, CheckResult, Deferred, Requeue, Skipped
from worker.schedule import error_backoff_s, next_check_delay_s
from worker.states import Observation, Outcome, State
from worker.store import Tracker
from worker.tally import Tally

log = logging.getLogger("statuswatch")

#: an unplanned attempt (a retry, a chunk's check), or a planned check that came before its
#: own slot, denied by at most this fraction of its credential's interval is re-sent once
#: with that countdown (the planned one keeping its slot); longer denials, and a planned
#: check denied because the window is full, go back on the schedule. Why:
#: docs/decisions.md, "A denied planned check goes back on its schedule, not re-sent".
REQUEUE_MAX_INTERVALS = 0.5
REQUEUE_LIMIT = 1


def worth_resending(decision: Decision, slot_us: int, interval_s: float, requeued: int) -> bool:
    """Whether a denied check is re-sent with the limiter's countdown (see REQUEUE_*):
    ``slot_us`` is the slot the denied attempt carried, ``interval_s`` its credential's."""
    return (
        decision.reason == "rate"
        and (not slot_us or decision.early)
        # + 1 ms: the limiter rounds its wait up to whole ms, and a retry right after a
        # grant waits exactly REQUEUE_MAX_INTERVALS of an interval (interval - EARLY)
        and decision.retry_after_s <= REQUEUE_MAX_INTERVALS * interval_s + 0.001
        and requeued < REQUEUE_LIMIT
    )


class Checker:
    def __init__(self, context: Context, draw: Callable[[], float] = random.random) -> None:
        self.context = context
        self.settings, self.store, self.limiter = context.settings, context.store, context.limiter
        self.gateways, self.redactor = context.gateways, context.redactor
        #: uniform in [0, 1): the jitter of the next check's delay
        self.draw = draw

    def check(self, tid: str, requeued: int = 0, slot_us: int = 0) -> CheckResult:
        """Ask the gateway about one tracker's message and apply the answer.

        ``slot_us`` is the limiter slot the dispatcher planned for this check (0: none). An
        unplanned attempt, or a planned check before its own slot, that the limiter turns
        away by a few milliseconds is a ``Requeue`` (keeping the slot): its task is re-sent
        once with that countdown. A planned check denied because the window is full, or a
        longer denial, defers the tracker on its schedule (see REQUEUE_*). A denied check
        never sleeps.
        """
        tracker = self.store.get(tid)
        if tracker is None or tracker.outcome is not Outcome.ACTIVE:
            return Skipped(tid, "gone" if tracker is None else tracker.outcome.value)
        tally = Tally(tracker.provider)
        try:
            return self._check(tracker, requeued, slot_us, tally)
        except Exception as exc:
            # The one boundary: whatever else a check raises (a bug, an answer nobody foresaw,
            # a refused write) is a transient failure. Raised, the lease would bring the
            # tracker back to fail the same way for ever.
            error = unforeseen(exc, self.redactor)
            frames = "".join(traceback.format_tb(exc.__traceback__, limit=-4))  # where, without the message
            log.error("%s: check failed: %s (backed off as transient)\n%s", tid, error, self.redactor(frames))
            tally.add("errors:unexpected")
            return self._back_off(tracker, error, tally)

    def _check(self, tracker: Tracker, requeued: int, slot_us: int, tally: Tally) -> CheckResult:
        account = self.gateways.account(tracker.account, tracker.provider)
        if account is None:
            return self._back_off(tracker, f"account {tracker.account!r} is not configured on this worker")
        wait_s = self._waits_for_push(tracker) if account.webhook_secret or account.notifications else 0.0
        if wait_s > 0:
            return self._defer(tracker, wait_s, "pushing", tally)
        provider = self.gateways.provider(account)
        ref = providers.MessageRef(
            tracker.msg_id, tracker.fields.get("chat_id") or None, tracker.fields.get("kind") or "message"
        )
        method = provider.method(ref)
        try:
            observation = self.context.fetch(account, method, lambda: provider.fetch(ref), tally, slot_us)
        except Denied as denied:
            return self._denied(tracker, account, method, denied, requeued, tally)
        except ProviderError as exc:  # anything else is the boundary's (``check``)
            return self._refused(tracker, account, exc, tally)
        return self._apply(tracker, provider.ceiling, observation, tally)

    def _waits_for_push(self, tracker: Tracker) -> float:
        """How long the first check of a tracker tracked before its account began pushing waits
        (0: not at all), so it polls on the safety net as one tracked since does (docs/push.md).
        Asked only of accounts configured to push (a webhook secret, or notifications)."""
        push = self.settings.push
        age_s = time.time() - tracker.created_at_ms / 1000
        if tracker.checks or push.live_s <= 0 or age_s >= push.safety_poll_s:
            return 0.0
        if f"{tracker.provider}:{tracker.account}" not in self.context.fleet.pushing(push.live_s):
            return 0.0
        return push.safety_poll_s - age_s

    def _denied(
        self, tracker: Tracker, account: Account, method: str, denied: Denied, requeued: int, tally: Tally
    ) -> Requeue | Deferred:
        decision = denied.decision
        log.debug("%s: limiter said %s, retry in %.3f s", tracker.id, decision.reason, decision.retry_after_s)
        interval_s = self.limiter.spacing_s(self.limiter.rate_per_s(account, method))
        if worth_resending(decision, denied.slot_us, interval_s, requeued):
            self.context.ledger.add_counts({"requeues:rate": 1, **tally.take()})
            return Requeue(tracker.id, decision.retry_after_s, requeued + 1, denied.slot_us)
        return self._defer(tracker, decision.retry_after_s, decision.reason, tally)

    def _refused(self, tracker: Tracker, account: Account, exc: ProviderError, tally: Tally) -> CheckResult:
        """What the gateway's error means for the tracker (``worker.disposition``)."""
        disposition = disposition_of(exc)
        if disposition is Disposition.THROTTLED:
            seconds = self.context.credentials.cool_down(account, cast(RateLimited, exc).retry_after_s)
            return self._defer(tracker, seconds, "cooldown", tally)
        if disposition is Disposition.ACCOUNT:
            return self._defer(tracker, self.context.credentials.pause(account, str(exc)), "paused", tally)
        return self._back_off(tracker, str(exc), tally, not_found=disposition is Disposition.MESSAGE)

    def _apply(self, tracker: Tracker, ceiling: State, observation: Observation, tally: Tally) -> Applied:
        answers = self.context.answers
        observation = answers.masked(observation)
        if observation.state is None:
            answers.log_unmapped(tracker.provider, observation.raw)
        policy = self.settings.poll_for(tracker.provider)
        result = self.store.observe(
            tracker.id,
            observation,
            ceiling=ceiling,
            next_delay_s=next_check_delay_s(tracker.checks + 1, policy, self.draw()),
            counts=tally.take(),
        )
        return Applied(tracker.id, result.state, result.outcome, result.changed)

    def _defer(self, tracker: Tracker, delay_s: float, reason: str, tally: Tally) -> Deferred:
        outcome = self.store.defer(tracker.id, delay_s, reason, counts=tally.take())
        return Deferred(tracker.id, delay_s, reason, outcome)

    def _back_off(self, tracker: Tracker, error: str, tally: Tally | None = None, not_found: bool = False) -> BackedOff:
        """A check that got no observation: back off (doubling), keep the redacted error."""
        settings = self.settings
        delay = error_backoff_s(
            tracker.errors + 1, settings.error_backoff_s, settings.poll_for(tracker.provider).max_s, self.draw()
        )
        result = self.store.observe(
            tracker.id,
            None,
            ceiling=providers.CEILINGS[tracker.provider],
            next_delay_s=delay,
            error=self.redactor(error),  # the store cuts it
            not_found=not_found,
            not_found_grace_s=settings.not_found_grace_s,
            counts=tally.take() if tally else None,
        )
        return BackedOff(tracker.id, result.state, result.outcome, result.changed, delay)
