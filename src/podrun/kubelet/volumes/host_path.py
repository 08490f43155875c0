"""hostPath (`pkg/volume/hostpath`): no `..`, then `checkTypeInternal`."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from podrun.kubelet.volumes.errors import PluginError, go_error
from podrun.kubelet.volumes.fs import mkdir_all


def setup_host_path(source: Mapping[str, Any]) -> Path:
    """hostPathMounter.SetUp: reject `..`, then check (or create) the path by its type."""
    path = source.get("path", "")
    if ".." in path.split("/"):
        raise PluginError(f"invalid HostPath `{path}`: must not contain '..'")
    path_type = source.get("type") or ""
    if path_type:
        _check_host_path_type(path, path_type)
    return Path(path)


def _check_host_path_type(path: str, path_type: str) -> None:
    """checkTypeInternal, with the kubelet's messages. Existence and type follow symlinks (os.Stat)."""
    try:
        mode: int | None = os.stat(path).st_mode
    except OSError:
        mode = None
    if path_type == "DirectoryOrCreate" and mode is None:
        try:
            # makeDir: MkdirAll with 0755, subject to the umask like any mkdir.
            mkdir_all(Path(path), 0o755)
        except OSError as error:
            raise PluginError(go_error("mkdir", error.filename or path, error)) from None
        return
    if path_type == "FileOrCreate" and mode is None:
        try:
            # makeFile: open(O_CREAT, 0644). The parent is not created: a missing one is an error.
            os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o644))
        except OSError as error:
            raise PluginError(go_error("open", path, error)) from None
        return
    checks = {
        "DirectoryOrCreate": (stat.S_ISDIR, "a directory"),
        "Directory": (stat.S_ISDIR, "a directory"),
        # IsFile is "exists and is not a directory".
        "FileOrCreate": (lambda m: not stat.S_ISDIR(m), "a file"),
        "File": (lambda m: not stat.S_ISDIR(m), "a file"),
        "Socket": (stat.S_ISSOCK, "a socket file"),
        "CharDevice": (stat.S_ISCHR, "a character device"),
        "BlockDevice": (stat.S_ISBLK, "a block device"),
    }
    if path_type not in checks:
        raise PluginError(f"{path_type} is an invalid volume type")
    check, what = checks[path_type]
    if mode is None or not check(mode):
        raise PluginError(f"hostPath type check failed: {path} is not {what}")
