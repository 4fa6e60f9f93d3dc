"""Per-credential rate limits shared by every worker: one Redis round trip per decision.

A credential is the token (WAMM), the api key (WBizTool) or the instance (GREEN-API), so two
aliases of one credential share one budget. Each request takes one token from every bucket
that applies to it: the account's ``rate_limit`` ("*") and its method's limit. A denied
request never waits: the caller defers its tracker by ``retry_after_s``.

Each bucket is an exact sliding window (the last K grant times: no window of the limit's
period, widened by ``margin``, ever holds more than K) paced by GCRA (grants spread one
interval apart; a grant that comes a little late does not push later ones back, so callers
that are always a few ms late still get the whole limit). A check the dispatcher planned
(``plan``) is paced by its own slot instead of the grid, where the bucket keeps its log; one
late to its slot catches up as fast as the log allows. See ``lua/acquire.lua``.

Why not the ``limits`` library: its Redis strategies answer allowed/denied per call and the
time to wait needs a second call; its moving window is exact but unpaced, so a fleet would
fire each window's requests in one burst. The script is about 60 lines.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from config import GATEWAYS, Account, Rate, parse_rate
from worker.keys import Keys
from worker.scripts import ACQUIRE, PLAN, AcquireArgs, AcquireKeys, PlanArgs, PlanKeys


def documented_limit(provider: str, method: str) -> Rate | None:
    """The gateway's documented limit of ``method``: its table entry's ``method_limits``
    (GREEN-API's, https://green-api.com/en/docs/api/ratelimiter/; WAMM and WBizTool document none)."""
    gateway = GATEWAYS.get(provider)
    text = gateway.method_limits.get(method) if gateway is not None else None
    return None if text is None else _rate(text, provider)


@functools.cache
def _rate(text: str, provider: str) -> Rate:
    return parse_rate(text, f"config/gateways.py: {provider}.method_limits")


#: requests are spaced this fraction wider than the limit, and the exact window is this much
#: longer than the limit's period, so the time between our grant and the gateway counting
#: the request (thread scheduling, the network) can vary by that much (30 ms of a second)
#: without the gateway seeing a window over its limit; it costs the same fraction of the
#: limit. Why 3 %: docs/decisions.md, "An exact sliding window, paced by GCRA".
MARGIN = 0.03

#: the share of the margin (of a bucket's period) a grant's request may take to leave the
#: process (``worker.arrival``); the rest of the margin is the network's and the
#: gateway's: together they keep every window at the gateway within the limit
#: (docs/architecture.md, "Limits where the gateway counts")
FRESH = 0.5
#: the share of the margin left for the network's jitter on the way to the gateway
JITTER = 0.25

#: how early (a fraction of the pacing interval) a request may come before its slot; the
#: exact sliding window still holds, so this only absorbs start-time jitter, and planned
#: checks can be spaced at exactly the limiter's interval
EARLY = 0.5

#: how late (in pacing intervals) a request may come and still take its slot on the grid;
#: the slots missed meanwhile go to the next requests (the exact window, or for large
#: limits the margin, still bounds every period). A fleet that falls behind for a moment
#: (a busy core, a slow answer) thus makes up the lost slots instead of losing them.
LATE = 3


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float
    #: "ok", "rate" (bucket empty), "cooldown" (after a 429) or "paused" (account error)
    reason: str
    #: Redis time of the grant, epoch µs (0 when denied)
    granted_at_us: int = 0
    #: denied only because a planned check came before its own slot (the window has room)
    early: bool = False


@dataclass(frozen=True)
class Plan:
    """Slots reserved for a credential's checks: the i-th starts ``offset_s + i * spacing``
    from now, at ``slot_us(i)`` on Redis's clock."""

    offset_s: float
    first_us: int
    spacing_us: int

    def slot_us(self, i: int) -> int:
        return self.first_us + i * self.spacing_us

    def start_s(self, i: int) -> float:
        return self.offset_s + i * self.spacing_us / 1e6


class Limiter:
    """Decides, for the whole fleet, whether one more request to a gateway may go now."""

    def __init__(self, redis: Any, keys: Keys, default_rate: Rate, margin: float = MARGIN) -> None:
        self.redis = redis
        self.keys = keys
        self.default_rate = default_rate
        self.margin = margin
        self._acquire = ACQUIRE.load(redis)
        self._plan = PLAN.load(redis)

    def buckets(self, account: Account, method: str) -> dict[str, Rate]:
        """Every bucket a request of ``method`` takes from: ``*`` and/or the method's own."""
        method_rate = account.method_limits.get(method) or documented_limit(account.provider, method)
        buckets: dict[str, Rate] = {}
        if account.rate_limit is not None or method_rate is None:
            buckets["*"] = account.rate_limit or self.default_rate
        if method_rate is not None:
            buckets[method] = method_rate
        return buckets

    def rate_per_s(self, account: Account, method: str) -> float:
        """Requests per second of ``method`` the credential may make at most."""
        return min(rate.count / rate.per_s for rate in self.buckets(account, method).values())

    def spacing_s(self, rate_per_s: float) -> float:
        """Planned time between two checks at ``rate_per_s``: the limiter's interval. A check
        that starts a little early (``EARLY``) or late still gets its slot."""
        return (1 + self.margin) / rate_per_s

    def planned_ahead_s(self, account: Account) -> float:
        """How far into the future this credential's checks are already planned."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.get(self.keys.plan(account.credential_key))
            (now_s, now_us), planned = pipe.execute()
        ahead_us = int(planned or 0) - (int(now_s) * 1_000_000 + int(now_us))
        return max(0.0, ahead_us / 1e6)

    def plan(self, account: Account, rate_per_s: float, count: int) -> Plan:
        """Reserve ``count`` check slots for the credential, one ``spacing_s`` apart."""
        spacing_us = math.ceil(self.spacing_s(rate_per_s) * 1e6)
        offset_us, first_us = self._plan(
            PlanKeys(plan=self.keys.plan(account.credential_key)), PlanArgs(spacing_us=spacing_us, slots=count)
        )
        return Plan(int(offset_us) / 1e6, int(first_us), spacing_us)

    def acquire(self, account: Account, method: str, slot_us: int = 0) -> Decision:
        """Take one request's worth of every bucket, or say how long to wait.

        ``slot_us``: the slot a planned check was given (``plan``); it is paced by that slot
        instead of the grid wherever a bucket keeps its log (see ``lua/acquire.lua``).
        """
        credential = account.credential_key
        bucket_keys: list[str] = []
        args: list[int] = []
        for name, rate in self.buckets(account, method).items():
            bucket_keys += [self.keys.rate(credential, name), self.keys.grants(credential, name)]
            # K grants per window; a fractional limit (1.5/s) becomes a shorter window (1 per 0.67 s)
            count = max(1, math.floor(rate.count))
            window_us = math.ceil(rate.per_s * count / rate.count * 1e6 * (1 + self.margin))
            interval_us = math.ceil(window_us / count)
            args += [
                count if self.needs_log(count) else 0, window_us, interval_us,
                math.floor(interval_us * EARLY), interval_us * LATE,
            ]  # fmt: skip
        keys = AcquireKeys(
            pause=self.keys.pause(credential), cooldown=self.keys.cooldown(credential), buckets=tuple(bucket_keys)
        )
        allowed, retry_after_ms, reason, granted, early = self._acquire(
            keys, AcquireArgs(buckets=tuple(args), slot_us=slot_us)
        )
        return Decision(bool(allowed), int(retry_after_ms) / 1000, str(reason), int(granted or 0), bool(early))

    def needs_log(self, count: int) -> bool:
        """Whether a limit of ``count`` per period needs the exact window's log of grants.

        Requests arrive up to ``(FRESH + JITTER) * margin`` of a period after their grants,
        so one period at the gateway sees the grants of ``1 + (FRESH + JITTER) * margin``
        periods. Pacing alone lets at most ``count * that / (1 + margin) + 1 + LATE + EARLY``
        grants into it (one on the grid's restart, LATE made up, one early), which is within
        the limit from about 620 per period up (margin 3 %): those buckets keep no log.
        """
        slack = self.margin * (1 - FRESH - JITTER)
        return slack <= 0 or count < (1 + LATE + EARLY) * (1 + self.margin) / slack

    def fresh_s(self, account: Account, method: str) -> float:
        """How long after asking for a grant its request may still leave: ``FRESH`` of the
        margin of the shortest period among the request's buckets."""
        return min(FRESH * self.margin * rate.per_s / rate.count * max(1, math.floor(rate.count))
                   for rate in self.buckets(account, method).values())  # fmt: skip

    def refund(self, account: Account, method: str, granted_at_us: int) -> None:
        """Hand back a grant whose request never left (``worker.arrival.StaleGrant``): its
        entry leaves every log, so the window has its room again. The pacing grid stays."""
        stamp = str(granted_at_us)
        with self.redis.pipeline(transaction=False) as pipe:
            for name, rate in self.buckets(account, method).items():
                if self.needs_log(max(1, math.floor(rate.count))):
                    pipe.lrem(self.keys.grants(account.credential_key, name), 1, stamp)
            pipe.execute()

    def cool_down(self, account: Account, seconds: float) -> None:
        """After a 429: no request of this credential, from any worker, for ``seconds``."""
        self.redis.set(self.keys.cooldown(account.credential_key), "429", px=max(1, math.ceil(seconds * 1000)))

    def pause(self, account: Account, seconds: float, reason: str) -> bool:
        """Pause the credential after an account error; True when this call started the pause."""
        started = self.redis.set(
            self.keys.pause(account.credential_key), reason[:300], px=max(1, math.ceil(seconds * 1000)), nx=True
        )
        return bool(started)

    def blocked(self, account: Account) -> tuple[float, str] | None:
        """(seconds, "paused" | "cooldown") until the credential may be used again; None when free."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.pttl(self.keys.pause(account.credential_key))
            pipe.pttl(self.keys.cooldown(account.credential_key))
            paused_ms, cooling_ms = pipe.execute()
        if paused_ms > 0:
            return paused_ms / 1000, "paused"
        if cooling_ms > 0:
            return cooling_ms / 1000, "cooldown"
        return None
