"""What every gateway module shares: the routed call and a few fixed answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..wire import Response, html_page


@dataclass(slots=True)
class Call:
    """A request the router understood, before admission (throttle, rate limit, faults)."""

    provider: str
    #: the rate-limited identity (WAMM token, WBizTool api_key, GREEN-API idInstance);
    #: None for calls without one (health checks): no limits, no per-credential stats
    credential: str | None
    #: the gateway's own method name, used in stats and as a rate-limit bucket
    method: str
    #: the gateway's answer at `now` (epoch s)
    answer: Callable[[float], Response]
    #: the one message the call asks about, when it asks about one (per-message counts)
    msg_id: str | None = None


NOT_FOUND = html_page(404, "404 Not Found")


def is_integer(text: str) -> bool:
    """Only ASCII digits: str.isdigit() alone accepts "²"."""
    return text.isascii() and text.isdigit()
