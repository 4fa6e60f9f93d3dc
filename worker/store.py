"""Tracker records, the due schedule, history and events, in Redis.

Every decision that reads and writes a tracker is one Lua script (``worker/lua/``), so
any number of workers may check the same tracker at once: transitions are monotonic and
an event is emitted only for a real change. Scripts take ``now`` from Redis ``TIME``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from worker.keys import Keys, group_of, split_tracker_id
from worker.scripts import (
    CLAIM,
    DEFER,
    EXPIRE,
    OBSERVE,
    PRUNE,
    REGISTER,
    ROLLUP,
    UNTRACK,
    ClaimArgs,
    ClaimKeys,
    DeferArgs,
    ExpireArgs,
    ExpireKeys,
    ObserveArgs,
    PruneArgs,
    PruneKeys,
    RegisterArgs,
    RollupArgs,
    RollupKeys,
    TrackerKeys,
    UntrackArgs,
    load_script,
    ms,
)
from worker.states import Observation, Outcome, State
from worker.tally import LATENCY_BUCKETS_S, encode
from worker.text import clip
from worker.tracking import TrackRequest

__all__ = ["Store", "load_script"]


#: rollup entries kept: a day of one-minute snapshots
ROLLUP_MAXLEN = 1440
#: the longest error text a tracker keeps: our words around at most 200 of the gateway's
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class HistoryEntry:
    state: State
    raw_state: str
    at_ms: int


@dataclass(frozen=True)
class Tracker:
    """One tracker as stored."""

    id: str
    state: State
    raw_state: str
    outcome: Outcome
    until: State
    expires_at_ms: int
    created_at_ms: int
    checks: int
    errors: int
    history: list[HistoryEntry]
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def provider(self) -> str:
        return split_tracker_id(self.id)[0]

    @property
    def account(self) -> str:
        return split_tracker_id(self.id)[1]

    @property
    def msg_id(self) -> str:
        return split_tracker_id(self.id)[2]

    def as_json(self) -> dict[str, Any]:
        """The ``statuswatch status --json`` record: times in epoch seconds."""
        extra = {k: self.fields[k] for k in ("chat_id", "kind", "reason", "error") if self.fields.get(k)}
        if self.fields.get("detail"):
            extra["detail"] = json.loads(self.fields["detail"])
        return {
            "provider": self.provider, "account": self.account, "msg_id": self.msg_id,
            "state": self.state.value, "raw_state": self.raw_state, "outcome": self.outcome.value,
            "until": self.until.value, "expires_at": self.expires_at_ms / 1000,
            "created_at": self.created_at_ms / 1000, "checks": self.checks,
            "history": [
                {"state": h.state.value, "raw_state": h.raw_state, "at": h.at_ms / 1000}
                for h in self.history
            ],
            **extra,
        }  # fmt: skip


@dataclass(frozen=True)
class Registered:
    """What ``register`` did: ``created``, ``updated``, ``unchanged``, ``reopened`` or ``finished``."""

    status: str
    outcome: Outcome


@dataclass(frozen=True)
class Observed:
    """What ``observe`` did."""

    status: str  #: "ok", "gone" (no such tracker) or "finished" (already ended)
    state: State | None
    previous: State | None
    outcome: Outcome | None
    changed: bool


class Store:
    """The tracker store. ``redis`` is a redis-py client with ``decode_responses=True``."""

    def __init__(self, redis: Any, keys: Keys, retention_s: float, events_maxlen: int = 100_000) -> None:
        self.redis = redis
        self.keys = keys
        self.retention_ms = ms(retention_s)
        self.events_maxlen = events_maxlen
        self._register = REGISTER.load(redis)
        self._untrack = UNTRACK.load(redis)
        self._claim = CLAIM.load(redis)
        self._observe = OBSERVE.load(redis)
        self._defer = DEFER.load(redis)
        self._expire = EXPIRE.load(redis)
        self._prune = PRUNE.load(redis)
        self._rollup = ROLLUP.load(redis)

    def _tracker_keys(self, tracker_id: str) -> TrackerKeys:
        k, group = self.keys, group_of(tracker_id)
        return TrackerKeys(
            tracker=k.tracker(tracker_id), due=k.due(group), active=k.active, events=k.events, stats=k.stats,
            inflight=k.inflight(group),
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
                    events_maxlen=self.events_maxlen,
                    fields=tuple(item for kv in request.stored_fields().items() for item in kv),
                )  # fmt: skip
                self._register(self._tracker_keys(tracker_id), args, client=pipe)
            rows = pipe.execute()
        return [Registered(status, Outcome(outcome)) for status, outcome in rows]

    def untrack(self, tracker_id: str) -> Registered:
        """End an active tracker as cancelled (one event); ``gone`` or ``finished`` otherwise."""
        args = UntrackArgs(tracker_id=tracker_id, retention_ms=self.retention_ms, events_maxlen=self.events_maxlen)
        status, outcome = self._untrack(self._tracker_keys(tracker_id), args)
        return Registered(status, Outcome(outcome) if outcome else Outcome.ACTIVE)

    def claim_due(self, group: str, limit: int, lease_s: float, max_inflight: int | None = None) -> list[str]:
        """Take up to ``limit`` due trackers of one ``provider:account``; each comes due again
        after ``lease_s`` unless a check observes it first. With ``max_inflight``, no more than
        that many of the account's claims may wait for their check at once. A claimed tracker
        past its deadline ends here as timed_out and is not returned."""
        members = self._claim(
            ClaimKeys(due=self.keys.due(group), inflight=self.keys.inflight(group)),
            ClaimArgs(limit=limit, lease_ms=ms(lease_s), max_inflight=-1 if max_inflight is None else max_inflight),
        )
        return self._to_check(group, [f"{group}:{msg_id}" for msg_id in members], lease_s)

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
                trackers=tuple(map(k.tracker, tracker_ids)),
            ),
            ExpireArgs(
                retention_ms=self.retention_ms, events_maxlen=self.events_maxlen, lease_ms=ms(lease_s),
                tracker_ids=tuple(tracker_ids),
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
            events_maxlen=self.events_maxlen, counts=encode(counts or {}),
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
    ) -> Observed:
        """Apply one check's result: ``observation`` or, when None, the ``error`` it met;
        ``counts`` are added to the fleet counters in the same call. The gateway's strings
        (raw state, detail) are stored cut to ``MAX_CHARS``, the error to ``MAX_ERROR_CHARS``."""
        obs = observation
        detail = ""
        if obs and obs.detail:
            cut = {clip(str(k)): clip(str(v)) for k, v in obs.detail.items()}
            detail = json.dumps(cut, separators=(",", ":"))
        args = ObserveArgs(
            tracker_id=tracker_id, observed=obs.state.value if obs and obs.state else "",
            raw_state=clip(obs.raw) if obs else "", has_observation="1" if obs else "0", ceiling=ceiling.value,
            next_delay_ms=ms(next_delay_s), retention_ms=self.retention_ms, events_maxlen=self.events_maxlen,
            error=clip(error, MAX_ERROR_CHARS), not_found="1" if not_found else "0",
            not_found_grace_ms=ms(not_found_grace_s), detail=detail, counts=encode(counts or {}),
        )  # fmt: skip
        status, state, previous, outcome, changed = self._observe(self._tracker_keys(tracker_id), args)
        return Observed(
            status=status,
            state=State(state) if state else None,
            previous=State(previous) if previous else None,
            outcome=Outcome(outcome) if outcome else None,
            changed=bool(changed),
        )

    def get(self, tracker_id: str) -> Tracker | None:
        """One tracker, or None when it is unknown or its retention has passed."""
        return self.get_many([tracker_id])[0]

    def get_many(self, tracker_ids: Iterable[str]) -> list[Tracker | None]:
        ids = list(tracker_ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for tid in ids:
                pipe.hgetall(self.keys.tracker(tid))
            rows = pipe.execute()
        return [_tracker(tid, row) if row else None for tid, row in zip(ids, rows, strict=True)]

    def active_checks(self, tracker_ids: Iterable[str]) -> dict[str, int]:
        """Of these trackers, the active ones, with their number of checks so far."""
        ids = list(tracker_ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for tid in ids:
                pipe.hmget(self.keys.tracker(tid), "outcome", "checks")
            rows = pipe.execute()
        # no outcome field while active; no checks field: no such tracker
        return {tid: int(checks) for tid, (outcome, checks) in zip(ids, rows, strict=True) if checks and not outcome}

    def groups(self) -> list[str]:
        """``provider:account`` of every account with active trackers."""
        return sorted(self.active_counts())

    def due_count(self) -> int:
        """Trackers on the schedule (every active one is)."""
        groups = list(self.redis.hkeys(self.keys.active))
        with self.redis.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.zcard(self.keys.due(group))
            return sum(int(n) for n in pipe.execute())

    def oldest_due_ms(self) -> float | None:
        """The earliest next-check time on any schedule, epoch ms (for the dispatch lag)."""
        groups = self.groups()
        with self.redis.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.zrange(self.keys.due(group), 0, 0, withscores=True)
            firsts = [row[0][1] for row in pipe.execute() if row]
        return min(firsts) if firsts else None

    def stats(self) -> dict[str, int]:
        """Fleet counters: checks, deferrals by reason, 429s, pauses."""
        return {k: int(v) for k, v in self.redis.hgetall(self.keys.stats).items()}

    def count(self, name: str, n: int = 1) -> None:
        self.redis.hincrby(self.keys.stats, name, n)

    def add_counts(self, counts: Mapping[str, int]) -> None:
        """Add to several fleet counters at once (one round trip; nothing when empty)."""
        if not counts:
            return
        with self.redis.pipeline(transaction=False) as pipe:
            for name, n in counts.items():
                pipe.hincrby(self.keys.stats, name, n)
            pipe.execute()

    def average_latency_s(self, provider: str) -> float | None:
        """Mean latency of every gateway request of ``provider`` counted so far, or None."""
        fields = [f"latency_us:{provider}", *(f"latency:{provider}:{i}" for i in range(len(LATENCY_BUCKETS_S) + 1))]
        total_us, *counts = self.redis.hmget(self.keys.stats, fields)
        requests = sum(int(n) for n in counts if n)
        return int(total_us) / 1e6 / requests if total_us and requests else None

    def prune(self) -> tuple[list[str], list[str]]:
        """Repair each account's active count from its schedule, and forget accounts with no
        active tracker left (their count and in-flight set): (dropped, repaired)."""
        k = self.keys
        done = {
            g: self._prune(PruneKeys(active=k.active, due=k.due(g), inflight=k.inflight(g)), PruneArgs(group=g))
            for g in self.redis.hkeys(k.active)
        }
        return [g for g, r in done.items() if r == 1], [g for g, r in done.items() if r == 2]

    def rollup(self, period_s: float, maxlen: int = ROLLUP_MAXLEN) -> str | None:
        """Append a snapshot of the fleet counters to the rollup stream, once per period of
        the Redis clock however many callers ask; the new entry's id, or None."""
        k = self.keys
        entry = self._rollup(
            RollupKeys(stats=k.stats, rollup=k.rollup, rollup_period=k.rollup_period),
            RollupArgs(period_ms=ms(period_s), maxlen=maxlen),
        )
        return str(entry) or None

    def rollups(self, count: int = 10) -> list[dict[str, str]]:
        """The newest rollup entries, newest first."""
        return [{"id": eid, **fields} for eid, fields in self.redis.xrevrange(self.keys.rollup, count=count)]

    def active_counts(self) -> dict[str, int]:
        """Active trackers by ``provider:account``."""
        return {k: int(v) for k, v in self.redis.hgetall(self.keys.active).items() if int(v)}

    def events(self, count: int = 100, after: str = "-") -> list[dict[str, str]]:
        """Oldest-first events after stream id ``after`` (exclusive unless "-")."""
        start = after if after == "-" else f"({after}"
        return [{"id": eid, **fields} for eid, fields in self.redis.xrange(self.keys.events, start, "+", count)]

    def reject(self, rejections: Sequence[Mapping[str, str]]) -> None:
        """Record refused requests where an operator can list them (``statuswatch rejected``).

        Each entry is cut to REJECT_FIELD_CHARS per field and the stream to REJECTED_MAXLEN
        entries, so a flood of bad requests takes a bounded number of bytes.
        """
        with self.redis.pipeline(transaction=False) as pipe:
            for entry in rejections:
                fields = {k: v[:REJECT_FIELD_CHARS] for k, v in entry.items()}
                pipe.xadd(self.keys.rejected, fields, maxlen=REJECTED_MAXLEN, approximate=True)
            pipe.hincrby(self.keys.stats, "rejected", len(rejections))
            pipe.execute()

    def set_misrouted(self, counts: Mapping[str, int]) -> None:
        """Replace the last count of statuswatch tasks waiting on queues nobody of ours reads."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.misrouted)
            if counts:
                pipe.hset(self.keys.misrouted, mapping=dict(counts))
            pipe.execute()

    def misrouted(self) -> dict[str, int]:
        return {queue: int(n) for queue, n in self.redis.hgetall(self.keys.misrouted).items()}

    def rejected(self, count: int = 100) -> list[dict[str, str]]:
        """The newest refused requests, newest first."""
        return [{"id": eid, **fields} for eid, fields in self.redis.xrevrange(self.keys.rejected, count=count)]


#: the rejected stream: at most about this many entries of at most this many characters a
#: field (4 fields: task, task_id, reason, request), about 16 MB in all at worst
REJECTED_MAXLEN = 10_000
REJECT_FIELD_CHARS = 1000


def parse_history(text: str, created_at_ms: int) -> list[HistoryEntry]:
    """``state|raw|ms since created;...`` (raw %-escaped) -> entries with absolute times."""
    entries = []
    for item in filter(None, text.split(";")):
        state, raw, since_ms = item.split("|")
        entries.append(HistoryEntry(State(state), unquote(raw), created_at_ms + int(since_ms)))
    return entries


def _tracker(tracker_id: str, row: Mapping[str, str]) -> Tracker:
    history = parse_history(row.get("history", ""), int(row["created_at"]))
    return Tracker(
        id=tracker_id,
        state=State(row["state"]),
        raw_state=row.get("raw_state", ""),
        outcome=Outcome(row.get("outcome", "active")),  # written only when the tracker ends
        until=State(row["until"]),
        expires_at_ms=int(row["expires_at"]),
        created_at_ms=int(row["created_at"]),
        checks=int(row.get("checks", 0)),
        errors=int(row.get("errors", 0)),
        history=history,
        fields=row,
    )
