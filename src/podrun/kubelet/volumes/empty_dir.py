"""emptyDir (`pkg/volume/emptydir`): the 0777 directory, the tmpfs of `medium: Memory`, usage and sizeLimit."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from podrun.kubelet.volumes.fs import mkdir_all, mount_tmpfs
from podrun.kubelet.volumes.spec import VolumeContext, dicts, pod_volumes
from podrun.runtime import linux

# pkg/kubelet/eviction/helpers.go emptyDirMessageFmt, trailing space included.
EMPTY_DIR_EVICTION_MESSAGE = 'Usage of EmptyDir volume "{}" exceeds the limit "{}". '

_EMPTY_DIR_MODE = 0o777


def setup_empty_dir(path: Path, context: VolumeContext, *, memory: bool, size_limit: str | None) -> None:
    """emptyDir setupDir (0777 whatever the umask), plus setupTmpfs for the memory medium."""
    mkdir_all(path.parent, 0o777)
    if not path.is_dir():
        path.mkdir(_EMPTY_DIR_MODE)
    # Only the permission bits are compared (Go's Mode().Perm()): a mounted tmpfs root is 1777 and stays so.
    if path.lstat().st_mode & 0o777 != _EMPTY_DIR_MODE:
        path.chmod(_EMPTY_DIR_MODE)
    if memory and linux.mount_fstype(os.path.realpath(path)) != "tmpfs":
        size = _tmpfs_size(context.pod, size_limit, context.node_allocatable.get("memory", 0))
        mount_tmpfs(path, size)


def _tmpfs_size(pod: Mapping[str, Any], size_limit: str | None, node_allocatable_memory: int) -> int:
    """calculateEmptyDirMemorySize: node allocatable, lowered to the pod memory limit, then to sizeLimit."""
    size = node_allocatable_memory
    pod_limit = _pod_memory_limit(pod)
    if pod_limit is not None and 0 < pod_limit <= size:
        size = pod_limit
    if size_limit is not None:
        volume_limit = _bytes(size_limit)
        if 0 < volume_limit <= size:
            size = volume_limit
    return size


def _pod_memory_limit(pod: Mapping[str, Any]) -> int | None:
    """The pod cgroup's memory limit (ResourceConfigForPod): None unless every container sets one.

    PodLimits: the regular containers and sidecars add up; each regular init container runs beside the
    sidecars started before it, and the pod needs the largest of those moments.
    """
    spec = pod.get("spec") or {}
    containers = dicts(spec.get("containers"))
    init_containers = dicts(spec.get("initContainers"))
    if any(_memory_limit(container) == 0 for container in [*containers, *init_containers]):
        return None
    total = sum(_memory_limit(container) for container in containers)
    sidecars = 0
    init_peak = 0
    for container in init_containers:
        limit = _memory_limit(container)
        if container.get("restartPolicy") == "Always":
            total += limit
            sidecars += limit
            init_peak = max(init_peak, sidecars)
        else:
            init_peak = max(init_peak, limit + sidecars)
    return max(total, init_peak)


def _memory_limit(container: Mapping[str, Any]) -> int:
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return _bytes(limit) if limit is not None else 0


def empty_dir_usage(path: str | Path) -> int:
    """Bytes used under `path`, as the kubelet's `fs.DiskUsage` counts them for emptyDir metrics.

    Allocated blocks (st_blocks * 512) of every inode under `path`, hard links and directories once each,
    without following symlinks or crossing into other filesystems.
    """
    root = os.lstat(path)
    seen: set[int] = set()
    total = 0
    pending = [os.fspath(path)]
    while pending:
        current = pending.pop()
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            # Deleted after its directory was read.
            continue
        if info.st_dev != root.st_dev:
            continue
        if info.st_nlink > 1:
            if info.st_ino in seen:
                continue
            seen.add(info.st_ino)
        total += info.st_blocks * 512
        if stat.S_ISDIR(info.st_mode):
            try:
                pending.extend(entry.path for entry in os.scandir(current))
            except FileNotFoundError:
                continue
    return total


def size_limit_exceeded(pod: Mapping[str, Any], volume_paths: Mapping[str, Path]) -> tuple[str, str] | None:
    """The first emptyDir using more than its `sizeLimit`: (volume name, limit), else None.

    `emptyDirLimitEviction`: the limit must be positive and the usage strictly above it. The pair fills
    EMPTY_DIR_EVICTION_MESSAGE.
    """
    for volume in pod_volumes(pod):
        source = volume.get("emptyDir")
        name = volume.get("name", "")
        if not isinstance(source, dict) or source.get("sizeLimit") is None or name not in volume_paths:
            continue
        limit = _bytes(source["sizeLimit"])
        if limit > 0 and empty_dir_usage(volume_paths[name]) > limit:
            from podrun.model.quantity import canonical

            return name, canonical(source["sizeLimit"])
    return None


def _bytes(value: Any) -> int:
    # The quantities (and decimal, fractions) load with the first pod that has one: an idle server holds none.
    from podrun.model import quantity

    return quantity.to_bytes(value)
