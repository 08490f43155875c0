"""Thin wrappers over the Linux calls Python's standard library lacks: mount, umount2, setns.

They go through libc with ctypes so a mount costs microseconds, not a `mount(8)` process.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from pathlib import Path

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2
CLONE_NEWNET = 0x40000000


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str | Path, fstype: str, flags: int = 0, data: str = "") -> None:
    """mount(2)."""
    _check(
        _libc.mount(
            source.encode(),
            str(target).encode(),
            fstype.encode(),
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {fstype} on {target}",
    )


def umount(target: str | Path, flags: int = 0) -> None:
    """umount2(2)."""
    _check(_libc.umount2(str(target).encode(), flags), f"umount {target}")


def setns(fd: int, nstype: int) -> None:
    """setns(2) for the calling thread."""
    _check(_libc.setns(fd, nstype), "setns")


def mounts_under(path: str | Path) -> list[str]:
    """Mount points at or below `path` (deepest first), from /proc/self/mountinfo."""
    prefix = str(Path(path).resolve())
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            target = line.split()[4].replace("\\040", " ")
            if target == prefix or target.startswith(prefix + "/"):
                found.append(target)
    return sorted(found, key=len, reverse=True)


def is_mountpoint(path: str | Path) -> bool:
    """True when something is mounted exactly at `path`."""
    return str(Path(path).resolve()) in mounts_under(path)


def unmount_all_under(path: str | Path) -> None:
    """Unmount everything at or below `path`, deepest first; busy mounts are detached lazily."""
    for target in mounts_under(path):
        try:
            umount(target)
        except OSError:
            with contextlib.suppress(OSError):
                umount(target, MNT_DETACH)


@contextlib.contextmanager
def in_netns(ns_path: str | Path) -> Iterator[None]:
    """Run the block with this thread inside another network namespace, then return to ours.

    setns(CLONE_NEWNET) affects only the calling thread, so a worker thread can do this while the
    event loop's thread stays in the host namespace. Sockets keep the namespace they were made in.
    """
    with open("/proc/thread-self/ns/net") as home, open(ns_path) as target:
        setns(target.fileno(), CLONE_NEWNET)
        try:
            yield
        finally:
            setns(home.fileno(), CLONE_NEWNET)
