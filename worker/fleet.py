"""The whole fleet's records in Redis, apart from trackers: counters, schedules, streams.

``Fleet`` reads them for operators (``statuswatch stats|events|rejected``, the metrics, the
dispatcher's view of which accounts have work); ``Ledger`` adds to them what no tracker's
write carries (counts, refused requests); ``Maintenance`` holds the periodic upkeep's
writes. The tracker scripts (``worker.store``) write the counters and streams that
``Fleet`` reads, in the same call as each tracker's change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from worker.keys import Keys
from worker.scripts import PRUNE, ROLLUP, PruneArgs, PruneKeys, RollupArgs, RollupKeys, ms
from worker.tally import LATENCY_BUCKETS_S

#: rollup entries kept: a day of one-minute snapshots
ROLLUP_MAXLEN = 1440
#: the rejected stream: at most about this many entries of at most this many characters a
#: field (4 fields: task, task_id, reason, request), about 16 MB in all at worst
REJECTED_MAXLEN = 10_000
REJECT_FIELD_CHARS = 1000


class Fleet:
    """Read-only view of the fleet. ``redis`` is a redis-py client with ``decode_responses=True``."""

    def __init__(self, redis: Any, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def stats(self) -> dict[str, int]:
        """Fleet counters: checks, deferrals by reason, 429s, pauses (``docs/store.md``)."""
        return {k: int(v) for k, v in self.redis.hgetall(self.keys.stats).items()}

    def active_counts(self) -> dict[str, int]:
        """Active trackers by ``provider:account``."""
        return {k: int(v) for k, v in self.redis.hgetall(self.keys.active).items() if int(v)}

    def groups(self) -> list[str]:
        """``provider:account`` of every account with active trackers."""
        return sorted(self.active_counts())

    def pushing(self, live_s: float) -> dict[str, float]:
        """``provider:account`` of each account whose last push came within ``live_s`` (on the
        Redis clock) -> how long ago, s: its polling backs off to the safety net (docs/push.md)."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.hgetall(self.keys.push.seen)
            (seconds, micros), seen = pipe.execute()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        ages = {group: (now_ms - int(at)) / 1000 for group, at in seen.items()}
        return {group: age for group, age in ages.items() if age < live_s}

    def due_count(self) -> int:
        """Trackers on the schedule (every active one is)."""
        groups = list(self.redis.hkeys(self.keys.active))
        with self.redis.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.zcard(self.keys.due(group))
            return sum(int(n) for n in pipe.execute())

    def dispatch_lag_s(self) -> float:
        """Now on the Redis clock (the schedules' clock) minus the earliest next-check time on
        any schedule; 0 when nothing is overdue."""
        groups = self.groups()
        if not groups:
            return 0.0
        with self.redis.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.zrange(self.keys.due(group), 0, 0, withscores=True)
            pipe.time()
            *firsts, (now_s, now_us) = pipe.execute()
        scores = [float(row[0][1]) for row in firsts if row]
        if not scores:
            return 0.0
        return max(0.0, int(now_s) + int(now_us) / 1e6 - min(scores) / 1000)

    def average_latency_s(self, provider: str) -> float | None:
        """Mean latency of every gateway request of ``provider`` counted so far, or None."""
        fields = [f"latency_us:{provider}", *(f"latency:{provider}:{i}" for i in range(len(LATENCY_BUCKETS_S) + 1))]
        total_us, *counts = self.redis.hmget(self.keys.stats, fields)
        requests = sum(int(n) for n in counts if n)
        return int(total_us) / 1e6 / requests if total_us and requests else None

    def rollups(self, count: int = 10) -> list[dict[str, str]]:
        """The newest rollup entries, newest first."""
        return [{"id": eid, **fields} for eid, fields in self.redis.xrevrange(self.keys.rollup, count=count)]

    def events(self, count: int = 100, after: str = "-") -> list[dict[str, str]]:
        """Oldest-first events after stream id ``after`` (exclusive unless "-")."""
        start = after if after == "-" else f"({after}"
        return [{"id": eid, **fields} for eid, fields in self.redis.xrange(self.keys.events, start, "+", count)]

    def tail_events(self, count: int, follow: bool = False, block_ms: int = 1000) -> Iterator[dict[str, str]]:
        """The newest ``count`` events, oldest first; with ``follow``, then each new one as
        it comes, for ever (``XREAD BLOCK`` of ``block_ms`` at a time)."""
        last = "0-0"  # an empty stream: every event to come is new
        for eid, fields in reversed(self.redis.xrevrange(self.keys.events, count=count)):
            last = eid
            yield {"id": eid, **fields}
        while follow:
            for _, entries in self.redis.xread({self.keys.events: last}, block=block_ms, count=100) or []:
                for eid, fields in entries:
                    last = eid
                    yield {"id": eid, **fields}

    def rejected(self, count: int = 100) -> list[dict[str, str]]:
        """The newest refused requests, newest first."""
        return [{"id": eid, **fields} for eid, fields in self.redis.xrevrange(self.keys.rejected, count=count)]

    def misrouted(self) -> dict[str, int]:
        """Housekeeping's last count of statuswatch tasks on queues nobody of ours reads."""
        return {queue: int(n) for queue, n in self.redis.hgetall(self.keys.misrouted).items()}


class Ledger:
    """What the engine adds to the fleet's records outside a tracker's script: counters (a
    re-sent check, a batch request's gateway calls, a pause) and refused requests."""

    def __init__(self, redis: Any, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def add_counts(self, counts: Mapping[str, int]) -> None:
        """Add to several fleet counters at once (one round trip; nothing when empty)."""
        if not counts:
            return
        with self.redis.pipeline(transaction=False) as pipe:
            for name, n in counts.items():
                pipe.hincrby(self.keys.stats, name, n)
            pipe.execute()

    def reject(self, rejections: Sequence[Mapping[str, str]]) -> None:
        """Record refused requests where an operator can list them (``statuswatch rejected``,
        ``Fleet.rejected``), and count them.

        Each entry is cut to REJECT_FIELD_CHARS per field and the stream to REJECTED_MAXLEN
        entries, so a flood of bad requests takes a bounded number of bytes.
        """
        with self.redis.pipeline(transaction=False) as pipe:
            for entry in rejections:
                fields = {k: v[:REJECT_FIELD_CHARS] for k, v in entry.items()}
                pipe.xadd(self.keys.rejected, fields, maxlen=REJECTED_MAXLEN, approximate=True)
            pipe.hincrby(self.keys.stats, "rejected", len(rejections))
            pipe.execute()


class Maintenance:
    """The periodic upkeep's writes: active counts repaired, rollups, misrouted counts."""

    def __init__(self, redis: Any, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._prune = PRUNE.load(redis)
        self._rollup = ROLLUP.load(redis)

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

    def set_misrouted(self, counts: Mapping[str, int]) -> None:
        """Replace the last count of statuswatch tasks waiting on queues nobody of ours reads."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.misrouted)
            if counts:
                pipe.hset(self.keys.misrouted, mapping=dict(counts))
            pipe.execute()
