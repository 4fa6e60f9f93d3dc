"""The delivery metrics, read from Redis at each scrape: deliveries by result, attempts,
the retry queue, the oldest undelivered event, and each consumer group's backlog."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from worker.groups import group_lags
from worker.keys import Keys


def notify_metrics(client: Any, keys: Keys, stats: Mapping[str, int], now_s: float | None = None) -> Iterator[Metric]:
    now = time.time() if now_s is None else now_s
    yield from _counters(stats)
    yield from _queue(client, keys, now)
    yield from _groups(client, keys, now)


def _counters(stats: Mapping[str, int]) -> Iterator[Metric]:
    deliveries = CounterMetricFamily(
        "statuswatch_notify_deliveries", "Events delivered to their callbacks or given up on, by result.",
        labels=["result"],
    )  # fmt: skip
    for result in ("delivered", "given_up"):
        deliveries.add_metric([result], stats.get(f"notify:{result}", 0))
    yield deliveries
    attempts = CounterMetricFamily(
        "statuswatch_notify_attempts", "Delivery attempts, by channel (webhook, task).", labels=["channel"]
    )
    for channel in ("webhook", "task"):
        attempts.add_metric([channel], stats.get(f"notify:attempts:{channel}", 0))
    yield attempts
    answers = CounterMetricFamily(
        "statuswatch_notify_webhook_answers", "Webhook attempts by what came of them (2xx, 3xx, 4xx, 429, 5xx, "
        "timeout, connection, dns, refused: the address guard, unsigned: no secret set).", labels=["kind"],
    )  # fmt: skip
    for name, value in sorted(stats.items()):
        if name.startswith("notify:webhook:"):
            answers.add_metric([name.removeprefix("notify:webhook:")], value)
    yield answers
    yield CounterMetricFamily("statuswatch_notify_retries", "Failed attempts to be tried again.",
                              value=stats.get("notify:retried", 0))  # fmt: skip
    yield CounterMetricFamily(
        "statuswatch_notify_overflowed", "Events given up unsent because their tracker's outbox held its most "
        "(100) undelivered events.", value=stats.get("notify:overflowed", 0),
    )  # fmt: skip
    yield CounterMetricFamily(
        "statuswatch_notify_redelivered", "Events sent again because an attempt never reported (its worker "
        "died): the receiver may have them twice, same event_id.", value=stats.get("notify:redelivered", 0),
    )  # fmt: skip


def _queue(client: Any, keys: Keys, now: float) -> Iterator[Metric]:
    now_ms = now * 1000
    with client.pipeline(transaction=False) as pipe:
        pipe.zcard(keys.notify.due)
        pipe.zcount(keys.notify.due, f"({now_ms:.0f}", "+inf")
        pipe.zrange(keys.notify.since, 0, 0, withscores=True)
        waiting, later, oldest = pipe.execute()
    yield GaugeMetricFamily("statuswatch_notify_trackers_waiting", "Trackers with events not yet delivered.",
                            value=waiting)  # fmt: skip
    yield GaugeMetricFamily(
        "statuswatch_notify_retry_queue", "Trackers whose next delivery waits for a later time (a backoff, a "
        "cap, or a delivery under way).", value=later,
    )  # fmt: skip
    age = max(0.0, (now_ms - oldest[0][1]) / 1000) if oldest else 0.0
    yield GaugeMetricFamily("statuswatch_notify_oldest_undelivered_seconds",
                            "Age of the oldest event not yet delivered (0 when none).", value=age)  # fmt: skip


def _groups(client: Any, keys: Keys, now: float) -> Iterator[Metric]:
    pending = GaugeMetricFamily(
        "statuswatch_events_group_oldest_pending_seconds",
        "Per consumer group of the events stream: age of its oldest entry read and not acknowledged.",
        labels=["group"],
    )  # fmt: skip
    lag = GaugeMetricFamily("statuswatch_events_group_lag", "Per consumer group: entries not yet read "
                            "(-1 where Redis does not say).", labels=["group"])  # fmt: skip
    for group, (oldest_s, unread) in sorted(group_lags(client, keys, now).items()):
        pending.add_metric([group], oldest_s)
        lag.add_metric([group], unread)
    yield pending
    yield lag
