"""The engine's composition root: one process's parts, wired once, and the calls tasks make.

Celery tasks (``tasks/``) are thin wrappers around these methods, so the whole path can be
run and tested without a broker. Each part owns one concept (docs/engine.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis

from config import Accounts, Settings, load_accounts, load_settings
from worker.check import Checker
from worker.connections import redis_client
from worker.context import Context
from worker.dispatch import Dispatcher
from worker.gang import Gang
from worker.housekeeping import Housekeeping
from worker.intake import Intake
from worker.keys import Keys
from worker.messages import TaskCall
from worker.notify.guard import Guard
from worker.notify.notifier import Notifier
from worker.notify.webhook import Webhooks
from worker.ratelimit import Limiter
from worker.redact import Redactor
from worker.results import Accepted, Bulk, Checked, CheckResult, FannedOut, Rejected, SyncResult, Untracked, Upkeep
from worker.runner import CheckRunner
from worker.store import Store
from worker.sync import BatchSync

__all__ = ["Engine", "get_engine", "redis_client"]

#: how a part hands the task layer messages to send
Send = Callable[[TaskCall], None]


class Engine:
    """One process's view of statuswatch: its settings, store, limiter, accounts and
    redactor, and the parts built on them."""

    def __init__(
        self, settings: Settings, store: Store, limiter: Limiter, accounts: Accounts | None, redactor: Redactor
    ) -> None:
        self.settings = settings
        self.store = store
        self.limiter = limiter
        self.accounts = accounts
        self.redactor = redactor
        self.context = context = Context.build(settings, store, limiter, accounts, redactor)
        self.gateways, self.answers = context.gateways, context.answers
        self.intake = Intake(context)
        self.dispatcher = Dispatcher(context)
        self.checker = Checker(context)
        self.runner = CheckRunner(self.checker, Gang(), settings.lease_s)
        self.batch_sync = BatchSync(context)
        self.upkeep = Housekeeping(context)
        guard = Guard(settings.callback_allow_networks)
        webhooks = Webhooks(settings.callback_secrets, guard, settings.notify_timeout_s)
        self.notifier = Notifier(settings, store.redis, store.keys, redactor, webhooks)

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis | None = None) -> Engine:
        accounts = load_accounts(settings.accounts_file) if settings.accounts_file else None
        client = client or redis_client(settings.redis_url)
        keys = Keys(settings.namespace)
        store = Store(
            client, keys, retention_s=settings.retention_s, events_maxlen=settings.events_maxlen,
            notify_retry_s=settings.notify_retry_s, push=settings.push,
        )  # fmt: skip
        limiter = Limiter(client, keys, default_rate=settings.default_rate_limit)
        secrets = [*(accounts.secrets() if accounts else ()), *settings.callback_secrets]
        return cls(settings, store, limiter, accounts, Redactor(secrets))

    # -- the tasks' calls: each answers a typed result (``.summary()``: the task's result) ----

    def track(self, kwargs: Mapping[str, Any], args: Sequence[Any] = (), task_id: str = "") -> Accepted | Rejected:
        with self.intake.reaching_the_store():
            return self.intake.track(kwargs, args, task_id)

    def track_many(self, kwargs: Mapping[str, Any], args: Sequence[Any] = (), task_id: str = "") -> Bulk:
        with self.intake.reaching_the_store():
            return self.intake.track_many(kwargs, args, task_id)

    def untrack(self, kwargs: Mapping[str, Any], args: Sequence[Any] = (), task_id: str = "") -> Untracked | Rejected:
        with self.intake.reaching_the_store():
            return self.intake.untrack(kwargs, args, task_id)

    def dispatch(self, send: Callable[[list[TaskCall]], None]) -> int:
        """Claim due trackers and hand ``send`` their ``statuswatch.check`` messages; returns
        how many trackers (``worker.dispatch``)."""
        lease_s = self.settings.lease_s
        return self.dispatcher.dispatch(lambda orders: send([order.task_call(lease_s) for order in orders]))

    def check(
        self,
        tracker: str | list[str],
        requeued: int = 0,
        slot: int = 0,
        slots: list[int] | None = None,
        *,
        resend: Send,
    ) -> CheckResult | Checked:
        """A ``statuswatch.check`` message's checks (``worker.runner``); a check to go again
        is handed to ``resend`` as its message."""
        return self.runner.run(tracker, requeued, slot, slots, resend)

    def sync(self, account: str | None, slot: int = 0, *, send: Send) -> SyncResult | FannedOut:
        """One account's batch sync in its slot; without ``account``, one ``statuswatch.sync_recent``
        message per account with a batch method, handed to ``send`` (``worker.sync``)."""
        if account is None:
            return self.batch_sync.fan_out(send)
        return self.batch_sync.sync(account, slot)

    def housekeeping(self) -> Upkeep:
        return self.upkeep.run()


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """This process's engine, built on first use from the environment."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Engine.from_settings(load_settings())
        return _engine
