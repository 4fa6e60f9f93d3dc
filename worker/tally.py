"""Counts of gateway requests, kept with the store write that ends a check.

A check's requests (each tenacity attempt is one) are counted in the same Lua call that
applies its result or defers it, so the fleet's counters in Redis cost no extra round trip
and agree with what the gateway saw. ``worker.metrics`` turns them into Prometheus metrics.

Fields of the stats hash written here:
  requests:<provider>:<method>:<result>   result: ok, or what the failure meant
                                          (``worker.disposition``): transient, throttled,
                                          account, message, unexpected (an answer the adapter
                                          does not know, or the request raised something else)
  latency:<provider>:<i>                  requests whose latency fell in LATENCY_BUCKETS_S[i]
                                          (i == len(LATENCY_BUCKETS_S): above the last bound)
  latency_us:<provider>                   sum of latencies, µs
  send_delay:<provider>:<i>               requests that left the process within
                                          SEND_DELAY_BUCKETS_S[i] of asking for their grant
  send_delay_us:<provider>                sum of those delays, µs
  grants:stale:<provider>                 grants handed back: their request could not leave
                                          in time and was not sent (``worker.arrival``)
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Mapping

#: upper bounds of the provider latency histogram, seconds
LATENCY_BUCKETS_S: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: upper bounds of the grant-to-send histogram, seconds (its budget is 15 ms a second of period)
SEND_DELAY_BUCKETS_S: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 1.0)


class Tally:
    """The gateway requests of one check or batch sync, until a store write takes them."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._counts: Counter[str] = Counter()

    def record(self, method: str, result: str, seconds: float) -> None:
        self._counts[f"requests:{self.provider}:{method}:{result}"] += 1
        self._counts[f"latency:{self.provider}:{bisect.bisect_left(LATENCY_BUCKETS_S, seconds)}"] += 1
        self._counts[f"latency_us:{self.provider}"] += round(seconds * 1e6)

    def sent_after(self, seconds: float | None) -> None:
        """A request left ``seconds`` after its grant was asked for (None: it never got to
        writing, nothing to record)."""
        if seconds is not None:
            self._counts[f"send_delay:{self.provider}:{bisect.bisect_left(SEND_DELAY_BUCKETS_S, seconds)}"] += 1
            self._counts[f"send_delay_us:{self.provider}"] += round(seconds * 1e6)

    def add(self, name: str, n: int = 1) -> None:
        """A fleet counter of this check's to write with its result (``errors:unexpected``)."""
        self._counts[name] += n

    def take(self) -> dict[str, int]:
        """The counts so far, once: a second call returns only what was recorded since."""
        counts, self._counts = dict(self._counts), Counter()
        return counts


def encode(counts: Mapping[str, int]) -> str:
    """``field\\tn`` lines, the form the store's scripts add to the stats hash."""
    return "\n".join(f"{field}\t{n}" for field, n in counts.items() if n)
