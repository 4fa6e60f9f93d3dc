"""Polling comes back by itself when an account's pushes stop: housekeeping finds each account
marked pushing whose last push is older than ``STATUSWATCH_PUSH_LIVE_S``, and revive.lua brings
its trackers scheduled on the safety net (far ahead) due within the account's first poll
interval, then unmarks it (docs/push.md)."""

from __future__ import annotations

from typing import Any

from config import Settings
from worker.keys import Keys
from worker.push.scripts import ReviveArgs, ReviveKeys
from worker.scripts import REVIVE, ms

#: the most trackers of one account brought forward by one housekeeping pass
LIMIT = 10_000


class Revive:
    def __init__(self, redis: Any, keys: Keys, settings: Settings) -> None:
        self.redis, self.keys, self.settings = redis, keys, settings
        self._revive = REVIVE.load(redis)

    def run(self) -> dict[str, int]:
        """Accounts whose pushes stopped -> trackers brought forward (stopped ones only)."""
        live_s = self.settings.push.live_s
        if live_s <= 0:
            return {}
        (seconds, micros), seen = self._seen()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        revived = {}
        for group, at in seen.items():
            if now_ms - int(at) < live_s * 1000:
                continue
            soon_s = self.settings.poll_for(group.partition(":")[0]).first_s
            moved = self._revive(
                ReviveKeys(pushed=self.keys.push.seen, due=self.keys.due(group)),
                ReviveArgs(group=group, live_ms=ms(live_s), soon_ms=max(1000, ms(soon_s)), limit=LIMIT),
            )
            if int(moved) >= 0:
                revived[group] = int(moved)
        return revived

    def _seen(self) -> tuple[tuple[str, str], dict[str, str]]:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.hgetall(self.keys.push.seen)
            when, seen = pipe.execute()
        return when, seen
