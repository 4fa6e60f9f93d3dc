"""The KEYS and ARGV of the deliveries' scripts (notify_*.lua), named as ``worker.scripts``
names the others' (which lists them in ``SCRIPTS``)."""

from __future__ import annotations

from typing import NamedTuple


class NotifyClaimKeys(NamedTuple):
    notify: str


class NotifyClaimArgs(NamedTuple):
    limit: int
    lease_ms: int


class NotifyBeginKeys(NamedTuple):
    outbox: str
    delivery: str
    tracker: str
    notify: str
    since: str
    stats: str


class NotifyBeginArgs(NamedTuple):
    tracker_id: str
    token: str
    lease_ms: int


class NotifySlotKeys(NamedTuple):
    busy: str
    pace: str


class NotifySlotArgs(NamedTuple):
    token: str
    lease_ms: int
    concurrency: int
    interval_us: int


class NotifyDoneKeys(NamedTuple):
    outbox: str
    delivery: str
    notify: str
    since: str
    stats: str
    busy: str


class NotifyDoneArgs(NamedTuple):
    tracker_id: str
    token: str
    event_id: str
    result: str  #: delivered, given_up, retry, wait, task_sent
    delay_ms: int
    error: str
    retention_ms: int
    counts: str  #: ``worker.tally.encode``


class NotifyRenewKeys(NamedTuple):
    delivery: str
    notify: str
    busy: str
