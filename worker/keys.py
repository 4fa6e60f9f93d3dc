"""Every Redis key statuswatch writes, in one place, under one namespace with a schema version,
and the one cleaner of the keys under a prefix (``delete_prefix``).

Lua scripts receive all of these through ``KEYS``; none is built inside a script.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

SCHEMA = "v1"
#: keys a cleaner deletes with one DEL
DELETE_BATCH = 500


class NotifyKeys:
    """The keys of deliveries to callbacks, under the same prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        #: ZSET of trackers with events to deliver (member: the tracker id) -> next attempt, epoch ms
        self.due = f"{prefix}:notify:due"
        #: ZSET of trackers with events to deliver -> the time of the oldest of them, epoch ms
        self.since = f"{prefix}:notify:since"

    def outbox(self, tracker_id: str) -> str:
        """LIST of one tracker's events not yet delivered to its callback, oldest first (event JSON)."""
        return f"{self.prefix}:outbox:{tracker_id}"

    def delivery(self, tracker_id: str) -> str:
        """HASH of one tracker's delivery state: attempts, last delivered event, last error."""
        return f"{self.prefix}:delivery:{tracker_id}"

    def busy(self, target: str) -> str:
        """ZSET of deliveries under way to one callback target (member: a lease token) -> lease end, ms."""
        return f"{self.prefix}:notify:busy:{target}"

    def pace(self, target: str) -> str:
        """STRING: the next start a callback target's rate cap allows (epoch µs)."""
        return f"{self.prefix}:notify:pace:{target}"


class PushKeys:
    """The keys of push ingestion (docs/push.md), under the same prefix."""

    def __init__(self, prefix: str) -> None:
        #: HASH tracker id -> a push that came before its track request (JSON: state, raw, reason, provider_ts)
        self.early = f"{prefix}:push:early"
        #: ZSET tracker id -> when that push came, epoch ms (the early pushes' bounds)
        self.early_at = f"{prefix}:push:early-at"
        #: HASH "provider:account" -> the account's last push, epoch ms (polling backs off while it is fresh)
        self.seen = f"{prefix}:push:seen"


class Keys:
    """Key names under ``{namespace}:v1:``."""

    def __init__(self, namespace: str) -> None:
        self.prefix = f"{namespace}:{SCHEMA}"
        #: HASH counters of the whole fleet: checks, deferrals by reason, 429s, pauses
        self.stats = f"{self.prefix}:stats"
        #: HASH "provider:account" -> number of active trackers
        self.active = f"{self.prefix}:active"
        #: STREAM of state changes (see docs/store.md)
        self.events = f"{self.prefix}:events"
        #: STREAM of track requests the worker refused, with the reason
        self.rejected = f"{self.prefix}:rejected"
        #: HASH queue -> statuswatch tasks waiting there, where no statuswatch worker reads
        #: (written by housekeeping, read by the metrics)
        self.misrouted = f"{self.prefix}:misrouted"
        #: STREAM of periodic snapshots of ``stats`` (housekeeping), one per period
        self.rollup = f"{self.prefix}:rollup"
        #: STRING: the last period a rollup was written for (two beats write it once)
        self.rollup_period = f"{self.prefix}:rollup-period"
        #: the deliveries to callbacks
        self.notify = NotifyKeys(self.prefix)
        #: push ingestion
        self.push = PushKeys(self.prefix)

    def due(self, group: str) -> str:
        """ZSET of one account's active trackers (member: the msg_id) -> next check time, epoch ms.

        One schedule per ``provider:account``, so the dispatcher can take from each only
        what its rate limit allows without a slow account blocking the others.
        """
        return f"{self.prefix}:due:{group}"

    def inflight(self, group: str) -> str:
        """ZSET of one account's claimed, not yet observed trackers (msg_id -> claimed at, ms)."""
        return f"{self.prefix}:inflight:{group}"

    def tracker(self, tracker_id: str) -> str:
        """HASH of one tracker (see docs/store.md for its fields)."""
        return f"{self.prefix}:t:{tracker_id}"

    def rate(self, credential: str, bucket: str) -> str:
        """STRING: next pacing slot (GCRA arrival time, epoch µs) of one credential's bucket (``*`` or a method)."""
        return f"{self.prefix}:rate:{credential}:{bucket}"

    def grants(self, credential: str, bucket: str) -> str:
        """LIST: the last K grant times (epoch µs, newest first) of a bucket limited to K per window."""
        return f"{self.prefix}:grants:{credential}:{bucket}"

    def cooldown(self, credential: str) -> str:
        """STRING with a TTL: the credential got a 429; nobody calls it until this expires."""
        return f"{self.prefix}:cool:{credential}"

    def plan(self, credential: str) -> str:
        """STRING: end of the check slots the dispatcher has handed out, epoch µs."""
        return f"{self.prefix}:plan:{credential}"

    def pause(self, credential: str) -> str:
        """STRING with a TTL: the account failed (bad token...); its trackers wait."""
        return f"{self.prefix}:pause:{credential}"

    def pattern(self) -> str:
        """Glob matching every key of this namespace."""
        return f"{self.prefix}:*"


def tracker_id(provider: str, account: str, msg_id: str) -> str:
    """The id of the tracker of one message: ``provider:account:msg_id``."""
    return f"{provider}:{account}:{msg_id}"


def group_of(tracker_id: str) -> str:
    """``provider:account`` of a tracker id: the key of its due schedule and active count."""
    provider, account, _ = split_tracker_id(tracker_id)
    return f"{provider}:{account}"


def split_tracker_id(value: str) -> tuple[str, str, str]:
    """Inverse of ``tracker_id``.

    Raises:
        ValueError: the value is not ``provider:account:msg_id``.
    """
    provider, sep, rest = value.partition(":")
    account, sep2, msg_id = rest.partition(":")
    if not (sep and sep2 and provider and account and msg_id):
        raise ValueError(f"tracker: expected 'provider:account:msg_id', got {value!r}")
    return provider, account, msg_id


def prefix_pattern(prefix: str) -> str:
    """A SCAN ``MATCH`` glob for the keys that start with ``prefix``, its own ``*?[]\\`` taken literally."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete the keys that start with ``prefix``, and only those (SCAN, then DEL in batches);
    returns how many were deleted. Every cleaner of a namespace or broker prefix uses this.

    Raises:
        ValueError: an empty prefix (it would name every key of the database).
    """
    if not prefix:
        raise ValueError("delete_prefix: an empty prefix names every key")
    deleted, batch = 0, []
    for key in client.scan_iter(match=prefix_pattern(prefix), count=1000):
        batch.append(key)
        if len(batch) == DELETE_BATCH:
            deleted += int(client.delete(*batch))
            batch = []
    if batch:
        deleted += int(client.delete(*batch))
    return deleted
