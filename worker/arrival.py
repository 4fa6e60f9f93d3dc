"""A limiter grant is spent only if its request leaves while the grant is fresh.

The gateway counts arrivals, not grants. However long a thread waits between the limiter's
answer and the request's first byte (the GIL, a busy core, a new connection), the request
either leaves within ``fresh_s`` of the moment the grant was asked for, or is not sent at
all (``StaleGrant``; the caller hands the grant back and defers the tracker). Why that
bounds every window at the gateway: docs/architecture.md, "Limits where the gateway counts".

``fresh_for`` arms the current thread before its request; the HTTP connection calls
``leaving`` right before it writes the request, after connecting; ``done`` disarms and says
how long the request took to leave (the ``statuswatch_grant_to_send_seconds`` histogram).
"""

from __future__ import annotations

import threading
import time

_local = threading.local()


class StaleGrant(Exception):
    """The request did not leave within its grant's freshness, and was not sent."""

    def __init__(self, waited_s: float, fresh_s: float) -> None:
        super().__init__(f"the request was ready {waited_s * 1000:.1f} ms after its grant was asked for, "
                         f"over the {fresh_s * 1000:.1f} ms it is good for; not sent")  # fmt: skip
        self.waited_s = waited_s


def fresh_for(asked_at: float, fresh_s: float) -> None:
    """The next request of this thread must leave by ``asked_at + fresh_s`` (monotonic
    seconds; ``asked_at``: just before the grant was asked for)."""
    _local.armed = (asked_at, fresh_s)
    _local.took_s = None


def leaving() -> None:
    """Called right before a request's first byte is written: raises ``StaleGrant`` when
    the armed grant is too old. Only the first write of an armed request is judged."""
    armed: tuple[float, float] | None = getattr(_local, "armed", None)
    if armed is None:
        return
    _local.armed = None
    asked_at, fresh_s = armed
    waited = time.monotonic() - asked_at
    _local.took_s = waited
    if waited > fresh_s:
        raise StaleGrant(waited, fresh_s)


def done() -> float | None:
    """Disarm; seconds from asking for the grant to the request leaving (None: it never got
    as far as writing)."""
    took: float | None = getattr(_local, "took_s", None)
    _local.armed = _local.took_s = None
    return took
