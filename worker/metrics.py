"""Prometheus metrics of the whole fleet, read from Redis at each scrape.

    statuswatch metrics [--host 127.0.0.1] [--port 9808]

Every worker process counts into the fleet counters in Redis (``{ns}:v1:stats``, written by
the store's scripts in the same call as the check's result; see ``worker.tally``), so one
exporter process serves the numbers of every worker, prefork child and machine; run one per
deployment (any number give the same answers). It holds no state of its own: a scrape is a
handful of Redis reads.

Why ``prometheus_client``: it writes the exposition format (escaping, histogram ``le``
buckets, ``_total`` and ``_created`` rules) and serves it; a custom collector turns Redis
reads into metric families at scrape time, with nothing kept in the process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from worker.fleet import Fleet
from worker.notify.metrics import notify_metrics
from worker.push.metrics import push_metrics
from worker.runtime import Engine
from worker.tally import LATENCY_BUCKETS_S, SEND_DELAY_BUCKETS_S

DEFAULT_PORT = 9808


#: counters of the stats hash served as they are: (metric, help, field)
TOTALS = (
    ("statuswatch_checks", "Check results applied to trackers.", "checks"),
    ("statuswatch_check_requeues", "Checks the limiter turned away by a few ms and re-sent (retries, early).",
     "requeues:rate"),
    ("statuswatch_account_pauses", "Times an account was paused after an account error.", "pauses"),
    ("statuswatch_requests_rejected", "Track, track_many items and untrack requests refused "
     "(statuswatch rejected lists them).", "rejected"),
    ("statuswatch_unexpected_errors", "Checks and batch syncs that raised something other than a "
     "gateway error (a bug, an answer nobody foresaw), each backed off as a transient error.", "errors:unexpected"),
)  # fmt: skip


class FleetCollector(Collector):
    """Turns the fleet counters and schedules in Redis into metric families."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.fleet = Fleet(engine.store.redis, engine.store.keys)

    def collect(self) -> Iterator[Metric]:
        stats = self.fleet.stats()
        yield from _labelled(stats)
        for name, text, field in TOTALS:
            yield CounterMetricFamily(name, text, value=stats.get(field, 0))
        yield self._misrouted()
        yield from self._accounts()
        yield from self._schedule()
        yield from notify_metrics(self.engine.store.redis, self.engine.store.keys, stats)
        yield from push_metrics(stats, self.fleet, self.engine.settings.push.live_s)

    def _misrouted(self) -> Metric:
        family = GaugeMetricFamily(
            "statuswatch_misrouted_tasks", "statuswatch tasks waiting on a queue no statuswatch worker reads "
            "(Celery's default 'celery' above all), as housekeeping last counted them.", labels=["queue"],
        )  # fmt: skip
        for queue, count in sorted(self.fleet.misrouted().items()):
            family.add_metric([queue], count)
        return family

    def _accounts(self) -> Iterator[Metric]:
        accounts = self.engine.accounts
        paused = GaugeMetricFamily(
            "statuswatch_account_paused", "1 while the account is paused after an account error.", labels=["account"]
        )
        cooling = GaugeMetricFamily(
            "statuswatch_account_cooling_down", "1 while the account's credential cools down after a 429.",
            labels=["account"],
        )  # fmt: skip
        total = 0
        for alias, account in sorted((accounts or {}).items()):
            blocked = self.engine.limiter.blocked(account)
            is_paused = blocked is not None and blocked[1] == "paused"
            total += is_paused
            paused.add_metric([alias], float(is_paused))
            cooling.add_metric([alias], float(blocked is not None and blocked[1] == "cooldown"))
        yield paused
        yield cooling
        yield GaugeMetricFamily("statuswatch_accounts_paused", "Accounts paused now.", value=total)

    def _schedule(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "statuswatch_dispatch_lag_seconds",
            "Now minus the oldest next-check time on any schedule (0 when nothing is overdue).",
            value=self.fleet.dispatch_lag_s(),
        )
        yield GaugeMetricFamily(
            "statuswatch_trackers_scheduled", "Trackers on the due schedules.", value=self.fleet.due_count()
        )


def _labelled(stats: Mapping[str, int]) -> Iterator[Metric]:
    """The families of the stats fields that carry labels in their names (``kind:label...``)."""
    active = GaugeMetricFamily(
        "statuswatch_trackers_active", "Trackers being tracked, by provider and current state.",
        labels=["provider", "state"],
    )  # fmt: skip
    requests = CounterMetricFamily(
        "statuswatch_gateway_requests", "Requests sent to gateways, by provider, method and result "
        "(ok, transient, throttled = HTTP 429, account, message, unexpected).",
        labels=["provider", "method", "result"],
    )  # fmt: skip
    by_reason = {
        "finished": CounterMetricFamily("statuswatch_trackers_finished", "Trackers that ended, by outcome.",
                                        labels=["outcome"]),
        "deferrals": CounterMetricFamily("statuswatch_deferrals", "Trackers put back on their schedule unchecked, "
                                         "by reason (rate, stale, cooldown, paused).", labels=["reason"]),
    }  # fmt: skip
    throttled_by: dict[str, int] = defaultdict(int)
    for name, value in sorted(stats.items()):
        kind, _, rest = name.partition(":")
        if kind == "active" and value:
            active.add_metric(rest.split(":", 1), value)
        elif kind == "requests":
            provider, method, result = rest.split(":")
            requests.add_metric([provider, method, result], value)
            if result == "throttled":
                throttled_by[provider] += value
        elif kind in by_reason:
            by_reason[kind].add_metric([rest], value)
    yield from (active, requests, _throttled(throttled_by), *by_reason.values())
    yield from _timings(stats)


def _timings(stats: Mapping[str, int]) -> Iterator[Metric]:
    """The two histograms (gateway latency, grant to send) and the stale grants."""
    stale = CounterMetricFamily(
        "statuswatch_grants_stale", "Limiter grants handed back unspent: the request could not leave the "
        "process while the grant was fresh, and was not sent.", labels=["provider"],
    )  # fmt: skip
    counts: dict[str, dict[str, dict[int, int]]] = {"latency": defaultdict(dict), "send_delay": defaultdict(dict)}
    sums: dict[str, dict[str, float]] = {"latency": {}, "send_delay": {}}
    for name, value in sorted(stats.items()):
        kind, _, rest = name.partition(":")
        if kind in counts:
            provider, index = rest.split(":")
            counts[kind][provider][int(index)] = value
        elif kind.removesuffix("_us") in sums and kind.endswith("_us"):
            sums[kind.removesuffix("_us")][rest] = value / 1e6
        elif kind == "grants" and rest.startswith("stale:"):
            stale.add_metric([rest.removeprefix("stale:")], value)
    yield stale
    yield _histogram("statuswatch_gateway_latency_seconds", "Gateway request latency, by provider.",
                     LATENCY_BUCKETS_S, counts["latency"], sums["latency"])  # fmt: skip
    yield _histogram(
        "statuswatch_grant_to_send_seconds", "From asking the limiter for a grant to the request's first byte "
        "leaving the process, by provider.", SEND_DELAY_BUCKETS_S, counts["send_delay"], sums["send_delay"],
    )  # fmt: skip


def _throttled(by_provider: Mapping[str, int]) -> Metric:
    family = CounterMetricFamily(
        "statuswatch_gateway_throttled", "Gateway answers HTTP 429, by provider.", labels=["provider"]
    )
    for provider, n in sorted(by_provider.items()):
        family.add_metric([provider], n)
    return family


def _histogram(
    name: str, text: str, bounds_s: tuple[float, ...], counts: dict[str, dict[int, int]], sums: dict[str, float]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, text, labels=["provider"])
    bounds = [*(f"{b:g}" for b in bounds_s), "+Inf"]
    for provider in sorted(counts):
        running, buckets = 0, []
        for i, bound in enumerate(bounds):
            running += counts[provider].get(i, 0)
            buckets.append((bound, running))
        family.add_metric([provider], buckets, sum_value=sums.get(provider, 0.0))
    return family


def registry(engine: Engine) -> CollectorRegistry:
    """A registry holding only the fleet collector (no metrics of the exporter process)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(FleetCollector(engine))
    return reg


def render(engine: Engine) -> str:
    """One scrape, as the exposition text."""
    return generate_latest(registry(engine)).decode()


def serve(engine: Engine, host: str, port: int) -> Any:
    """Serve ``/metrics`` on ``host:port`` from a background thread; returns the server."""
    server, _thread = start_http_server(port, addr=host, registry=registry(engine))
    return server
