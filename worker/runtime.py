"""The engine: track, dispatch, check and sync, as plain functions of settings, Redis and accounts.

Celery tasks (``tasks/``) are thin wrappers around these methods, so the whole path can be
run and tested without a broker.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, cast

import redis
from statuswatch_client.contract import item_kwargs, items_of
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity import wait_random_exponential as wait_jitter

from config import Account, Accounts, Settings, load_accounts, load_settings
from worker import misrouted, providers
from worker.errors import AccountError, MessageError, ProviderError, RateLimited, TransientError, UnexpectedAnswer
from worker.keys import Keys, tracker_id
from worker.ratelimit import Decision, Limiter
from worker.redact import Redactor
from worker.schedule import error_backoff_s, next_check_delay_s
from worker.states import Observation, Outcome
from worker.store import Registered, Store, Tracker
from worker.tally import Tally, result_of
from worker.text import clip
from worker.tracking import TrackRequest, parse_track_request, parse_untrack_request, reason_of, rejection

#: the most of an unexpected error's text a tracker keeps (its own errors are bounded already)
TEXT_CHARS = 200
#: distinct unmapped raw states logged (once each) per process
MAX_UNMAPPED = 256

log = logging.getLogger("statuswatch")

#: attempts at one gateway request for transient errors, and their total time budget
RETRY_ATTEMPTS = 3
RETRY_BUDGET_S = 1.0
#: how many dispatch intervals ahead a credential's checks are planned
PLAN_HORIZON = 2
#: an unplanned attempt (a retry, a chunk's check), or a planned check that came before its
#: own slot, denied by at most this fraction of its credential's interval is re-sent once
#: with that countdown (the planned one keeping its slot); longer denials mean a backlog,
#: and re-sending would only feed it, so those trackers go back on the schedule. So does a
#: planned check denied because the window is full: the next free slot is already planned
#: for another check, which a re-sent one would take, denying that one in turn (0.13-0.23
#: re-sent per check and a quarter of the workers' CPU: bench/RESULTS.md).
REQUEUE_MAX_INTERVALS = 0.5
REQUEUE_LIMIT = 1
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


def redis_client(url: str) -> redis.Redis:
    """A client for the store: decoded strings, bounded timeouts, health checks."""
    client: redis.Redis = redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry_on_timeout=True,
    )
    return client


class Denied(Exception):
    """The limiter said not now: the tracker goes back on its schedule, nobody waits."""

    def __init__(self, decision: Decision, slot_us: int = 0) -> None:
        super().__init__(decision.reason)
        self.decision = decision
        #: the planned slot the denied attempt carried (0: none, or spent by an earlier attempt)
        self.slot_us = slot_us


def _is_retryable(exc: BaseException) -> bool:
    # an answer the adapter does not know would come back the same a moment later
    return isinstance(exc, TransientError) and not isinstance(exc, RateLimited | UnexpectedAnswer)


class CheckOrder(NamedTuple):
    """One check task for the dispatcher to send: its trackers (one, a chunk or a gang), its
    start (seconds from now); for a single planned check its limiter slot (epoch µs; 0:
    none) and its credential; for a gang, each tracker's slot."""

    trackers: list[str]
    start_s: float
    slot_us: int = 0
    credential: str = ""
    slots: list[int] | None = None


def gangs(orders: list[CheckOrder]) -> list[CheckOrder]:
    """Join single planned checks of different credentials due within GANG_WINDOW_S of each
    other into gangs (see GANG_*); chunks and unplanned checks stay as they are."""

    def joins(order: CheckOrder) -> bool:
        return len(order.trackers) == 1 and bool(order.slot_us) and bool(order.credential)

    out = [o for o in orders if not joins(o)]
    pending = sorted(filter(joins, orders), key=lambda o: o.slot_us)
    while pending:
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
        pending = later
        if len(members) == 1:
            out.append(first)
        else:
            trackers = [o.trackers[0] for o in members]
            out.append(CheckOrder(trackers, first.start_s, slots=[o.slot_us for o in members]))
    return out


@dataclass
class Engine:
    """One process's view of statuswatch."""

    settings: Settings
    store: Store
    limiter: Limiter
    accounts: Accounts | None
    redactor: Redactor
    _providers: dict[str, providers.Provider] = field(default_factory=dict)
    _unmapped: set[tuple[str, str]] = field(default_factory=set)
    #: recent gateway latency by provider, seconds (moving average over this process's calls)
    _latency_s: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis | None = None) -> Engine:
        accounts = load_accounts(settings.accounts_file) if settings.accounts_file else None
        client = client or redis_client(settings.redis_url)
        keys = Keys(settings.namespace)
        store = Store(client, keys, retention_s=settings.retention_s, events_maxlen=settings.events_maxlen)
        limiter = Limiter(client, keys, default_rate=settings.default_rate_limit)
        return cls(settings, store, limiter, accounts, Redactor(accounts.secrets() if accounts else ()))

    def account(self, alias: str, provider: str) -> Account | None:
        account = self.accounts.get(alias) if self.accounts else None
        return account if account is not None and account.provider == provider else None

    # -- track -------------------------------------------------------------------------

    def track(self, kwargs: Mapping[str, Any], args: Sequence[Any] = (), task_id: str = "") -> dict[str, Any]:
        """Validate and register one request; a bad one is recorded as rejected, never raised."""
        try:
            request = self._track_request(kwargs, args)
        except Exception as exc:  # whatever a producer sent: recorded, never a failed task
            return self._reject([rejection("track", task_id, self._reason(exc), kwargs)])
        registered = self._register([request])[0]
        tid = tracker_id(request.provider, request.account, request.msg_id)
        return {"accepted": True, "tracker": tid, "status": registered.status, "outcome": registered.outcome.value}

    def track_many(self, kwargs: Mapping[str, Any], args: Sequence[Any] = (), task_id: str = "") -> dict[str, Any]:
        """``track`` for each of ``kwargs["items"]``: each item accepted or rejected on its own
        (one round trip for all); the result counts what became of them."""
        try:
            if args or set(kwargs) != {"items"}:
                raise ValueError("statuswatch.track_many takes one keyword argument, items (a list)")
            items = items_of(kwargs["items"])
        except Exception as exc:
            self._reject([rejection("track_many", task_id, self._reason(exc), {})])
            return {"items": 0, "accepted": 0, "rejected": 1, "reason": self._reason(exc)}
        requests, refused = [], []
        for i, item in enumerate(items):
            try:
                requests.append(self._track_request(item_kwargs(item), ()))
            except Exception as exc:
                refused.append(rejection(f"track_many[{i}]", task_id, self._reason(exc), item))
        if refused:
            self._reject(refused)
        statuses = Counter(r.status for r in self._register(requests))
        return {"items": len(items), "accepted": len(requests), "rejected": len(refused), **statuses}

    def untrack(self, kwargs: Mapping[str, Any], args: Sequence[Any] = (), task_id: str = "") -> dict[str, Any]:
        """End a tracker as cancelled: one event, no further gateway request."""
        try:
            if args:
                raise ValueError("statuswatch.untrack takes keyword arguments only: provider, account, msg_id")
            ref = parse_untrack_request(kwargs, self._accounts_or_refuse())
        except Exception as exc:
            return self._reject([rejection("untrack", task_id, self._reason(exc), kwargs)])
        tid = tracker_id(ref.provider, ref.account, ref.msg_id)
        result = self.store.untrack(tid)
        return {"tracker": tid, "status": result.status, "outcome": result.outcome.value}

    def _track_request(self, kwargs: Mapping[str, Any], args: Sequence[Any]) -> TrackRequest:
        if args:
            raise ValueError(
                f"statuswatch.track takes keyword arguments only (kwargs=...), got {len(args)} positional"
            )
        return parse_track_request(kwargs, self._accounts_or_refuse(), self.settings.default_expires_s)

    def _accounts_or_refuse(self) -> Accounts:
        if self.accounts is None:
            raise ValueError("account: this worker has no accounts file (STATUSWATCH_ACCOUNTS_FILE)")
        return self.accounts

    def _register(self, requests: Sequence[TrackRequest]) -> list[Registered]:
        items = []
        for request in requests:
            policy = self.settings.poll_for(request.provider)
            tid = tracker_id(request.provider, request.account, request.msg_id)
            first_delay_s = next_check_delay_s(0, policy, random.random())
            items.append((tid, request, providers.CEILINGS[request.provider], first_delay_s))
        return self.store.register_many(items) if items else []

    def _reason(self, exc: BaseException) -> str:
        return self.redactor(reason_of(exc))

    def _reject(self, entries: list[dict[str, str]]) -> dict[str, Any]:
        """Record refused requests, redacted; the answer of the first (a single request's task result)."""
        entries = [{k: self.redactor(v) for k, v in entry.items()} for entry in entries]
        self.store.reject(entries)
        for entry in entries[:3]:  # a bulk of bad items logs a few, the stream holds them all
            log.warning("%s request rejected: %s", entry["task"], entry["reason"])
        if len(entries) > 3:
            log.warning("... and %d more rejected items of the same message", len(entries) - 3)
        return {"accepted": False, "reason": entries[0]["reason"]}

    # -- dispatch ----------------------------------------------------------------------

    def dispatch(self, enqueue: Callable[[list[CheckOrder]], None]) -> int:
        """Claim due trackers and hand them to ``enqueue`` as check orders; returns how many
        trackers. Each order is one check task: one tracker, or a chunk (see CHUNK_*).

        Limit-aware: for each credential it plans check slots one limiter interval apart, up to
        ``PLAN_HORIZON`` dispatch intervals ahead, and claims only as many trackers as there
        are free slots; each check starts at its slot (a countdown of at most a few seconds),
        so checks meet the limiter already spaced and are rarely denied. Checks of different
        credentials due together go out as one task (``gangs``). The due trackers of a
        paused or cooling credential are deferred here, in Redis, without a check (and end as
        timed_out if their deadline passes meanwhile). Stops after ``dispatch_budget_s``.
        """
        started, total = time.monotonic(), 0
        planned: list[CheckOrder] = []
        try:
            for group in self.store.groups():
                total += self._dispatch_group(group, started, enqueue, planned)
        finally:  # what was claimed goes out even if a later group failed, not a lease later
            if planned:
                now = time.monotonic()
                enqueue(gangs([order._replace(start_s=max(0.0, order.start_s - now)) for order in planned]))
        return total

    def _dispatch_group(
        self, group: str, started: float, enqueue: Callable[[list[CheckOrder]], None], planned: list[CheckOrder]
    ) -> int:
        """Claim one account's due trackers; its planned checks are added to ``planned`` with
        their starts on the monotonic clock. Returns how many trackers were claimed."""
        provider, _, alias = group.partition(":")
        account = self.account(alias, provider)
        if account is None:  # not configured here: its checks will say so and back off
            claimed = self._claim_group(group, None, started)
            enqueue([CheckOrder([tid], 0.0) for tid in claimed])
            return len(claimed)
        blocked = self.limiter.blocked(account)
        if blocked is not None:
            self._defer_group(group, *blocked, started)
            return 0
        rate = self.check_rate(account)
        spacing = self.limiter.spacing_s(rate)
        horizon = PLAN_HORIZON * self.settings.dispatch_every_s - self.limiter.planned_ahead_s(account)
        # At most a horizon's worth of checks waiting to run: when workers fall behind,
        # the dispatcher stops handing out more instead of feeding a backlog.
        max_inflight = max(1, math.ceil(PLAN_HORIZON * self.settings.dispatch_every_s / spacing))
        budget = max(0, math.floor(horizon / spacing))
        latency = self.latency_s(provider) if spacing <= CHUNK_SPACING_S else None
        if spacing <= CHUNK_SPACING_S and latency is None:
            budget = min(budget, PROBE_CHECKS)
        claimed = self._claim_group(group, budget, started, max_inflight)
        if claimed:
            plan = self.limiter.plan(account, rate, len(claimed))
            size = chunk_size(latency, spacing)
            base = time.monotonic()
            planned += [
                # a single check carries its slot to the limiter; a chunk's checks take the grid
                CheckOrder(
                    claimed[i : i + size],
                    base + plan.start_s(i),
                    plan.slot_us(i) if size == 1 else 0,
                    account.credential_key,
                )
                for i in range(0, len(claimed), size)
            ]
        return len(claimed)

    def check_method(self, account: Account) -> str:
        """The gateway method of the account's single checks (what the dispatcher plans for)."""
        return self.provider(account).method(providers.MessageRef("0"))

    def check_rate(self, account: Account) -> float:
        """Requests per second the account's single checks may make (the dispatcher's plan)."""
        return self.limiter.rate_per_s(account, self.check_method(account))

    def latency_s(self, provider: str) -> float | None:
        """The gateway's recent latency as this process saw it, else the fleet's average
        (from the counters every check adds to), else None: nobody has asked it yet."""
        return self._latency_s.get(provider) or self.store.average_latency_s(provider)

    def _claim_group(
        self, group: str, budget: int | None, started: float, max_inflight: int | None = None
    ) -> list[str]:
        batch, lease = self.settings.dispatch_batch, self.settings.lease_s
        claimed: list[str] = []
        while budget is None or len(claimed) < budget:
            want = batch if budget is None else min(batch, budget - len(claimed))
            ids = self.store.claim_due(group, want, lease, max_inflight)
            claimed += ids
            if len(ids) < want or time.monotonic() - started > self.settings.dispatch_budget_s:
                break
        return claimed

    def _defer_group(self, group: str, blocked_s: float, reason: str, started: float) -> None:
        while True:
            ids = self.store.claim_due(group, self.settings.dispatch_batch, self.settings.lease_s)
            for tid in ids:
                self.store.defer(tid, blocked_s, reason)
            if len(ids) < self.settings.dispatch_batch or time.monotonic() - started > self.settings.dispatch_budget_s:
                return

    # -- check -------------------------------------------------------------------------

    def check(self, tid: str, requeued: int = 0, slot_us: int = 0) -> dict[str, Any]:
        """Ask the gateway about one tracker's message and apply the answer.

        ``slot_us`` is the limiter slot the dispatcher planned for this check (0: none). An
        unplanned attempt, or a planned check before its own slot, that the limiter turns
        away by a few milliseconds answers ``requeue_s`` (and the slot to keep): its task is
        re-sent once with that countdown. A planned check denied because the window is
        full, or a longer denial, defers the tracker on its schedule (see REQUEUE_*). A
        denied check never sleeps.
        """
        tracker = self.store.get(tid)
        if tracker is None or tracker.outcome is not Outcome.ACTIVE:
            return {"tracker": tid, "skipped": "gone" if tracker is None else tracker.outcome.value}
        tally = Tally(tracker.provider)
        try:
            return self._check(tracker, requeued, slot_us, tally)
        except Exception as exc:
            # The one boundary: whatever else a check raises (a bug, an answer nobody foresaw,
            # a refused write) is a transient failure. Raised, the lease would bring the
            # tracker back to fail the same way for ever.
            error = self.redactor(f"unexpected {type(exc).__name__}: {exc}")[:TEXT_CHARS]
            frames = "".join(traceback.format_tb(exc.__traceback__, limit=-4))  # where, without the message
            log.error("%s: check failed: %s (backed off as transient)\n%s", tid, error, self.redactor(frames))
            tally.add("errors:unexpected")
            return self._failed(tracker, error, tally)

    def _check(self, tracker: Tracker, requeued: int, slot_us: int, tally: Tally) -> dict[str, Any]:
        tid = tracker.id
        account = self.account(tracker.account, tracker.provider)
        if account is None:
            return self._failed(tracker, f"account {tracker.account!r} is not configured on this worker")
        provider = self.provider(account)
        ref = providers.MessageRef(
            tracker.msg_id, tracker.fields.get("chat_id") or None, tracker.fields.get("kind") or "message"
        )
        method = provider.method(ref)
        try:
            observation = self._fetch(account, method, lambda: provider.fetch(ref), tally, slot_us)
        except Denied as denied:
            decision = denied.decision
            log.debug("%s: limiter said %s, retry in %.3f s", tid, decision.reason, decision.retry_after_s)
            interval_s = self.limiter.spacing_s(self.limiter.rate_per_s(account, method))
            if (
                decision.reason == "rate"
                and (not denied.slot_us or decision.early)
                # + 1 ms: the limiter rounds its wait up to whole ms, and a retry right after a
                # grant waits exactly REQUEUE_MAX_INTERVALS of an interval (interval - EARLY)
                and decision.retry_after_s <= REQUEUE_MAX_INTERVALS * interval_s + 0.001
                and requeued < REQUEUE_LIMIT
            ):
                self.store.add_counts({"requeues:rate": 1, **tally.take()})
                return {
                    "tracker": tid, "requeue_s": decision.retry_after_s, "requeued": requeued + 1,
                    "slot_us": denied.slot_us,
                }  # fmt: skip
            return self._deferred(tracker, decision.retry_after_s, decision.reason, tally)
        except MessageError as exc:
            return self._failed(tracker, str(exc), tally, not_found=True)
        except RateLimited as exc:
            return self._deferred(tracker, self._cool_down(account, exc), "cooldown", tally)
        except AccountError as exc:
            return self._deferred(tracker, self._pause(account, exc), "paused", tally)
        except ProviderError as exc:
            return self._failed(tracker, str(exc), tally)
        observation = self._masked(observation)
        if observation.state is None:
            self._log_unmapped(tracker.provider, observation.raw)
        policy = self.settings.poll_for(tracker.provider)
        result = self.store.observe(
            tid,
            observation,
            ceiling=provider.ceiling,
            next_delay_s=next_check_delay_s(tracker.checks + 1, policy, random.random()),
            counts=tally.take(),
        )
        return _summary(tid, result.state, result.outcome, result.changed)

    def provider(self, account: Account) -> providers.Provider:
        """The adapter of an account, built once per process."""
        with self._lock:
            adapter = self._providers.get(account.alias)
            if adapter is None:
                settings = self.settings
                http = providers.Http(
                    account.provider, self.redactor, settings.http_timeout_s, settings.http_max_body_bytes
                )
                adapter = self._providers[account.alias] = providers.build(account, http)
            return adapter

    def _fetch(self, account: Account, method: str, call: Callable[[], Any], tally: Tally, slot_us: int = 0) -> Any:
        """One gateway call: each attempt takes a limiter token first (the first attempt in
        its planned slot, if any); transient errors are retried a few times within about a
        second; a denial is raised, never waited for. Every request made is recorded in ``tally``."""
        slots = [slot_us]

        def attempt() -> Any:
            slot = slots.pop() if slots else 0  # a retry after a transient error was never planned
            decision = self.limiter.acquire(account, method, slot)
            if not decision.allowed:
                raise Denied(decision, slot)
            started = time.perf_counter()
            try:
                answer = call()
            except Exception as exc:
                tally.record(method, result_of(exc), time.perf_counter() - started)
                raise
            seconds = time.perf_counter() - started
            tally.record(method, "ok", seconds)
            previous = self._latency_s.get(account.provider, seconds)
            self._latency_s[account.provider] = 0.8 * previous + 0.2 * seconds
            return answer

        retrying = Retrying(
            retry=retry_if_exception(_is_retryable),
            stop=stop_after_attempt(RETRY_ATTEMPTS) | stop_after_delay(RETRY_BUDGET_S),
            wait=wait_jitter(multiplier=0.05, max=0.4),
            reraise=True,
        )
        return retrying(attempt)

    def _cool_down(self, account: Account, exc: RateLimited) -> float:
        """A 429: the whole fleet leaves this credential alone for Retry-After (or the default),
        at most ``max_retry_after_s``."""
        seconds = exc.retry_after_s if exc.retry_after_s else self.settings.rate_cooldown_s
        if seconds > self.settings.max_retry_after_s:
            log.warning("account %s: Retry-After %.0f s clamped to %.0f s", account.alias, seconds,
                        self.settings.max_retry_after_s)  # fmt: skip
            seconds = self.settings.max_retry_after_s
        self.limiter.cool_down(account, seconds)  # the 429 itself is counted with the request
        log.warning("account %s: gateway answered 429; credential cooled down for %.1f s", account.alias, seconds)
        return seconds

    def _pause(self, account: Account, exc: AccountError) -> float:
        """An account error: pause the credential for everyone, once, loudly; trackers wait."""
        seconds = self.settings.account_pause_s
        if self.limiter.pause(account, seconds, self.redactor(str(exc))):
            self.store.count("pauses")
            self.store.count(f"pauses:{account.alias}")
            log.error("account %s paused for %.0f s: %s (its trackers wait, none fails)", account.alias, seconds, exc)
        blocked = self.limiter.blocked(account)
        return blocked[0] if blocked else 0.001

    def _deferred(self, tracker: Tracker, delay_s: float, reason: str, tally: Tally) -> dict[str, Any]:
        outcome = self.store.defer(tracker.id, delay_s, reason, counts=tally.take())
        return {"tracker": tracker.id, "deferred_s": round(delay_s, 3), "reason": reason, "outcome": outcome}

    def _failed(
        self, tracker: Tracker, error: str, tally: Tally | None = None, not_found: bool = False
    ) -> dict[str, Any]:
        """A check that got no observation: back off (doubling), keep the redacted error."""
        settings = self.settings
        delay = error_backoff_s(
            tracker.errors + 1, settings.error_backoff_s, settings.poll_for(tracker.provider).max_s, random.random()
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
        summary = _summary(tracker.id, result.state, result.outcome, result.changed)
        summary["deferred_s"] = round(delay, 3)
        return summary

    def _masked(self, observation: Observation) -> Observation:
        """The observation with any secret the gateway echoed in its strings masked: raw
        states and detail go to the tracker, the events stream and the log."""
        raw = self.redactor(observation.raw)
        detail = observation.detail
        if detail:
            detail = {self.redactor(k): self.redactor(v) for k, v in detail.items()}
        if raw == observation.raw and detail == observation.detail:
            return observation
        return replace(observation, raw=raw, detail=detail)

    def _log_unmapped(self, provider: str, raw: str) -> None:
        """Log an unmapped raw value once per process; past MAX_UNMAPPED distinct ones (a
        gateway answering a new value each time) the rest are not logged, nor remembered."""
        key = (provider, clip(raw))
        with self._lock:
            if key in self._unmapped or len(self._unmapped) >= MAX_UNMAPPED:
                return
            self._unmapped.add(key)
            full = len(self._unmapped) == MAX_UNMAPPED
        log.warning("%s: state %r has no canonical mapping; kept raw, state unchanged", provider, key[1])
        if full:
            log.warning("%d unmapped states logged: further ones are not (they are still kept raw)", MAX_UNMAPPED)

    # -- housekeeping ------------------------------------------------------------------

    def housekeeping(self) -> dict[str, Any]:
        """Periodic upkeep, idempotent: repair active counts from the schedules, drop accounts
        with nothing left to track, append one snapshot of the fleet counters per period
        (``statuswatch stats`` shows rates from them) and look for misrouted requests.
        Finished trackers need nothing: they expire by their own TTL."""
        pruned, repaired = self.store.prune()
        if repaired:
            log.warning("active counts of %s did not match their schedules; repaired", ", ".join(repaired[:10]))
        entry = self.store.rollup(self.settings.housekeeping_every_s)
        return {
            "pruned": len(pruned), "repaired": len(repaired), "rollup": entry, "misrouted": self.look_for_misrouted(),
        }  # fmt: skip

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
        self.store.set_misrouted({f.queue: f.count for f in findings})
        return sum(f.count for f in findings)

    # -- batch sync --------------------------------------------------------------------

    def sync_targets(self) -> list[str]:
        """Aliases of accounts with active trackers whose gateway has a batch method."""
        targets = []
        for group in self.store.groups():
            provider, _, alias = group.partition(":")
            if provider in providers.BATCH and self.account(alias, provider) is not None:
                targets.append(alias)
        return targets

    def plan_sync(self, alias: str) -> tuple[float, int]:
        """Reserve a slot for the account's batch request in its credential's plan, after the
        checks already planned (which would otherwise leave it none under a backlog):
        (seconds from now, slot epoch µs). (0, 0) for an account not configured here or
        without a batch method, and where the batch method shares no limiter bucket with
        the checks (GREEN-API's ``lastOutgoingMessages`` has a limit of its own)."""
        account = self.accounts.get(alias) if self.accounts else None
        if account is None or account.provider not in providers.BATCH:
            return 0.0, 0
        batch_method = cast(providers.BatchProvider, self.provider(account)).batch_method
        checks = self.limiter.buckets(account, self.check_method(account))
        shared = self.limiter.buckets(account, batch_method).keys() & checks.keys()
        if not shared:
            return 0.0, 0
        plan = self.limiter.plan(account, self.check_rate(account), 1)
        return plan.start_s(0), plan.slot_us(0)

    def sync(self, alias: str, slot_us: int = 0) -> dict[str, Any]:
        """Apply one batch answer (recent outgoing messages) to the account's active trackers.

        The batch request takes from the limiter budget of its method (shared with single
        checks where the gateway limits the account as a whole), in the slot ``plan_sync``
        reserved for it (``slot_us``; 0: none).
        """
        account = self.accounts.get(alias) if self.accounts else None
        if account is None or account.provider not in providers.BATCH:
            return {"account": alias, "skipped": "no such account with a batch method"}
        batch = cast(providers.BatchProvider, self.provider(account))
        window_s = self.settings.sync_window_s
        tally = Tally(account.provider)
        try:
            items = self._fetch(account, batch.batch_method, lambda: batch.recent(window_s), tally, slot_us)
        except Denied as denied:
            return {"account": alias, "skipped": denied.decision.reason}
        except RateLimited as exc:
            return {"account": alias, "skipped": "cooldown", "cooldown_s": self._cool_down(account, exc)}
        except AccountError as exc:
            return {"account": alias, "skipped": "paused", "paused_s": self._pause(account, exc)}
        except ProviderError as exc:
            log.warning("account %s: batch sync failed: %s", alias, exc)
            return {"account": alias, "error": str(exc)}
        except Exception as exc:  # as in check: anything else the request raised is transient
            error = self.redactor(f"unexpected {type(exc).__name__}: {exc}")[:TEXT_CHARS]
            log.error("account %s: batch sync failed: %s", alias, error)
            tally.add("errors:unexpected")
            return {"account": alias, "error": error}
        else:
            return self._apply_batch(account, batch.ceiling, items, tally)
        finally:
            self.store.add_counts(tally.take())  # what no tracker's write took

    def _apply_batch(
        self, account: Account, ceiling: Any, items: list[tuple[str, Observation]], tally: Tally
    ) -> dict[str, Any]:
        observed = {tracker_id(account.provider, account.alias, msg_id): self._masked(obs) for msg_id, obs in items}
        policy = self.settings.poll_for(account.provider)
        applied = finished = 0
        for tid, checks in self.store.active_checks(observed).items():
            result = self.store.observe(
                tid,
                observed[tid],
                ceiling=ceiling,
                next_delay_s=next_check_delay_s(checks + 1, policy, random.random()),
                counts=tally.take(),
            )
            applied += 1
            finished += result.outcome is not Outcome.ACTIVE
        return {"account": account.alias, "seen": len(items), "applied": applied, "finished": finished}


def chunk_size(latency_s: float | None, spacing_s: float) -> int:
    """How many of a credential's planned checks one task runs, one after another."""
    if latency_s is None or spacing_s > CHUNK_SPACING_S:
        return 1
    return max(1, min(CHUNK_MAX, int(CHUNK_BUDGET_S / (latency_s + CHECK_OVERHEAD_S))))


def _summary(tid: str, state: Any, outcome: Any, changed: bool) -> dict[str, Any]:
    return {
        "tracker": tid,
        "state": state.value if state else None,
        "outcome": outcome.value if outcome else None,
        "changed": changed,
    }


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """This process's engine, built on first use from the environment."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Engine.from_settings(load_settings())
        return _engine
