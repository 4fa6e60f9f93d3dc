"""Reading the events stream with a consumer group: each entry to one consumer of the group,
pending until acknowledged, and entries a dead consumer left pending re-claimed by a live
one (``XAUTOCLAIM``, Redis 6.2). docs/contract.md, "Consumer groups on the stream"."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import redis

from worker.events import event_object
from worker.keys import Keys

#: entries pending longer than this (another consumer took them and never acknowledged) are re-claimed
MIN_IDLE_S = 60.0


class EventGroup:
    """One consumer of one group on the events stream."""

    def __init__(
        self, client: Any, keys: Keys, group: str, consumer: str, *, start: str = "$", min_idle_s: float = MIN_IDLE_S
    ) -> None:
        self.redis = client
        self.stream = keys.events
        self.group = group
        self.consumer = consumer
        self.min_idle_ms = int(min_idle_s * 1000)
        self._ensure(start)

    def _ensure(self, start: str) -> None:
        """Create the group (``start``: ``$`` new entries only, ``0`` the whole stream) unless it exists."""
        try:
            self.redis.xgroup_create(self.stream, self.group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, count: int = 100, block_ms: int | None = None) -> list[dict[str, Any]]:
        """Up to ``count`` events for this consumer: re-claimed ones first, then new ones
        (waiting up to ``block_ms`` for some when there are none)."""
        claimed = self.redis.xautoclaim(self.stream, self.group, self.consumer, self.min_idle_ms, "0-0", count=count)
        entries = [(eid, fields) for eid, fields in claimed[1] if fields]
        # entries trimmed while pending come back with no fields; Redis 6.2 keeps them pending
        # (7.0 drops them itself): acknowledged, or they would stay pending for ever
        self.ack(str(eid) for eid, fields in claimed[1] if eid is not None and not fields)
        if len(entries) < count:
            answer = self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=count - len(entries), block=block_ms
            )
            for _, items in answer or []:
                entries.extend(items)
        return [event_object(eid, fields) for eid, fields in entries]

    def ack(self, event_ids: Iterable[str]) -> int:
        ids = list(event_ids)
        return int(self.redis.xack(self.stream, self.group, *ids)) if ids else 0


def group_lags(client: Any, keys: Keys, now_s: float | None = None) -> dict[str, tuple[float, int]]:
    """Each group of the stream: (age of its oldest unacknowledged entry in seconds, 0 when
    none; entries not yet read by it, or -1 where Redis does not say)."""
    now_ms = (time.time() if now_s is None else now_s) * 1000
    try:
        groups = client.xinfo_groups(keys.events)
    except redis.ResponseError:  # no stream yet
        return {}
    out: dict[str, tuple[float, int]] = {}
    for info in groups:
        name = str(info["name"])
        pending = client.xpending(keys.events, name)
        oldest = pending.get("min")
        age = max(0.0, (now_ms - int(str(oldest).split("-")[0])) / 1000) if oldest else 0.0
        lag = info.get("lag")
        out[name] = (age, int(lag) if lag is not None else -1)
    return out
