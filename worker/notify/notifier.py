"""Notifier: delivers each tracker's events to its callbacks, oldest first, one at a time.

The events wait in the tracker's outbox (written by the same Lua call that wrote them on
the stream) and the tracker on the delivery schedule, ``notify:due``. Beat's
``statuswatch.notify`` claims due trackers (``claim``) and sends one ``statuswatch.deliver``
per tracker; ``deliver`` takes the tracker's lease, sends the oldest event to the
``callback_task`` and the ``callback_url``, and records what came of it: delivered or given
up on (the next event's turn, at once) or failed (tried again after a backoff, from the
schedule; no long countdown anywhere). A worker killed mid-delivery leaves the lease to
run out: the event goes again, with the same ``event_id`` (counted, ``notify:redelivered``).
"""

from __future__ import annotations

import hashlib
import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from statuswatch_client.contract import DEFAULT_CALLBACK_QUEUE

from config import Settings
from worker.events import encode, from_outbox
from worker.keys import Keys
from worker.notify.scripts import (
    NotifyBeginArgs,
    NotifyBeginKeys,
    NotifyClaimArgs,
    NotifyClaimKeys,
    NotifyDoneArgs,
    NotifyDoneKeys,
    NotifyRenewKeys,
    NotifySlotArgs,
    NotifySlotKeys,
)
from worker.notify.webhook import Outcome, Webhooks
from worker.redact import Redactor
from worker.scripts import NOTIFY_BEGIN, NOTIFY_CLAIM, NOTIFY_DONE, NOTIFY_RENEW, NOTIFY_SLOT, ms
from worker.tally import encode as encode_counts
from worker.text import clip

log = logging.getLogger("statuswatch")

#: sends a callback task: (task name, kwargs, queue); raises when the broker did not take it
Publish = Callable[[str, dict[str, Any], str], None]
#: events one deliver call sends at most before it leaves the rest to the schedule
MAX_EVENTS_PER_CALL = 50
#: the longest delivery error kept
ERROR_CHARS = 300


@dataclass(frozen=True)
class Delivered:
    """What one ``deliver`` call did (the task's result)."""

    tracker: str
    results: Mapping[str, int] = field(default_factory=dict)
    status: str = "ok"  #: ok, busy (another worker holds the tracker), empty

    def summary(self) -> dict[str, Any]:
        return {"tracker": self.tracker, "status": self.status, **self.results}


def target_of(url: str) -> str:
    """The key of a callback host (scheme, host, port) for its caps: a hash, never the URL."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return hashlib.sha256(f"{parts.scheme}://{parts.hostname}:{port}".encode()).hexdigest()[:16]


class Notifier:
    def __init__(
        self,
        settings: Settings,
        redis: Any,
        keys: Keys,
        redactor: Redactor,
        webhooks: Webhooks,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = keys
        self.redactor = redactor
        self.webhooks = webhooks
        self.draw = draw
        #: longer than a webhook's whole attempt (resolving within the timeout, then the
        #: exchange within it): a live holder never loses it. A callback task's publish,
        #: which Celery's own retries bound, renews it before the webhook.
        self.lease_ms = ms(2 * settings.notify_timeout_s + 2)
        self.retention_ms = ms(settings.retention_s)
        self._claim = NOTIFY_CLAIM.load(redis)
        self._begin = NOTIFY_BEGIN.load(redis)
        self._slot = NOTIFY_SLOT.load(redis)
        self._done = NOTIFY_DONE.load(redis)
        self._renew = NOTIFY_RENEW.load(redis)

    def claim(self, limit: int) -> list[str]:
        """Trackers with a delivery due now, each held a lease long (their deliver task's time)."""
        ids = self._claim(NotifyClaimKeys(self.keys.notify.due), NotifyClaimArgs(limit, self.lease_ms))
        return [str(i) for i in ids]

    def backoff_s(self, attempts: int, retry_after_s: float | None = None) -> float:
        """The wait before attempt ``attempts + 1``: exponential with jitter (half to all of it);
        a receiver's Retry-After is followed, though never shorter than half that (a
        ``Retry-After: 0`` does not undo the backoff); both at most ``notify_max_backoff_s``."""
        top = self.settings.notify_max_backoff_s
        base: float = min(top, self.settings.notify_backoff_s * 2.0 ** max(0, attempts - 1))
        computed = base * (0.5 + self.draw() / 2)
        if retry_after_s is not None:
            return min(max(retry_after_s, computed / 2), top)
        return computed

    def deliver(self, tracker_id: str, publish: Publish | None) -> Delivered:
        """The tracker's due events, oldest first, until one fails or none is left."""
        token = uuid.uuid4().hex
        results: Counter[str] = Counter()
        status = "ok"
        for _ in range(MAX_EVENTS_PER_CALL):
            begun = self._begin(
                NotifyBeginKeys(
                    outbox=self.keys.notify.outbox(tracker_id), delivery=self.keys.notify.delivery(tracker_id),
                    tracker=self.keys.tracker(tracker_id), notify=self.keys.notify.due,
                    since=self.keys.notify.since, stats=self.keys.stats,
                ),
                NotifyBeginArgs(tracker_id, token, self.lease_ms),
            )  # fmt: skip
            if begun[0] != "go":
                status = "ok" if results else str(begun[0])
                break
            result = self._attempt(tracker_id, token, [str(v) for v in begun[1:]], publish)
            results[result] += 1
            if result not in ("delivered", "given_up"):
                break
        return Delivered(tracker_id, dict(results), status)

    def _attempt(self, tracker_id: str, token: str, begun: list[str], publish: Publish | None) -> str:
        entry, url, task, queue, attempts_text, first_at, now_text, task_done = begun
        event = from_outbox(entry)
        event_id = str(event["event_id"])
        attempts, now_ms = int(attempts_text), int(now_text)
        counts: Counter[str] = Counter()
        target = target_of(url) if url else "-"
        if not url and not task:
            return self._finish(tracker_id, token, event_id, "given_up", 0, "no callback left (the tracker is gone)",
                                target, counts)  # fmt: skip
        if url:
            wait_ms = int(self._slot(
                NotifySlotKeys(self.keys.notify.busy(target), self.keys.notify.pace(target)),
                NotifySlotArgs(token, self.lease_ms, self.settings.notify_url_concurrency, self._interval_us()),
            ))  # fmt: skip
            if wait_ms > 0:
                counts["notify:waits"] += 1
                return self._finish(tracker_id, token, event_id, "wait", wait_ms, "", target, counts)

        def renew() -> bool:
            keys = NotifyRenewKeys(self.keys.notify.delivery(tracker_id), self.keys.notify.due,
                                   self.keys.notify.busy(target))  # fmt: skip
            return bool(self._renew(keys, NotifyBeginArgs(tracker_id, token, self.lease_ms)))

        sent_task, failure = self._send(url, task, queue, event, event_id, task_done == "1", publish, counts, renew)
        if failure is None:
            return self._finish(tracker_id, token, event_id, "delivered", 0, "", target, counts)
        error = self._error(failure.error)
        # the retry time counts from the event's change, not from its first attempt: a dead
        # receiver has every event of a tracker given up one retry time after it happened
        observed_s = event["observed_at"] if isinstance(event["observed_at"], float) else int(first_at or now_ms) / 1000
        elapsed_s = now_ms / 1000 - observed_s
        if failure.result == "refused" or elapsed_s >= self.settings.notify_retry_s:
            why = error if failure.result == "refused" else f"gave up after {attempts + 1} attempts: {error}"
            log.warning("callback: gave up on event %s of %s: %s", event_id, tracker_id, why)
            return self._finish(tracker_id, token, event_id, "given_up", 0, why, target, counts)
        delay_ms = ms(self.backoff_s(attempts + 1, failure.retry_after_s))
        result = "task_sent" if sent_task and task and task_done != "1" else "retry"
        self._finish(tracker_id, token, event_id, result, delay_ms, error, target, counts)
        return "retry"

    def _send(
        self,
        url: str,
        task: str,
        queue: str,
        event: dict[str, Any],
        event_id: str,
        sent_task: bool,
        publish: Publish | None,
        counts: Counter[str],
        renew: Callable[[], bool],
    ) -> tuple[bool, Outcome | None]:
        """The callback task (unless an earlier attempt sent it), then the webhook (the lease
        renewed between the two); whether the task is sent, and the first failure (None: all
        delivered)."""
        failure: Outcome | None = None
        if task and not sent_task:
            counts["notify:attempts:task"] += 1
            failure = self._send_task(task, queue, event, publish)
            sent_task = failure is None
            counts[f"notify:task:{'ok' if sent_task else 'failed'}"] += 1
            if url and failure is None and not renew():
                failure = Outcome("retry", "the lease ran out while the callback task was sent", kind="lease")
        if url and failure is None:
            counts["notify:attempts:webhook"] += 1
            outcome = self.webhooks.post(url, event_id, encode(event))
            counts[f"notify:webhook:{outcome.kind}"] += 1
            if outcome.result != "delivered":
                failure = outcome
        return sent_task, failure

    def _send_task(self, task: str, queue: str, event: dict[str, Any], publish: Publish | None) -> Outcome | None:
        if publish is None:
            return Outcome("retry", "callback_task: this process cannot send tasks", kind="task")
        try:
            publish(task, {"event": event}, queue or DEFAULT_CALLBACK_QUEUE)
        except Exception as exc:  # the broker's errors, whatever they are: tried again later
            return Outcome("retry", f"callback_task: not sent ({type(exc).__name__})", kind="task")
        return None

    def _finish(
        self, tracker_id: str, token: str, event_id: str, result: str, delay_ms: int, error: str, target: str,
        counts: Mapping[str, int],
    ) -> str:  # fmt: skip
        self._done(
            NotifyDoneKeys(
                outbox=self.keys.notify.outbox(tracker_id), delivery=self.keys.notify.delivery(tracker_id),
                notify=self.keys.notify.due, since=self.keys.notify.since, stats=self.keys.stats,
                busy=self.keys.notify.busy(target),
            ),
            NotifyDoneArgs(
                tracker_id=tracker_id, token=token, event_id=event_id, result=result, delay_ms=delay_ms,
                error=error, retention_ms=self.retention_ms, counts=encode_counts(counts),
            ),
        )  # fmt: skip
        return result

    def _interval_us(self) -> int:
        rate = self.settings.notify_url_rate
        return max(1, int(rate.per_s / rate.count * 1_000_000))

    def _error(self, text: str) -> str:
        return clip(self.redactor(text), ERROR_CHARS)


def delivery_state(redis: Any, keys: Keys, tracker_id: str) -> dict[str, Any] | None:
    """A tracker's delivery state for ``status --json``: None when it has no callback activity."""
    row = redis.hgetall(keys.notify.delivery(tracker_id))
    pending = int(redis.llen(keys.notify.outbox(tracker_id)))
    if not row and not pending:
        return None
    return {
        "pending": pending,
        "attempts": int(row.get("attempts", 0)),
        "delivered": int(row.get("delivered", 0)),
        "given_up": int(row.get("given_up", 0)),
        "last_event": row.get("last_event"),
        "last_result": row.get("last_result"),
        "last_error": row.get("last_error"),
        "last_at": int(row["last_at"]) / 1000 if row.get("last_at") else None,
    }
