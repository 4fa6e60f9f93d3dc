"""Intake: what producers ask (track, track_many, untrack), validated and registered. A bad
request is recorded as rejected, redacted, never raised: a producer's task never fails."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import redis
from statuswatch_client.contract import item_kwargs, items_of

from config import Accounts
from worker import providers
from worker.context import Context
from worker.errors import StoreUnreachable
from worker.keys import tracker_id
from worker.push.ingest import apply_early
from worker.results import Accepted, Bulk, Rejected, Untracked
from worker.schedule import next_check_delay_s
from worker.store import Registered
from worker.tracking import TrackRequest, parse_track_request, parse_untrack_request, reason_of, rejection

log = logging.getLogger("statuswatch")

#: rejected items of one message logged one by one (the ``rejected`` stream holds them all)
LOGGED_REJECTIONS = 3
#: how long a request waits before it goes back to the broker when the store did not answer
STORE_PAUSE_S = 1.0


class Intake:
    def __init__(self, context: Context, draw: Callable[[], float] = random.random) -> None:
        self.settings, self.store, self.ledger = context.settings, context.store, context.ledger
        self.accounts, self.redactor = context.accounts, context.redactor
        #: uniform in [0, 1): the jitter of a new tracker's first check
        self.draw = draw

    @staticmethod
    @contextlib.contextmanager
    def reaching_the_store(pause_s: float = STORE_PAUSE_S) -> Iterator[None]:
        """Turn the store's connection errors into ``StoreUnreachable``, after a pause: the
        task hands its message back to the broker (never acknowledged as done, which would
        lose the request), and the pause keeps a store that is away from being asked in a
        tight loop when the broker is another server and redelivers at once."""
        try:
            yield
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            time.sleep(pause_s)
            raise StoreUnreachable(f"the store did not answer ({type(exc).__name__}); the request goes back") from exc

    def track(self, kwargs: Mapping[str, Any], args: Sequence[Any] = (), task_id: str = "") -> Accepted | Rejected:
        """Validate and register one request."""
        try:
            request = self._track_request(kwargs, args)
        except Exception as exc:  # whatever a producer sent: recorded, never a failed task
            return self._reject([rejection("track", task_id, self._reason(exc), kwargs)])
        registered = self._register([request])[0]
        tid = tracker_id(request.provider, request.account, request.msg_id)
        return Accepted(tid, registered.status, registered.outcome)

    def track_many(self, kwargs: Mapping[str, Any], args: Sequence[Any] = (), task_id: str = "") -> Bulk:
        """``track`` for each of ``kwargs["items"]``: each item accepted or rejected on its own
        (one round trip for all); the result counts what became of them."""
        try:
            if args or set(kwargs) != {"items"}:
                raise ValueError("statuswatch.track_many takes one keyword argument, items (a list)")
            items = items_of(kwargs["items"])
        except Exception as exc:
            self._reject([rejection("track_many", task_id, self._reason(exc), {})])
            return Bulk(0, 0, 1, reason=self._reason(exc))
        requests, refused = [], []
        for i, item in enumerate(items):
            try:
                requests.append(self._track_request(item_kwargs(item), ()))
            except Exception as exc:
                refused.append(rejection(f"track_many[{i}]", task_id, self._reason(exc), item))
        if refused:
            self._reject(refused)
        statuses = Counter(r.status for r in self._register(requests))
        return Bulk(len(items), len(requests), len(refused), dict(statuses))

    def untrack(self, kwargs: Mapping[str, Any], args: Sequence[Any] = (), task_id: str = "") -> Untracked | Rejected:
        """End a tracker as cancelled: one event, no further gateway request."""
        try:
            if args:
                raise ValueError("statuswatch.untrack takes keyword arguments only: provider, account, msg_id")
            ref = parse_untrack_request(kwargs, self._accounts_or_refuse())
        except Exception as exc:
            return self._reject([rejection("untrack", task_id, self._reason(exc), kwargs)])
        tid = tracker_id(ref.provider, ref.account, ref.msg_id)
        result = self.store.untrack(tid)
        return Untracked(tid, result.status, result.outcome)

    def _track_request(self, kwargs: Mapping[str, Any], args: Sequence[Any]) -> TrackRequest:
        if args:
            raise ValueError(f"statuswatch.track takes keyword arguments only (kwargs=...), got {len(args)} positional")
        return parse_track_request(kwargs, self._accounts_or_refuse(), self.settings.default_expires_s)

    def _accounts_or_refuse(self) -> Accounts:
        if self.accounts is None:
            raise ValueError("account: this worker has no accounts file (STATUSWATCH_ACCOUNTS_FILE)")
        return self.accounts

    def _register(self, requests: Sequence[TrackRequest]) -> list[Registered]:
        items = []
        for request in requests:
            policy = self.settings.poll_for(request.provider)
            tid = tracker_id(request.provider, request.account, request.msg_id)
            first_delay_s = next_check_delay_s(0, policy, self.draw())
            items.append((tid, request, providers.CEILINGS[request.provider], first_delay_s))
        registered = self.store.register_many(items) if items else []
        return [self._early(tid, result) for (tid, *_), result in zip(items, registered, strict=True)]

    def _early(self, tid: str, result: Registered) -> Registered:
        """A push that came before this request, applied now (docs/push.md): the outcome it leaves."""
        applied = apply_early(self.store, tid, result.early) if result.early else None
        if applied is None or applied.outcome is None:
            return result
        return Registered(result.status, applied.outcome)

    def _reason(self, exc: BaseException) -> str:
        return self.redactor(reason_of(exc))

    def _reject(self, entries: list[dict[str, str]]) -> Rejected:
        """Record refused requests, redacted; the answer of the first (a single request's result)."""
        entries = [{k: self.redactor(v) for k, v in entry.items()} for entry in entries]
        self.ledger.reject(entries)
        for entry in entries[:LOGGED_REJECTIONS]:
            log.warning("%s request rejected: %s", entry["task"], entry["reason"])
        if len(entries) > LOGGED_REJECTIONS:
            log.warning("... and %d more rejected items of the same message", len(entries) - LOGGED_REJECTIONS)
        return Rejected(entries[0]["reason"])
