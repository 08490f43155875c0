"""subPath and subPathExpr (`pkg/volume/util/subpath/subpath_linux.go`): resolved, kept inside the volume,
opened without following symlinks and pinned by a bind mount."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from podrun.kubelet.env import ContainerConfigError
from podrun.kubelet.expansion import expand
from podrun.kubelet.volumes.fs import POD_DIR_MODE, bind_mount, mkdir_all, unmount
from podrun.runtime import linux


def expand_sub_path_expr(expression: str, env: Mapping[str, str]) -> str:
    """ExpandContainerVolumeMounts: every referenced variable must be set and non-empty."""
    missing: set[str] = set()

    def lookup(name: str) -> str:
        value = env.get(name, "")
        if not value:
            missing.add(name)
        return value

    expanded = expand(expression, lookup)
    if missing:
        raise ContainerConfigError(f"missing value for {', '.join(sorted(missing))}")
    return expanded


def prepare_sub_path(volume_path: str, sub_path: str, where: str) -> tuple[str, str]:
    """The subPath part of makeMounts: validate, create it if missing (SafeMakeDir), resolve it.

    Returns the resolved subPath and volume path. The subPath, symlinks followed, must stay inside the
    volume (doBindSubPath, safeOpenSubPath).
    """
    if sub_path.startswith("/"):
        raise ContainerConfigError(f"error SubPath `{sub_path}` must not be an absolute path")
    if ".." in sub_path.split("/"):
        raise ContainerConfigError(f"unable to provision SubPath `{sub_path}`: must not contain '..'")
    full = os.path.join(volume_path, sub_path)
    base = os.path.realpath(volume_path)
    if not os.path.exists(full):
        try:
            _safe_make_dir(volume_path, sub_path, base)
        except OSError:
            # As the kubelet, keep details of the host filesystem out of the message.
            raise ContainerConfigError(f"failed to create subPath directory for {where}") from None
    resolved = os.path.realpath(full)
    if not os.path.exists(resolved) or not _within(resolved, base):
        raise ContainerConfigError(f"failed to prepare subPath for {where}")
    return resolved, base


def bind_sub_path(resolved: str, base: str, target: Path) -> str:
    """doBindSubPath: bind-mount the subPath, opened without following symlinks, onto `target`.

    A target still mounted from an earlier instance of the container is reused if it is the same file,
    else unmounted first (prepareSubpathTarget).
    """
    fd = _safe_open(resolved, base)
    try:
        wanted = os.fstat(fd)
        if linux.mount_fstype(os.path.realpath(target)) is not None:
            current = os.lstat(target)
            if (current.st_dev, current.st_ino) == (wanted.st_dev, wanted.st_ino):
                return str(target)
            unmount(str(target))
        mkdir_all(target.parent, POD_DIR_MODE)
        if stat.S_ISDIR(wanted.st_mode):
            target.mkdir(POD_DIR_MODE, exist_ok=True)
        elif not target.exists():
            # An empty file is a mount point for any non-directory (file, device, socket...).
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o640))
        bind_mount(f"/proc/self/fd/{fd}", target)
    finally:
        os.close(fd)
    return str(target)


def _safe_open(path: str, base: str) -> int:
    """doSafeOpen: an O_PATH descriptor for `path`, opened from `base` one component at a time with
    O_NOFOLLOW, failing on any symlink, so what is opened is inside the volume whatever changes meanwhile."""
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(base, flags | os.O_DIRECTORY)
    try:
        for part in Path(os.path.relpath(path, base)).parts:
            if part == ".":
                continue
            child = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = child
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(errno.ELOOP, f"unexpected symlink found {part}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _safe_make_dir(volume_path: str, sub_path: str, base: str) -> None:
    """SafeMakeDir: create the missing tail of the subPath with the volume root's permissions.

    The existing part is resolved first and must lie inside the volume, so a symlink cannot make this
    create directories elsewhere; each new directory is chmodded as the umask would otherwise narrow it.
    """
    mode = stat.S_IMODE(os.stat(volume_path).st_mode) & 0o777
    parts = [part for part in sub_path.split("/") if part not in ("", ".")]
    existing = volume_path
    while parts and os.path.exists(os.path.join(existing, parts[0])):
        existing = os.path.join(existing, parts.pop(0))
    current = os.path.realpath(existing)
    if not _within(current, base):
        raise OSError(errno.EXDEV, f"path {current} is outside of allowed base {base}")
    for part in parts:
        current = os.path.join(current, part)
        os.mkdir(current, mode)
        os.chmod(current, mode, follow_symlinks=False)


def _within(path: str, base: str) -> bool:
    """PathWithinBase: `path` is `base` or below it (both already resolved)."""
    return os.path.commonpath([path, base]) == base
