"""`podrun serve` limits glibc's malloc arenas before its worker threads start (`podrun.api.allocator`)."""

from __future__ import annotations

import subprocess
import sys


def test_glibc_takes_the_arena_limit() -> None:
    # A fresh interpreter: the limit stays for the life of the process that sets it.
    probe = "from podrun.api.allocator import limit_arenas; print(limit_arenas())"

    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "True"
