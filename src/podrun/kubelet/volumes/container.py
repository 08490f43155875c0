"""The mounts a container gets (`makeMounts`) and its termination-log file."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from podrun.kubelet.env import ContainerConfigError
from podrun.kubelet.volumes.errors import go_error
from podrun.kubelet.volumes.fs import POD_DIR_MODE, mkdir_all
from podrun.kubelet.volumes.spec import ATOMIC_WRITER_SOURCES, dicts, pod_volumes, volume_kind
from podrun.kubelet.volumes.subpath import bind_sub_path, expand_sub_path_expr, prepare_sub_path
from podrun.model.errors import go_quote
from podrun.runtime.protocol import Mount

ETC_HOSTS_PATH = "/etc/hosts"
MAX_TERMINATION_MESSAGE_LENGTH = 1024 * 4  # kubecontainer.MaxContainerTerminationMessageLength
_PROPAGATION = {None: "private", "None": "private", "HostToContainer": "rslave", "Bidirectional": "rshared"}


def mounts_etc_hosts(container: Mapping[str, Any]) -> bool:
    """True if the container mounts something at /etc/hosts itself, so the kubelet's file is not mounted."""
    return any(mount.get("mountPath") == ETC_HOSTS_PATH for mount in dicts(container.get("volumeMounts")))


def container_mounts(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    volume_paths: Mapping[str, Path],
    *,
    pod_dir: Path,
    env: Mapping[str, str],
) -> list[Mount]:
    """makeMounts: the container's volume mounts, in `volumeMounts` order; raises ContainerConfigError.

    `env` is the container's resolved environment, for `subPathExpr`. A subPath is pinned by a bind mount
    under `pod_dir` (root only), which `teardown_pod_volumes` removes. The /etc/hosts mount is the
    caller's (see `mounts_etc_hosts`).
    """
    sources = {volume.get("name", ""): volume_kind(volume) for volume in pod_volumes(pod)}
    container_name = container.get("name", "")
    mounts: list[Mount] = []
    for index, mount in enumerate(dicts(container.get("volumeMounts"))):
        name = mount.get("name", "")
        if name not in volume_paths:
            raise ContainerConfigError(
                f"cannot find volume {go_quote(name)} to mount into container {go_quote(container_name)}"
            )
        host_path = str(volume_paths[name])
        sub_path = mount.get("subPath") or ""
        if mount.get("subPathExpr"):
            sub_path = expand_sub_path_expr(mount["subPathExpr"], env)
        if sub_path:
            where = f"volumeMount {go_quote(name)} of container {go_quote(container_name)}"
            resolved, base = prepare_sub_path(host_path, sub_path, where)
            target = pod_dir / "volume-subpaths" / name / container_name / str(index)
            try:
                host_path = bind_sub_path(resolved, base, target)
            except OSError:
                # As the kubelet, keep details of the host filesystem out of the message.
                raise ContainerConfigError(f"failed to prepare subPath for {where}") from None
        propagation = mount.get("mountPropagation")
        if propagation not in _PROPAGATION:
            raise ContainerConfigError(f"invalid MountPropagation mode: {go_quote(str(propagation))}")
        mounts.append(
            Mount(
                container_path=mount.get("mountPath", ""),
                host_path=host_path,
                readonly=bool(mount.get("readOnly")) or sources.get(name) in ATOMIC_WRITER_SOURCES,
                propagation=_PROPAGATION[propagation],
            )
        )
    return mounts


def termination_log_mount(pod_dir: Path, container: Mapping[str, Any]) -> Mount:
    """Create `<pod_dir>/containers/<name>/<8 hex>` (mode 0666) and mount it at `terminationMessagePath`.

    A new file for every container instance, as the kubelet does, so a restart starts with an empty message.
    """
    directory = pod_dir / "containers" / container.get("name", "")
    mkdir_all(directory, POD_DIR_MODE)
    while True:
        path = directory / f"{random.getrandbits(32):08x}"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    # The umask applied at creation; the kubelet chmods for the same reason.
    os.chmod(path, 0o666)
    return Mount(container_path=container.get("terminationMessagePath", ""), host_path=str(path))


def read_termination_message(host_path: str | Path, max_bytes: int = MAX_TERMINATION_MESSAGE_LENGTH) -> str:
    """The last `max_bytes` of the termination-log file (tail.ReadAtMost); "" if it does not exist.

    Other read errors become the kubelet's `Error on reading termination log <path>: <err>` message.
    """
    try:
        with open(host_path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            file.seek(max(0, size - max_bytes))
            data = file.read(max_bytes)
    except FileNotFoundError:
        return ""
    except OSError as error:
        return f"Error on reading termination log {host_path}: {go_error('open', str(host_path), error)}"
    # The status is JSON: bytes that are not UTF-8 become U+FFFD there.
    return data.decode("utf-8", "replace")
