"""A limiter grant is taken at the moment its request is written, and spent only if fresh.

The gateway counts arrivals, not grants. So the request is prepared and connected first;
the HTTP connection asks for the grant right before it writes the first byte (``leaving``),
and writes only if the answer came within ``fresh_s`` of asking. However long a thread
waits (the GIL, a busy core), a request leaves within ``fresh_s`` of its grant or not at
all: a denial raises ``Denial`` and a late answer ``StaleGrant`` (the caller hands that
grant back and defers the tracker). Why that bounds every window at the gateway:
docs/architecture.md, "Limits where the gateway counts".

``grant_on_send`` arms the current thread before its request; ``done`` disarms and says how
long the grant took to reach the write (the ``statuswatch_grant_to_send_seconds`` histogram).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

_local = threading.local()


class NotSent(Exception):
    """The request was not written: the limiter said no, or said yes too late."""


class Denial(NotSent):
    """The limiter turned the request away (``decision`` says for how long)."""

    def __init__(self, decision: Any) -> None:
        super().__init__(getattr(decision, "reason", "denied"))
        self.decision = decision


class StaleGrant(NotSent):
    """The grant came later than ``fresh_s`` after it was asked for; it was not used."""

    def __init__(self, decision: Any, waited_s: float, fresh_s: float) -> None:
        super().__init__(f"the grant came {waited_s * 1000:.1f} ms after it was asked for, "
                         f"over the {fresh_s * 1000:.1f} ms it is good for; not sent")  # fmt: skip
        self.decision = decision
        self.waited_s = waited_s


def grant_on_send(acquire: Callable[[], Any], fresh_s: float) -> None:
    """The next request of this thread asks ``acquire()`` (a limiter decision, with
    ``allowed``) right before its first byte, and goes only if allowed within ``fresh_s``."""
    _local.armed = (acquire, fresh_s)
    _local.took_s = None


def leaving() -> None:
    """Called right before a request's first byte is written. Only the first write of an
    armed request is judged (the body's writes follow it)."""
    armed: tuple[Callable[[], Any], float] | None = getattr(_local, "armed", None)
    if armed is None:
        return
    _local.armed = None
    acquire, fresh_s = armed
    asked_at = time.monotonic()
    decision = acquire()
    if not decision.allowed:
        raise Denial(decision)
    waited = time.monotonic() - asked_at
    _local.took_s = waited
    if waited > fresh_s:
        raise StaleGrant(decision, waited, fresh_s)


def done() -> float | None:
    """Disarm; seconds from asking for the grant to the write (None: the request never got
    as far as writing, or the limiter said no)."""
    took: float | None = getattr(_local, "took_s", None)
    _local.armed = _local.took_s = None
    return took
