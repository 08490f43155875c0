"""One podrun (`run` or `serve`) per root at a time: the node network, its DNS server and its ports are the root's.

The lock is an `flock` on `<run-root>/podrun.lock`, held for the life of the process, so a crash releases it;
the file names its holder for the message a second podrun prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class RootInUse(Exception):
    """Another podrun process holds the root."""


@contextlib.contextmanager
def exclusive_root(run_root: Path, what: str) -> Iterator[None]:
    """Hold the root for this process (`what` names it, e.g. `podrun run`), or raise RootInUse at once."""
    run_root.mkdir(parents=True, exist_ok=True)
    path = run_root / "podrun.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise RootInUse(f"{holder} is using {run_root}: one podrun run or serve per root at a time") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)
