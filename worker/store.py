"""Tracker records and the due schedules, in Redis: the tracker lifecycle.

Every decision that reads and writes a tracker is one Lua script (``worker/lua/``, called
through ``worker.scripts``), so any number of workers may check the same tracker at once:
transitions are monotonic and an event is emitted only for a real change. Scripts take
``now`` from Redis ``TIME``. The fleet's records apart from trackers (counters, schedules,
streams: read, added to and kept up) are ``worker.fleet``'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from config.push import PushSettings
from worker.keys import Keys, group_of
from worker.records import Observed, Registered, Tracker, tracker_from_row
from worker.scripts import (
    CLAIM,
    DEFER,
    EXPIRE,
    OBSERVE,
    REGISTER,
    UNTRACK,
    ClaimArgs,
    ClaimKeys,
    DeferArgs,
    ExpireArgs,
    ExpireKeys,
    ObserveArgs,
    ObserveKeys,
    RegisterArgs,
    TrackerKeys,
    UntrackArgs,
    load_script,
    ms,
)
from worker.states import Observation, Outcome, State
from worker.tally import encode
from worker.text import clip
from worker.tracking import TrackRequest

__all__ = ["Observed", "Registered", "Store", "Tracker", "load_script"]

#: the longest error text a tracker keeps: our words around at most 200 of the gateway's
MAX_ERROR_CHARS = 500
#: undelivered events one tracker's outbox holds at most; beyond, the oldest are given up
#: (a tracker has a handful of events in its life: this is for one gone wrong)
OUTBOX_MAX = 100


class Store:
    """The tracker store. ``redis`` is a redis-py client with ``decode_responses=True``."""

    def __init__(
        self, redis: Any, keys: Keys, retention_s: float, events_maxlen: int = 100_000,
        notify_retry_s: float = 24 * 3600.0, outbox_max: int = OUTBOX_MAX, push: PushSettings | None = None,
    ) -> None:  # fmt: skip
        self.redis = redis
        self.keys = keys
        self.retention_ms = ms(retention_s)
        self.events_maxlen = events_maxlen
        #: an outbox's bounds (docs/store.md): it expires the retention plus the retry time
        #: after its last event, and holds at most ``outbox_max`` events
        self.outbox_ttl_ms = ms(retention_s + notify_retry_s)
        self.outbox_max = outbox_max
        self.push = push or PushSettings()
        self._register = REGISTER.load(redis)
        self._untrack = UNTRACK.load(redis)
        self._claim = CLAIM.load(redis)
        self._observe = OBSERVE.load(redis)
        self._defer = DEFER.load(redis)
        self._expire = EXPIRE.load(redis)

    def _tracker_keys(self, tracker_id: str) -> TrackerKeys:
        return TrackerKeys(*self.observe_keys(tracker_id)[:9])

    def observe_keys(self, tracker_id: str) -> ObserveKeys:
        """The keys of register and observe for one tracker."""
        k, group = self.keys, group_of(tracker_id)
        return ObserveKeys(
            tracker=k.tracker(tracker_id), due=k.due(group), active=k.active, events=k.events, stats=k.stats,
            inflight=k.inflight(group), outbox=k.notify.outbox(tracker_id), notify=k.notify.due,
            since=k.notify.since, early=k.push.early, early_at=k.push.early_at, pushed=k.push.seen,
        )  # fmt: skip

    def register(self, tracker_id: str, request: TrackRequest, ceiling: State, first_delay_s: float) -> Registered:
        """Start tracking (idempotent); an active tracker takes the new target and the later
        deadline, a timed-out one is re-opened, a settled or cancelled one is left alone."""
        return self.register_many([(tracker_id, request, ceiling, first_delay_s)])[0]

    def register_many(self, items: Sequence[tuple[str, TrackRequest, State, float]]) -> list[Registered]:
        """``register`` for many trackers in one round trip; each is atomic on its own."""
        with self.redis.pipeline(transaction=False) as pipe:
            for tracker_id, request, ceiling, first_delay_s in items:
                if request.expires_in_s is None:
                    raise ValueError("expires_in: the worker sets the default before registering")
                args = RegisterArgs(
                    tracker_id=tracker_id, until=request.until, expires_in_ms=ms(request.expires_in_s),
                    first_delay_ms=ms(first_delay_s), ceiling=ceiling.value, retention_ms=self.retention_ms,
                    events_maxlen=self.events_maxlen, outbox_ttl_ms=self.outbox_ttl_ms, outbox_max=self.outbox_max,
                    live_ms=ms(self.push.live_s), safety_ms=ms(self.push.safety_poll_s),
                    fields=tuple(item for kv in request.stored_fields().items() for item in kv),
                )  # fmt: skip
                self._register(self.observe_keys(tracker_id), args, client=pipe)
            rows = pipe.execute()
        return [Registered(status, Outcome(outcome), early) for status, outcome, early in rows]

    def untrack(self, tracker_id: str) -> Registered:
        """End an active tracker as cancelled (one event); ``gone`` or ``finished`` otherwise."""
        args = UntrackArgs(
            tracker_id=tracker_id, retention_ms=self.retention_ms, events_maxlen=self.events_maxlen,
            outbox_ttl_ms=self.outbox_ttl_ms, outbox_max=self.outbox_max,
        )  # fmt: skip
        status, outcome = self._untrack(self._tracker_keys(tracker_id), args)
        return Registered(status, Outcome(outcome) if outcome else Outcome.ACTIVE)

    def claim_due(self, group: str, limit: int, lease_s: float, max_inflight: int | None = None) -> list[str]:
        """Take up to ``limit`` due trackers of one ``provider:account``; each comes due again
        after ``lease_s`` unless a check observes it first. With ``max_inflight``, no more than
        that many of the account's claims may wait for their check at once. A claimed tracker
        past its deadline ends here as timed_out and is not returned."""
        return self.claim(group, limit, lease_s, max_inflight)[0]

    def claim(self, group: str, limit: int, lease_s: float, max_inflight: int | None = None) -> tuple[list[str], int]:
        """``claim_due``, and how many were taken off the schedule (those that ended at their
        deadline included): a caller with a budget of checks goes on past those."""
        members = self._claim(
            ClaimKeys(due=self.keys.due(group), inflight=self.keys.inflight(group)),
            ClaimArgs(limit=limit, lease_ms=ms(lease_s), max_inflight=-1 if max_inflight is None else max_inflight),
        )
        return self._to_check(group, [f"{group}:{msg_id}" for msg_id in members], lease_s), len(members)

    def _to_check(self, group: str, tracker_ids: list[str], lease_s: float) -> list[str]:
        """Of claimed trackers, those to check: one past its deadline ends timed_out here, and
        a schedule entry whose tracker is gone or finished is dropped. A tracker whose checks
        never report (each crashes its worker, or is lost) thus still ends at its deadline,
        instead of coming back with every lease; one whose deadline comes before its lease
        ends is due again at its deadline. One more round trip per claim."""
        if not tracker_ids:
            return tracker_ids
        k = self.keys
        dropped = self._expire(
            ExpireKeys(
                due=k.due(group), inflight=k.inflight(group), active=k.active, events=k.events, stats=k.stats,
                notify=k.notify.due, since=k.notify.since,
                trackers=tuple(key for t in tracker_ids for key in (k.tracker(t), k.notify.outbox(t))),
            ),
            ExpireArgs(
                retention_ms=self.retention_ms, events_maxlen=self.events_maxlen, lease_ms=ms(lease_s),
                outbox_ttl_ms=self.outbox_ttl_ms, outbox_max=self.outbox_max, tracker_ids=tuple(tracker_ids),
            ),
        )  # fmt: skip
        if not dropped:
            return tracker_ids
        gone = set(dropped)
        return [tid for tid in tracker_ids if tid not in gone]

    def defer(self, tracker_id: str, delay_s: float, reason: str, counts: Mapping[str, int] | None = None) -> str:
        """Put a tracker back on its schedule, unchecked, ``delay_s`` from now (capped by its
        deadline; past the deadline it ends as timed_out). Returns its outcome. ``counts``
        are added to the fleet counters in the same call."""
        args = DeferArgs(
            tracker_id=tracker_id, delay_ms=ms(delay_s), reason=reason, retention_ms=self.retention_ms,
            events_maxlen=self.events_maxlen, counts=encode(counts or {}), outbox_ttl_ms=self.outbox_ttl_ms,
            outbox_max=self.outbox_max,
        )  # fmt: skip
        _, outcome = self._defer(self._tracker_keys(tracker_id), args)
        return str(outcome)

    def observe(
        self,
        tracker_id: str,
        observation: Observation | None,
        *,
        ceiling: State,
        next_delay_s: float,
        error: str = "",
        not_found: bool = False,
        not_found_grace_s: float = 0.0,
        counts: Mapping[str, int] | None = None,
        source: str = "poll",
        reason: str = "",
    ) -> Observed:
        """Apply one check's result: ``observation`` or, when None, the ``error`` it met;
        ``counts`` are added to the fleet counters in the same call. The gateway's strings
        (raw state, detail) are stored cut to ``MAX_CHARS``, the error to ``MAX_ERROR_CHARS``.
        With ``source="push"`` it is a gateway's push (``worker.push``): kept for a track
        request to come when there is no tracker yet, and never counted as a check."""
        args = self.observe_args(
            tracker_id, observation, ceiling=ceiling, next_delay_s=next_delay_s, error=error, not_found=not_found,
            not_found_grace_s=not_found_grace_s, counts=counts, source=source, reason=reason,
        )  # fmt: skip
        return observed(self._observe(self.observe_keys(tracker_id), args))

    def observe_args(
        self,
        tracker_id: str,
        obs: Observation | None,
        *,
        ceiling: State,
        next_delay_s: float,
        error: str = "",
        not_found: bool = False,
        not_found_grace_s: float = 0.0,
        counts: Mapping[str, int] | None = None,
        source: str = "poll",
        reason: str = "",
    ) -> ObserveArgs:
        """``observe``'s arguments, for a caller that runs the script on a client of its own."""
        detail = ""
        if obs and obs.detail:
            cut = {clip(str(k)): clip(str(v)) for k, v in obs.detail.items()}
            detail = json.dumps(cut, separators=(",", ":"))
        push = self.push
        return ObserveArgs(
            tracker_id=tracker_id, observed=obs.state.value if obs and obs.state else "",
            raw_state=clip(obs.raw) if obs else "", has_observation="1" if obs else "0", ceiling=ceiling.value,
            next_delay_ms=ms(next_delay_s), retention_ms=self.retention_ms, events_maxlen=self.events_maxlen,
            error=clip(error, MAX_ERROR_CHARS), not_found="1" if not_found else "0",
            not_found_grace_ms=ms(not_found_grace_s), detail=detail, counts=encode(counts or {}),
            provider_ts=f"{obs.provider_ts:.3f}" if obs and obs.provider_ts is not None else "",
            outbox_ttl_ms=self.outbox_ttl_ms, outbox_max=self.outbox_max,
            source=source, reason=clip(reason), early_ms=ms(push.early_s), early_max=push.early_max,
            live_ms=ms(push.live_s), safety_ms=ms(push.safety_poll_s),
        )  # fmt: skip

    def get(self, tracker_id: str) -> Tracker | None:
        """One tracker, or None when it is unknown or its retention has passed."""
        return self.get_many([tracker_id])[0]

    def get_many(self, tracker_ids: Iterable[str]) -> list[Tracker | None]:
        ids = list(tracker_ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for tid in ids:
                pipe.hgetall(self.keys.tracker(tid))
            rows = pipe.execute()
        return [tracker_from_row(tid, row) if row else None for tid, row in zip(ids, rows, strict=True)]

    def active_checks(self, tracker_ids: Iterable[str]) -> dict[str, int]:
        """Of these trackers, the active ones, with their number of checks so far."""
        ids = list(tracker_ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for tid in ids:
                pipe.hmget(self.keys.tracker(tid), "outcome", "checks")
            rows = pipe.execute()
        # no outcome field while active; no checks field: no such tracker
        return {tid: int(checks) for tid, (outcome, checks) in zip(ids, rows, strict=True) if checks and not outcome}


def observed(row: Sequence[Any]) -> Observed:
    """observe.lua's answer as an ``Observed``."""
    status, state, previous, outcome, changed = row
    return Observed(
        status=status,
        state=State(state) if state else None,
        previous=State(previous) if previous else None,
        outcome=Outcome(outcome) if outcome else None,
        changed=bool(changed),
    )
