"""Thin wrappers over the Linux calls Python's standard library lacks: mount, umount2, setns, raising a
namespace's loopback; and the one reader of /proc/self/mountinfo.

They go through libc with ctypes so a mount costs microseconds, not a `mount(8)` process.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The interpreter's own symbols include libc's: `find_library("c")` would run `ldconfig -p` (a process) on
# every podrun start to find the same library.
_libc = ctypes.CDLL(None, use_errno=True)

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
CLONE_NEWUTS = 0x04000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = "16sh22x"  # struct ifreq: the name, then ifr_flags at the start of its 24-byte union


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


# The kernel writes a space, tab, newline or backslash in a mountinfo field as a backslash and three octal
# digits (`\\040`); any byte can be written that way, so decode every escape, not just the ones seen.
_OCTAL_ESCAPE = re.compile(rb"\\([0-3][0-7]{2})")


@dataclass(frozen=True)
class MountEntry:
    """One line of mountinfo: where something is mounted and its filesystem type."""

    mount_point: str
    fstype: str


def unescape_mount_field(field: bytes) -> str:
    """A mountinfo field with every octal escape (`\\040`, `\\011`, `\\012`, `\\134`, any `\\NNN`) decoded.

    Bytes that are not UTF-8 survive as surrogates (`os.fsdecode`), so the path still names the file.
    """
    return os.fsdecode(_OCTAL_ESCAPE.sub(lambda match: bytes([int(match.group(1), 8)]), field))


def escape_mount_field(path: str) -> bytes:
    """A path as mountinfo writes it: space, tab, newline and backslash as octal escapes (the kernel's
    `seq_path(..., " \\t\\n\\\\")`)."""
    raw = os.fsencode(path)
    for char, escaped in ((b"\\", rb"\134"), (b" ", rb"\040"), (b"\t", rb"\011"), (b"\n", rb"\012")):
        raw = raw.replace(char, escaped)
    return raw


def parse_mountinfo(text: bytes, containing: str | None = None) -> list[MountEntry]:
    """The entries of a mountinfo file's contents, in mount order (proc(5): the mount point is field 5,
    the filesystem type follows the `-` separator).

    With `containing`, only lines with that path somewhere in them are parsed (a caller looking for mounts at
    or under it filters the entries exactly): with 100 pods the file has ~800 lines, and parsing all of it for
    each unmount of a pod's teardown made every teardown cost more with every pod on the node.
    """
    entries = []
    lines = text.splitlines()
    if containing is not None:
        needle = escape_mount_field(containing)
        lines = [line for line in lines if needle in line]
    for line in lines:
        fields = line.split(b" ")
        if b"-" not in fields[6:]:
            continue
        separator = fields.index(b"-", 6)
        fstype = fields[separator + 1] if separator + 1 < len(fields) else b""
        entries.append(MountEntry(unescape_mount_field(fields[4]), unescape_mount_field(fstype)))
    return entries


def read_mount_table() -> bytes:
    """/proc/self/mountinfo as it is now. The kernel writes every mount of the node for each read (~2 ms at 540
    lines, growing with the pods): a caller unmounting under several paths at once reads it once and passes it on."""
    with open("/proc/self/mountinfo", "rb") as fh:
        return fh.read()


def read_mountinfo(containing: str | None = None, table: bytes | None = None) -> list[MountEntry]:
    """Every mount this process sees, from /proc/self/mountinfo (or `table`, its contents read before), in mount
    order (with `containing`, at least those whose mount point starts with it, see `parse_mountinfo`)."""
    return parse_mountinfo(read_mount_table() if table is None else table, containing)


def mounts_under(path: str | Path, table: bytes | None = None) -> list[str]:
    """Mount points at or below `path` (deepest first), from /proc/self/mountinfo (or `table`)."""
    prefix = str(Path(path).resolve())
    found = [
        entry.mount_point
        for entry in read_mountinfo(prefix, table)
        if entry.mount_point == prefix or entry.mount_point.startswith(prefix.rstrip("/") + "/")
    ]
    return sorted(found, key=len, reverse=True)


def mount_fstype(path: str | Path) -> str | None:
    """The type of the filesystem mounted exactly at `path` (the topmost one), or None."""
    target = str(Path(path).resolve())
    fstype = None
    for entry in read_mountinfo(target):
        if entry.mount_point == target:
            fstype = entry.fstype
    return fstype


def is_mountpoint(path: str | Path) -> bool:
    """True when something is mounted exactly at `path`."""
    return str(Path(path).resolve()) in mounts_under(path)


def unmount_all_under(path: str | Path, table: bytes | None = None) -> None:
    """Unmount everything at or below `path`, deepest first; busy mounts are detached lazily. `table`: the mount
    table, read (`read_mount_table`) after the last mount under `path` was made: a mount made later is missed. A
    mount it lists that is gone since fails both unmounts, quietly."""
    for target in mounts_under(path, table):
        try:
            umount(target)
        except OSError:
            with contextlib.suppress(OSError):
                umount(target, MNT_DETACH)


def unmount_mount_point(path: str | Path) -> None:
    """Unmount what podrun mounted at `path` (a container's rootfs), stacked mounts too, without reading the mount
    table: umount(2) says EINVAL once nothing is mounted there. It fails otherwise only when something is mounted
    below or the mount is busy, and then `unmount_all_under` takes over."""
    for _ in range(8):
        try:
            umount(path)
        except OSError as error:
            if error.errno in (errno.EINVAL, errno.ENOENT):
                return
            break
    unmount_all_under(path)


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


def set_hostname(uts_ns_path: str | Path, hostname: str) -> None:
    """Name the host of another UTS namespace (blocking: call from a worker thread), as `nsenter --uts hostname`
    would, without a process: this thread joins the namespace for the one call and returns to ours."""
    with open("/proc/thread-self/ns/uts") as home, open(uts_ns_path) as target:
        setns(target.fileno(), CLONE_NEWUTS)
        try:
            socket.sethostname(hostname)
        finally:
            setns(home.fileno(), CLONE_NEWUTS)


def loopback_up(ns_path: str | Path) -> None:
    """Bring `lo` up in a network namespace, as `ip link set lo up` does (blocking: call from a worker thread).

    An ioctl on a socket made inside the namespace: no `ip` process per sandbox.
    """
    with in_netns(ns_path), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        current = fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
        flags = struct.unpack(_IFREQ, current)[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))
