"""What a gateway's refusal of a whole credential does, for the fleet: a 429 cools the
credential down, an account error pauses it. Checks and batch syncs both call these."""

from __future__ import annotations

import logging

from config import Account, Settings
from worker.fleet import Ledger
from worker.ratelimit import Limiter
from worker.redact import Redactor

log = logging.getLogger("statuswatch")


class Credentials:
    def __init__(self, settings: Settings, limiter: Limiter, ledger: Ledger, redactor: Redactor) -> None:
        self.settings = settings
        self.limiter = limiter
        self.ledger = ledger
        self.redactor = redactor

    def cool_down(self, account: Account, retry_after_s: float | None) -> float:
        """A 429: the whole fleet leaves this credential alone for Retry-After (or the
        default), at most ``max_retry_after_s``. Returns the seconds."""
        seconds = retry_after_s if retry_after_s else self.settings.rate_cooldown_s
        if seconds > self.settings.max_retry_after_s:
            log.warning("account %s: Retry-After %.0f s clamped to %.0f s", account.alias, seconds,
                        self.settings.max_retry_after_s)  # fmt: skip
            seconds = self.settings.max_retry_after_s
        self.limiter.cool_down(account, seconds)  # the 429 itself is counted with the request
        log.warning("account %s: gateway answered 429; credential cooled down for %.1f s", account.alias, seconds)
        return seconds

    def pause(self, account: Account, error: str) -> float:
        """An account error: pause the credential for everyone, once, loudly; trackers wait.
        Returns the seconds the pause has left."""
        seconds = self.settings.account_pause_s
        if self.limiter.pause(account, seconds, self.redactor(error)):
            self.ledger.add_counts({"pauses": 1, f"pauses:{account.alias}": 1})
            log.error("account %s paused for %.0f s: %s (its trackers wait, none fails)", account.alias, seconds, error)
        blocked = self.limiter.blocked(account)
        return blocked[0] if blocked else 0.001
