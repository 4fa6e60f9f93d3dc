"""The README's first command, small: it finishes, prints its summary, leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def demo_processes() -> list[int]:
    """Processes (ours) started by a demo: they carry its namespace in their environment."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if b"STATUSWATCH_NAMESPACE=statuswatch-demo-" in environ:
            found.append(int(pid))
    return found


def test_demo_runs_and_cleans_up() -> None:
    before = set(demo_processes())
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "demo", "--messages", "60", "--deadline", "6"],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outcome    state      trackers" in result.stdout
    assert "60/60" in result.stdout
    assert set(demo_processes()) - before == set()
