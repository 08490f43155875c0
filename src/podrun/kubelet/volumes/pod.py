"""A pod's volumes as a whole: set up, periodically rewritten, torn down."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podrun.kubelet.env import Getter
from podrun.kubelet.volumes.atomic_writer import atomic_write
from podrun.kubelet.volumes.empty_dir import setup_empty_dir
from podrun.kubelet.volumes.errors import PluginError, VolumeSetupError, strerror
from podrun.kubelet.volumes.fs import POD_DIR_MODE, mkdir_all, unmount
from podrun.kubelet.volumes.host_path import setup_host_path
from podrun.kubelet.volumes.payload import build_payload
from podrun.kubelet.volumes.spec import (
    ATOMIC_WRITER_SOURCES,
    MEMORY_BACKED,
    PLUGIN_DIRS,
    TokenGetter,
    VolumeContext,
    pod_volumes,
    volume_kind,
)
from podrun.model.errors import go_quote
from podrun.runtime import linux


@dataclass
class VolumeUpdate:
    """What a periodic resync of the atomic-writer volumes did."""

    changed: list[str] = field(default_factory=list)
    errors: list[VolumeSetupError] = field(default_factory=list)


def setup_pod_volumes(
    pod: Mapping[str, Any],
    pod_dir: Path,
    *,
    get_configmap: Getter,
    get_secret: Getter,
    get_token: TokenGetter,
    node_allocatable_memory: int,
    node_allocatable: Mapping[str, int] | None = None,
) -> dict[str, Path]:
    """Set up every volume of the pod (idempotently); return volume name -> host path.

    Raises VolumeSetupError for the first volume that fails, in `spec.volumes` order. `get_token` issues the
    service account tokens of projected volumes. `node_allocatable_memory` (bytes) caps tmpfs sizes.
    `node_allocatable` maps `cpu` (millicores) and `ephemeral-storage` (bytes): with the memory, they stand in
    for unset limits in downwardAPI files.
    """
    for directory in (pod_dir, pod_dir / "volumes", pod_dir / "plugins"):
        mkdir_all(directory, POD_DIR_MODE)
    allocatable = {**(node_allocatable or {}), "memory": node_allocatable_memory}
    context = VolumeContext(pod, pod_dir, get_configmap, get_secret, get_token, allocatable)
    paths: dict[str, Path] = {}
    for volume in pod_volumes(pod):
        paths[volume.get("name", "")] = _setup_volume(volume, context)[0]
    return paths


def update_pod_volumes(
    pod: Mapping[str, Any],
    pod_dir: Path,
    *,
    get_configmap: Getter,
    get_secret: Getter,
    get_token: TokenGetter,
    node_allocatable_memory: int,
    node_allocatable: Mapping[str, int] | None = None,
) -> VolumeUpdate:
    """Rewrite configMap, secret, downwardAPI and projected volumes whose content changed.

    This is the kubelet's periodic remount (`RequiresRemount`): unchanged volumes are not written at all,
    changed ones are swapped atomically. Each volume is done on its own; failures are collected.
    """
    allocatable = {**(node_allocatable or {}), "memory": node_allocatable_memory}
    context = VolumeContext(pod, pod_dir, get_configmap, get_secret, get_token, allocatable)
    result = VolumeUpdate()
    for volume in pod_volumes(pod):
        if volume_kind(volume) not in ATOMIC_WRITER_SOURCES:
            continue
        try:
            if _setup_volume(volume, context)[1]:
                result.changed.append(volume.get("name", ""))
        except VolumeSetupError as error:
            result.errors.append(error)
    return result


def teardown_pod_volumes(pod_dir: Path) -> None:
    """Unmount everything mounted under `pod_dir` (lazily if busy), then remove the directory."""
    root = os.path.realpath(pod_dir)
    # Mounts can be stacked; a few rounds clear them, and a mount that survives stops the removal below. Each round
    # reads the node's whole mount table: a pod without mounted volumes is done after one.
    remaining = linux.mounts_under(root)  # deepest first
    for _ in range(8):
        if not remaining:
            break
        for mount_point in remaining:
            unmount(mount_point)
        remaining = linux.mounts_under(root)
    if remaining:
        # Never delete into a mount: that would empty a tmpfs still in use, or worse, a bind-mounted host path.
        raise OSError(errno.EBUSY, f"still mounted under {root}: {', '.join(sorted(remaining))}")
    if os.path.lexists(root):
        shutil.rmtree(root)


def _setup_volume(volume: Mapping[str, Any], context: VolumeContext) -> tuple[Path, bool]:
    """SetUp of one volume: its host path, and whether its content was (re)written."""
    name = volume.get("name", "")
    kind = volume_kind(volume)
    try:
        if kind == "hostPath":
            return setup_host_path(volume["hostPath"]), False
        if kind not in PLUGIN_DIRS:
            # The kubelet's volume plugin manager, when no plugin (here: no podrun support) claims the spec.
            raise PluginError("no volume plugin matched")
        path = context.pod_dir / "volumes" / PLUGIN_DIRS[kind] / name
        source = volume.get(kind) or {}
        if kind == "emptyDir":
            medium = source.get("medium") or ""
            if medium not in ("", "Memory"):
                raise PluginError(f"unknown storage medium {go_quote(medium)}")
            setup_empty_dir(path, context, memory=medium == "Memory", size_limit=source.get("sizeLimit"))
            return path, False
        payload = build_payload(kind, source, context)
        setup_empty_dir(path, context, memory=kind in MEMORY_BACKED, size_limit=None)
        return path, atomic_write(path, payload)
    except PluginError as error:
        raise VolumeSetupError(name, str(error)) from None
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        raise VolumeSetupError(name, where + strerror(error)) from None
