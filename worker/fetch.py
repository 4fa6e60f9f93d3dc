"""One gateway call under the fleet's rate limit: a limiter token for each attempt, asked
for by the connection right before the request is written (``worker.arrival``), a few
quick retries of transient errors, every request counted, latency noted. A denial is
raised, never waited for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity import wait_random_exponential as wait_jitter

from config import Account
from worker import arrival
from worker.disposition import disposition_of
from worker.gateways import Gateways
from worker.ratelimit import Decision, Limiter
from worker.tally import Tally

#: attempts at one gateway request for transient errors, and their total time budget
RETRY_ATTEMPTS = 3
RETRY_BUDGET_S = 1.0

T = TypeVar("T")


class Denied(Exception):
    """The limiter said not now: the tracker goes back on its schedule, nobody waits."""

    def __init__(self, decision: Decision, slot_us: int = 0) -> None:
        super().__init__(decision.reason)
        self.decision = decision
        #: the planned slot the denied attempt carried (0: none, or spent by an earlier attempt)
        self.slot_us = slot_us


def _retried_in_place(exc: BaseException) -> bool:
    return disposition_of(exc).retried_in_place


class Fetch:
    def __init__(self, limiter: Limiter, gateways: Gateways, clock: Callable[[], float] = time.perf_counter) -> None:
        self.limiter = limiter
        self.gateways = gateways
        self.clock = clock

    def __call__(self, account: Account, method: str, call: Callable[[], T], tally: Tally, slot_us: int = 0) -> T:
        """``call()``, each attempt taking a limiter token first (the first attempt in its
        planned slot ``slot_us``, if any); transient errors are retried a few times within
        about a second. Every request made is recorded in ``tally``.

        Raises:
            Denied: the limiter turned an attempt away.
            Exception: what the last attempt raised (``worker.disposition`` says what it means).
        """
        slots = [slot_us]

        def attempt() -> T:  # a retry after a transient error was never planned: slot 0
            return self._attempt(account, method, call, tally, slots.pop() if slots else 0)

        retrying = Retrying(
            retry=retry_if_exception(_retried_in_place),
            stop=stop_after_attempt(RETRY_ATTEMPTS) | stop_after_delay(RETRY_BUDGET_S),
            wait=wait_jitter(multiplier=0.05, max=0.4),
            reraise=True,
        )
        return retrying(attempt)

    def _attempt(self, account: Account, method: str, call: Callable[[], T], tally: Tally, slot: int) -> T:
        # the grant is asked for by the connection, right before the request's first byte
        fresh_s = self.limiter.fresh_s(account, method)
        arrival.grant_on_send(lambda: self.limiter.acquire(account, method, slot), fresh_s)
        started = self.clock()
        try:
            answer = call()
        except arrival.Denial as denial:
            raise Denied(denial.decision, slot) from None
        except arrival.StaleGrant as stale:
            raise self._stale(account, method, slot, stale, tally) from None
        except Exception as exc:
            tally.record(method, disposition_of(exc).request_result, self.clock() - started)
            raise
        finally:
            tally.sent_after(arrival.done())
        seconds = self.clock() - started
        tally.record(method, "ok", seconds)
        self.gateways.note_latency(account.provider, seconds)
        return answer

    def _stale(self, account: Account, method: str, slot: int, stale: arrival.StaleGrant, tally: Tally) -> Denied:
        """The request never left: the grant goes back, and the tracker waits for the next
        slot (one interval), as if the limiter had said not yet."""
        self.limiter.refund(account, method, stale.decision.granted_at_us)
        tally.add(f"grants:stale:{account.provider}")
        interval_s = self.limiter.spacing_s(self.limiter.rate_per_s(account, method))
        return Denied(Decision(False, interval_s, "stale"), slot)
