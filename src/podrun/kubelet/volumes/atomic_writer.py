"""The atomic writer (`pkg/volume/util/atomic_writer.go`): a payload swapped into a volume in one rename."""

from __future__ import annotations

import os
import posixpath
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path

from podrun.kubelet.volumes.errors import PluginError
from podrun.kubelet.volumes.payload import Payload
from podrun.model.errors import go_quote

_DATA_DIR = "..data"
_NEW_DATA_DIR = "..data_tmp"
_MAX_FILE_NAME_LENGTH = 255
_MAX_PATH_LENGTH = 4096


def atomic_write(target: Path, payload: Payload) -> bool:
    """AtomicWriter.Write: project `payload` into `target`; True if anything was written.

    Files go to a new `..<UTC timestamp>.<random>` directory; `..data` is switched to it by renaming a
    fresh `..data_tmp` symlink over it; each top-level name is a symlink `name -> ..data/name`; names no
    longer in the payload are removed, then the previous timestamped directory.
    """
    clean = {_validate_payload_path(path): content for path, content in payload.items()}
    data_link = target / _DATA_DIR
    old_ts = os.readlink(data_link) if data_link.is_symlink() else ""
    to_remove: set[str] = set()
    if old_ts:
        old_ts_path = target / old_ts
        to_remove = _existing_paths(old_ts_path) - _paths_with_parents(clean)
        if not to_remove and not _should_write(clean, old_ts_path):
            # Nothing changed; the user-visible links are still made sure of (kubernetes#121472).
            _create_user_visible_files(target, clean)
            return False
    ts_dir = _new_timestamp_dir(target)
    for path, (content, mode) in clean.items():
        full = ts_dir / path
        full.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        # The umask applied at creation; the mode asked for is the mode wanted.
        os.chmod(full, mode)
    new_link = target / _NEW_DATA_DIR
    if new_link.is_symlink():
        # Left by a write that was interrupted; it would make the symlink below fail.
        new_link.unlink()
    os.symlink(ts_dir.name, new_link)
    os.rename(new_link, data_link)
    _create_user_visible_files(target, clean)
    for path in to_remove:
        # Only top-level names are links of their own; nested ones live inside ..data.
        if "/" not in path:
            (target / path).unlink(missing_ok=True)
    if old_ts:
        shutil.rmtree(target / old_ts, ignore_errors=True)
    return True


def _validate_payload_path(path: str) -> str:
    """validatePath, then path.Clean: relative, no `..` element, not starting with `..`, bounded lengths."""
    if path == "":
        raise PluginError(f"invalid path: must not be empty: {go_quote(path)}")
    if path.startswith("/"):
        raise PluginError(f"invalid path: must be relative path: {path}")
    if len(path) > _MAX_PATH_LENGTH:
        raise PluginError(f"invalid path: must be less than or equal to {_MAX_PATH_LENGTH} characters")
    items = path.split("/")
    for item in items:
        if item == "..":
            raise PluginError(f"invalid path: must not contain '..': {path}")
        if len(item) > _MAX_FILE_NAME_LENGTH:
            raise PluginError(
                f"invalid path: filenames must be less than or equal to {_MAX_FILE_NAME_LENGTH} characters"
            )
    if items[0].startswith("..") and len(items[0]) > 2:
        raise PluginError(f"invalid path: must not start with '..': {path}")
    return posixpath.normpath(path)


def _existing_paths(ts_dir: Path) -> set[str]:
    """Every path (files and directories) inside the current timestamped directory, relative to it."""
    found: set[str] = set()
    for directory, dirs, files in os.walk(ts_dir):
        relative = os.path.relpath(directory, ts_dir)
        for name in [*dirs, *files]:
            found.add(name if relative == "." else f"{relative}/{name}")
    return found


def _paths_with_parents(payload: Payload) -> set[str]:
    """The payload's paths and all their parent directories, which must not be removed."""
    paths: set[str] = set()
    for path in payload:
        while path:
            paths.add(path)
            path = posixpath.dirname(path)
    return paths


def _should_write(payload: Payload, old_ts_path: Path) -> bool:
    """shouldWritePayload: some file is new or has other content (modes are not compared, as in Go)."""
    for path, (content, _mode) in payload.items():
        current = old_ts_path / path
        if not os.path.lexists(current) or current.read_bytes() != content:
            return True
    return False


def _new_timestamp_dir(target: Path) -> Path:
    """newTimestampDir: `..2006_01_02_15_04_05.<random decimal>` (os.MkdirTemp), chmod 0755."""
    prefix = datetime.now(UTC).strftime("..%Y_%m_%d_%H_%M_%S.")
    while True:
        ts_dir = target / f"{prefix}{random.getrandbits(32)}"
        try:
            ts_dir.mkdir(0o700)
            break
        except FileExistsError:
            continue
    # Group and others must be able to traverse it, whatever the umask.
    ts_dir.chmod(0o755)
    return ts_dir


def _create_user_visible_files(target: Path, payload: Payload) -> None:
    """createUserVisibleFiles: `first-component -> ..data/first-component`, where missing."""
    for path in payload:
        first = path.split("/", 1)[0]
        link = target / first
        if not os.path.lexists(link):
            os.symlink(f"{_DATA_DIR}/{first}", link)
