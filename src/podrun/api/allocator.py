"""How `podrun serve` asks glibc's allocator to hold less memory.

glibc gives each thread that allocates its own arena (up to 8 per core), and the server's worker threads (the
event loop's default executor: file I/O, `rmtree`, unmounts) each keep a few MiB of free but unreturned pages
in theirs after a burst of pods. Two arenas (the main one and one the workers share) keep that to one
arena's worth; the threads do little allocation, so they hardly contend for it.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

# glibc's malloc.h: M_ARENA_MAX.
_M_ARENA_MAX = -8
SERVE_ARENAS = 2


def limit_arenas(count: int = SERVE_ARENAS) -> bool:
    """Let glibc's malloc use at most `count` arenas; False where there is no glibc `mallopt` or it refused."""
    mallopt = _mallopt()
    return mallopt is not None and mallopt(_M_ARENA_MAX, count) == 1


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt
