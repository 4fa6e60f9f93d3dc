"""Cap glibc's malloc arenas, so a threaded worker's memory stays flat.

glibc gives each thread that contends for the allocator an arena of its own, up to eight
per core, and an arena's freed memory is seldom handed back. A worker with sixteen pool
threads then grows in steps whenever more of them are busy at once (pymalloc serves small
objects, but socket buffers, JSON strings and anything over 512 bytes go to malloc). Two
arenas is the usual cure for threaded Python services; ``MALLOC_ARENA_MAX`` in the
environment, which glibc reads at start-up, still wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: mallopt's parameter number for the arena cap (glibc's malloc.h)
M_ARENA_MAX = -8
ARENAS = 2


def cap_arenas(arenas: int = ARENAS) -> bool:
    """Limit malloc to ``arenas`` arenas; True when glibc took the setting.

    Call it before the pool's threads start: arenas already made stay. Does nothing where
    the C library is not glibc or ``MALLOC_ARENA_MAX`` is set.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    result: int = mallopt(M_ARENA_MAX, arenas)
    return result == 1
