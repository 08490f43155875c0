"""Filesystem operations the volume plugins share: MkdirAll, and mounts through `podrun.runtime.linux`.

Mounting needs root."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from podrun.kubelet.volumes.errors import PluginError, strerror
from podrun.runtime import linux

POD_DIR_MODE = 0o750


def mkdir_all(path: Path, mode: int) -> None:
    """os.MkdirAll: every missing directory gets `mode` (less the umask), not just the last."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    if current.exists() and not current.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(current))
    for directory in reversed(missing):
        try:
            directory.mkdir(mode)
        except FileExistsError:
            if not directory.is_dir():
                raise


def mount_tmpfs(path: Path, size: int) -> None:
    """mount -t tmpfs -o size=N tmpfs <path>, as the emptyDir plugin runs it (no size: the kernel's half)."""
    option = f"size={size}" if size > 0 else ""
    try:
        linux.mount("tmpfs", path, "tmpfs", 0, option)
    except OSError as error:
        arguments = f"-t tmpfs {f'-o {option} ' if option else ''}tmpfs {path}"
        raise PluginError(
            f"mount failed: {strerror(error)}\nMounting command: mount\nMounting arguments: {arguments}"
        ) from None


def unmount(mount_point: str) -> None:
    """umount2, lazily (MNT_DETACH) if the mount is busy; gone already is fine."""
    try:
        linux.umount(mount_point)
        return
    except OSError as error:
        code = error.errno or 0
    if code == errno.EBUSY:
        try:
            linux.umount(mount_point, linux.MNT_DETACH)
            return
        except OSError as error:
            code = error.errno or 0
    if code != errno.EINVAL:
        raise OSError(code, os.strerror(code), mount_point)


def bind_mount(source: str, target: Path) -> None:
    """mount --bind `source` `target`; the OSError names the target."""
    try:
        linux.mount(source, target, "", linux.MS_BIND)
    except OSError as error:
        raise OSError(error.errno, os.strerror(error.errno or 0), str(target)) from None
