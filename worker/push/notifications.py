"""``statuswatch notifications``: GREEN-API's notification queue read, for deployments that
cannot take inbound HTTP (ReceiveNotification and DeleteNotification,
https://green-api.com/en/docs/api/receiving/technology-http-api/ReceiveNotification/).

One thread per account with ``notifications = true``: a long poll (``receiveTimeout``, 5 to
60 s), the notification applied through the same observe step as a webhook's, and only then
deleted from the queue. A consumer that dies between the two (SIGKILL) reads the same
notification again at its next start: applying it twice changes nothing. One that cannot
be read as a push, or names another instance, is counted and deleted (it would otherwise
stay first in the FIFO queue for 24 hours, blocking the rest).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import redis.exceptions

from config import Account, Settings
from worker import providers
from worker.errors import AccountError, ProviderError
from worker.providers.greenapi import GreenApi
from worker.push.ingest import apply
from worker.push.parse import BadPush, greenapi_body, same_instance
from worker.redact import Redactor
from worker.store import Store

log = logging.getLogger("statuswatch.notifications")

#: first pause after a failed step, doubled up to MAX_BACKOFF_S
BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0


class Consumer:
    """One instance's queue: ``step`` takes one notification; ``run`` steps until ``stop``."""

    def __init__(self, store: Store, account: Account, queue: Any, receive_timeout_s: int) -> None:
        self.store, self.account, self.queue = store, account, queue
        self.receive_timeout_s = receive_timeout_s
        self.stop = threading.Event()

    def step(self) -> str:
        """One receive: "empty" (none came), "applied", "ignored" (no status), or "dropped" (one
        that is no push of this instance). Raises the gateway's and the store's errors; then
        the notification stays in the queue."""
        got = self.queue.receive_notification(self.receive_timeout_s)
        if got is None:
            return "empty"
        receipt, body = got
        outcome = self._take(body)
        self.queue.delete_notification(receipt)
        return outcome

    def _take(self, body: Any) -> str:
        provider = self.account.provider
        try:
            parsed = greenapi_body(body)
        except BadPush as exc:
            log.warning("notifications: %s: a notification that is no push (%s): dropped", self.account.alias, exc)
            return self._count(f"push:{provider}:dropped", "dropped")
        if not same_instance(parsed.instance, self.account.credentials["id_instance"]):
            log.warning("notifications: %s: a notification of another instance: dropped", self.account.alias)
            return self._count(f"push:{provider}:dropped", "dropped")
        for push in parsed.pushes:
            apply(self.store, self.account, push)
        if parsed.ignored:
            return self._count(f"push:{provider}:ignored:{parsed.ignored}", "ignored")
        return "applied"

    def _count(self, name: str, outcome: str) -> str:
        self.store.redis.hincrby(self.store.keys.stats, name, 1)
        return outcome

    def run(self, pause_s: float = 300.0) -> None:
        """Step until ``stop`` is set; a failed step waits (backing off), an account error ``pause_s``."""
        backoff = BACKOFF_S
        while not self.stop.is_set():
            try:
                self.step()
                backoff = BACKOFF_S
            except AccountError as exc:
                log.error("notifications: %s: %s; paused %.0f s", self.account.alias, exc, pause_s)
                self.stop.wait(pause_s)
            except (ProviderError, redis.exceptions.RedisError) as exc:
                log.warning("notifications: %s: %s; again in %.0f s", self.account.alias, exc, backoff)
                self.stop.wait(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)


def consumers(settings: Settings, accounts: Any, store: Store, redactor: Redactor) -> list[Consumer]:
    """A consumer for each GREEN-API account with ``notifications = true``; its requests may take
    the long poll plus the usual HTTP timeout."""
    timeout = settings.push.receive_timeout_s
    found = []
    for account in (accounts or {}).values():
        if account.provider == "greenapi" and account.notifications:
            http = providers.Http(account.provider, redactor, timeout + settings.http_timeout_s)
            found.append(Consumer(store, account, GreenApi(account, http), timeout))
    return found


def run_all(found: list[Consumer], pause_s: float, wait: Callable[[], object]) -> None:
    """Run each consumer on a thread of its own until ``wait`` returns; then stop them all."""
    threads = [threading.Thread(target=c.run, args=(pause_s,), name=f"notifications-{c.account.alias}") for c in found]
    for thread in threads:
        thread.start()
    try:
        wait()
    finally:
        for consumer in found:
            consumer.stop.set()
        for thread in threads:
            thread.join(5.0)
