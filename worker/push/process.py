"""The two push processes as the command line starts them: ``statuswatch webhooks`` and
``statuswatch notifications`` (each with the settings, the accounts, a store and the log
redaction of this deployment)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from config import load_accounts, load_settings
from worker.connections import redis_client
from worker.keys import Keys
from worker.redact import Redactor, install_log_redaction
from worker.store import Store

log = logging.getLogger("statuswatch")


def _deployment() -> tuple[Any, Any, Store, Redactor]:
    settings = load_settings()
    accounts = load_accounts(settings.accounts_file) if settings.accounts_file else None
    store = Store(
        redis_client(settings.redis_url), Keys(settings.namespace), retention_s=settings.retention_s,
        events_maxlen=settings.events_maxlen, push=settings.push,
    )  # fmt: skip
    redactor = Redactor(accounts.secrets() if accounts else ())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction(redactor)
    return settings, accounts, store, redactor


def run_webhooks(host: str | None, port: int | None) -> int:
    from worker.push import webhooks

    settings, accounts, store, _ = _deployment()
    push = settings.push
    host, port = host or push.address, push.port if port is None else port
    n = sum(1 for a in (accounts or {}).values() if a.webhook_secret)
    log.info("webhooks on http://%s:%d (%d accounts with a webhook secret)", host, port, n)
    webhooks.serve(settings, accounts, store, host=host, port=port)
    return 0


def run_notifications() -> int:
    from worker.push.notifications import consumers, run_all

    settings, accounts, store, redactor = _deployment()
    found = consumers(settings, accounts, store, redactor)
    if not found:
        log.error("notifications: no GREEN-API account with notifications = true")
        return 2
    log.info("notifications: reading the queues of %s", ", ".join(c.account.alias for c in found))
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    run_all(found, settings.account_pause_s, done.wait)
    return 0
