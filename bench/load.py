"""A competing CPU load for the benchmarks and the limiter's stress test: processes that
spin at the same priority as the workers. Each ends by itself after ``seconds`` (even if
whoever started it is killed), and leaving the context stops them at once."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

_SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


@contextlib.contextmanager
def cpu_hogs(count: int, seconds: float) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes that keep a core busy each, for at most ``seconds``."""
    hogs = [subprocess.Popen([sys.executable, "-c", _SPIN.format(seconds=float(seconds))]) for _ in range(count)]
    try:
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait(timeout=10)
