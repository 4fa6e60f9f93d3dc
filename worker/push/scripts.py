"""The KEYS and ARGV of push ingestion's own script (revive.lua), named as ``worker.scripts``
names the others' (which lists it in ``SCRIPTS``); ``register`` and ``observe`` take
``worker.scripts.ObserveKeys``."""

from __future__ import annotations

from typing import NamedTuple


class ReviveKeys(NamedTuple):
    pushed: str
    due: str


class ReviveArgs(NamedTuple):
    group: str
    live_ms: int
    soon_ms: int
    limit: int
