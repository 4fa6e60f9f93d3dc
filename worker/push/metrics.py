"""Push ingestion's metric families, from the fleet counters (``push:*`` fields of the stats
hash, docs/push.md) and the accounts whose pushes arrive now."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from worker.fleet import Fleet


def push_metrics(stats: Mapping[str, int], fleet: Fleet, live_s: float) -> Iterator[Metric]:
    pushes = CounterMetricFamily(
        "statuswatch_pushes", "Pushes taken in, by provider and kind: status (applied, or kept for its track "
        "request), early_applied (a kept one applied at its track request), dropped (a queued notification "
        "that was no push of its instance), or the kind of a push that carries no status.",
        labels=["provider", "kind"],
    )  # fmt: skip
    refused = CounterMetricFamily(
        "statuswatch_push_refusals", "Webhook requests refused, by HTTP status (503: the store did not answer).",
        labels=["status"],
    )  # fmt: skip
    for field, n in sorted(stats.items()):
        parts = field.split(":")
        if len(parts) == 3 and parts[0] == "push" and parts[1] == "refused":
            refused.add_metric([parts[2]], n)
        elif len(parts) == 3 and parts[0] == "push" and parts[2] in ("statuses", "early_applied", "dropped"):
            pushes.add_metric([parts[1], "status" if parts[2] == "statuses" else parts[2]], n)
        elif len(parts) == 4 and parts[0] == "push" and parts[2] == "ignored":
            pushes.add_metric([parts[1], parts[3]], n)
    yield pushes
    yield refused
    yield CounterMetricFamily(
        "statuswatch_push_early", "Pushes for a message nobody tracked yet, kept for its track request.",
        value=stats.get("push:early", 0),
    )
    yield CounterMetricFamily(
        "statuswatch_push_early_dropped", "Kept pushes dropped unapplied (too old, or too many kept).",
        value=stats.get("push:early_dropped", 0),
    )
    yield GaugeMetricFamily(
        "statuswatch_accounts_pushing", "Accounts whose pushes arrive now (their polling is a safety net).",
        value=len(fleet.pushing(live_s)),
    )
