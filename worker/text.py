"""Gateway text as statuswatch keeps and shows it: cut to a bound before it is stored or
logged, and made harmless before a terminal prints it.

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


#: bidirectional-text controls: they reorder what a terminal shows ("Trojan source")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """``text`` with every control character (C0, DEL, C1: ESC starts a terminal's escape
    sequences) and bidi control escaped as ``\\xNN`` / ``\\uNNNN``, for a terminal to show."""
    if text.isprintable():
        return text
    return "".join(_escape(c) if _is_control(c) else c for c in text)


def _is_control(c: str) -> bool:
    return ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in _BIDI


def _escape(c: str) -> str:
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
