"""When to look again: pure functions of the check count, the policy and a random draw."""

from __future__ import annotations

from config import PollPolicy


def next_check_delay_s(checks: int, policy: PollPolicy, draw: float) -> float:
    """Delay before check number ``checks + 1``: ``first_s * factor**checks``, capped, jittered.

    ``draw`` is uniform in [0, 1); the jitter spreads the delay by ``± jitter`` of itself
    so trackers created together drift apart instead of polling in lockstep.
    """
    exponent = min(max(checks, 0), 64)
    base = min(policy.first_s * policy.factor**exponent, policy.max_s)
    return max(0.0, base * (1.0 + policy.jitter * (2.0 * draw - 1.0)))


def error_backoff_s(errors: int, base_s: float, cap_s: float, draw: float) -> float:
    """Delay after the ``errors``-th consecutive failed check: doubling from ``base_s``, capped."""
    exponent = min(max(errors - 1, 0), 32)
    delay = min(base_s * 2.0**exponent, cap_s)
    return delay * (0.5 + 0.5 * draw)
