"""Plain-text tables for the figures, each with its target and PASS/MISS."""

from __future__ import annotations

from collections.abc import Sequence


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def fmt(value: object) -> str:
    """Numbers with sensible digits; everything else as text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)

    def render(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    body = "\n".join(render(r) for r in cells)
    return f"\n{title}\n{render(headers)}\n{line}\n{body}\n"


def show(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print(table(title, headers, rows), flush=True)


def note(text: str) -> None:
    print(f"  {text}", flush=True)
