"""The worker caps glibc's malloc arenas, unless the environment already does."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from worker import malloc


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert malloc.cap_arenas() is False


def test_glibc_takes_the_cap() -> None:
    # in a process of its own: the cap would otherwise stay on for the rest of the tests
    code = "from worker.malloc import cap_arenas; print(cap_arenas())"
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == str(platform.libc_ver()[0] == "glibc")
