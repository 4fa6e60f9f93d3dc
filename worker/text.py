"""Gateway text as statuswatch keeps it: cut to a bound before it is stored or logged.

A gateway decides how long its strings are: a 5 MB ``state`` became a 5 MB tracker hash,
events entry, history entry and log line. Everything a gateway says that statuswatch keeps
(raw states, per-recipient detail, error texts) goes through ``clip`` first.
"""

from __future__ import annotations

#: the most characters of one gateway string that is stored or logged
MAX_CHARS = 200
#: the end of a string that was cut
CUT = "…"


def clip(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and ``…`` in ``limit``."""
    return text if len(text) <= limit else text[: limit - len(CUT)] + CUT
