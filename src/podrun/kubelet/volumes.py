"""A pod's volumes on disk, and the mounts each container gets, as the kubelet's volume plugins make them.

Layout (`makePodDataDirs`, `GetPodVolumeDir`): `<pod_dir>/{volumes,plugins}` (0750), and each volume at
`<pod_dir>/volumes/<plugin>/<name>`; hostPath volumes are used where they are.

What each plugin does (`pkg/volume/...`):
- emptyDir (`emptydir/empty_dir.go`): a 0777 directory; `medium: Memory` mounts a tmpfs sized by
  `calculateEmptyDirMemorySize`. Any other medium (HugePages) is not supported.
- hostPath (`hostpath/host_path.go`): no `..`, then `checkTypeInternal`.
- configMap, secret, downwardAPI, projected: the payload is computed first (`MakePayload`, `CollectData`,
  `collectData`), then the wrapped emptyDir is set up and the payload written with the atomic writer
  (`util/atomic_writer.go`). configMap wraps a disk emptyDir; secret, downwardAPI and projected wrap a
  `Memory` one, so they are tmpfs-backed. All four are mounted read-only (their `GetAttributes().ReadOnly`).
  Projected `serviceAccountToken` and `clusterTrustBundle` sources are skipped: podrun has neither.

Container mounts follow `makeMounts` (`pkg/kubelet/kubelet_pods.go`) and the termination-log file
`kuberuntime_container.go` (`makeMounts` there). A subPath is resolved, checked to stay inside its volume,
then opened component by component without following symlinks and bind-mounted from that descriptor to
`<pod_dir>/volume-subpaths/<volume>/<container>/<index>` (`pkg/volume/util/subpath/subpath_linux.go`), so a
symlink swapped in later cannot redirect the runtime's mount. fsGroup ownership, SELinux relabelling and
recursive read-only mounts are not done.

Mounting needs root: `mount(2)` and `umount2(2)` are called through libc.
"""

from __future__ import annotations

import base64
import ctypes
import errno
import os
import posixpath
import random
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from podrun.kubelet.env import (
    ContainerConfigError,
    Getter,
    container_resource_value,
    pod_field_value,
    secret_data,
)
from podrun.kubelet.expansion import expand
from podrun.model.errors import go_quote
from podrun.model.quantity import canonical, to_bytes
from podrun.runtime.protocol import Mount

Obj = dict[str, Any]
# One file of an atomic-writer volume: its path in the volume -> (content, mode).
Payload = dict[str, tuple[bytes, int]]

PLUGIN_DIRS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
# The wrapped emptyDir medium of the atomic-writer plugins (their wrappedVolumeSpec).
_MEMORY_BACKED = frozenset({"secret", "downwardAPI", "projected"})
_ATOMIC_WRITER_SOURCES = ("configMap", "secret", "downwardAPI", "projected")
ETC_HOSTS_PATH = "/etc/hosts"
MAX_TERMINATION_MESSAGE_LENGTH = 1024 * 4  # kubecontainer.MaxContainerTerminationMessageLength
# pkg/kubelet/eviction/helpers.go emptyDirMessageFmt, trailing space included.
EMPTY_DIR_EVICTION_MESSAGE = 'Usage of EmptyDir volume "{}" exceeds the limit "{}". '

_EMPTY_DIR_MODE = 0o777
_POD_DIR_MODE = 0o750
_DATA_DIR = "..data"
_NEW_DATA_DIR = "..data_tmp"
_MAX_FILE_NAME_LENGTH = 255
_MAX_PATH_LENGTH = 4096
_MNT_DETACH = 2
_MS_BIND = 4096
_PROPAGATION = {None: "private", "None": "private", "HostToContainer": "rslave", "Bidirectional": "rshared"}


class VolumeSetupError(Exception):
    """A volume could not be set up: `message` is the plugin's error, as the kubelet reports it.

    The kubelet's `FailedMount` event reads `MountVolume.SetUp failed for volume "<volume>" : <message>`.
    """

    def __init__(self, volume: str, message: str) -> None:
        super().__init__(message)
        self.volume = volume
        self.message = message


class _PluginError(Exception):
    """A volume plugin's error message, before it is attributed to a volume."""


@dataclass
class VolumeUpdate:
    """What a periodic resync of the atomic-writer volumes did."""

    changed: list[str] = field(default_factory=list)
    errors: list[VolumeSetupError] = field(default_factory=list)


@dataclass(frozen=True)
class _Context:
    pod: Mapping[str, Any]
    pod_dir: Path
    get_configmap: Getter
    get_secret: Getter
    node_allocatable: Mapping[str, int]


def setup_pod_volumes(
    pod: Mapping[str, Any],
    pod_dir: Path,
    *,
    get_configmap: Getter,
    get_secret: Getter,
    node_allocatable_memory: int,
    node_allocatable: Mapping[str, int] | None = None,
) -> dict[str, Path]:
    """Set up every volume of the pod (idempotently); return volume name -> host path.

    Raises VolumeSetupError for the first volume that fails, in `spec.volumes` order.
    `node_allocatable_memory` (bytes) caps tmpfs sizes. `node_allocatable` maps `cpu` (millicores) and
    `ephemeral-storage` (bytes): with the memory, they stand in for unset limits in downwardAPI files.
    """
    for directory in (pod_dir, pod_dir / "volumes", pod_dir / "plugins"):
        _mkdir_all(directory, _POD_DIR_MODE)
    context = _Context(
        pod, pod_dir, get_configmap, get_secret, {**(node_allocatable or {}), "memory": node_allocatable_memory}
    )
    paths: dict[str, Path] = {}
    for volume in _volumes(pod):
        paths[volume.get("name", "")] = _setup_volume(volume, context)[0]
    return paths


def update_pod_volumes(
    pod: Mapping[str, Any],
    pod_dir: Path,
    *,
    get_configmap: Getter,
    get_secret: Getter,
    node_allocatable_memory: int,
    node_allocatable: Mapping[str, int] | None = None,
) -> VolumeUpdate:
    """Rewrite configMap, secret, downwardAPI and projected volumes whose content changed.

    This is the kubelet's periodic remount (`RequiresRemount`): unchanged volumes are not written at all,
    changed ones are swapped atomically. Each volume is done on its own; failures are collected.
    """
    context = _Context(
        pod, pod_dir, get_configmap, get_secret, {**(node_allocatable or {}), "memory": node_allocatable_memory}
    )
    result = VolumeUpdate()
    for volume in _volumes(pod):
        if _volume_kind(volume) not in _ATOMIC_WRITER_SOURCES:
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
    # Mounts can be stacked; a few rounds clear them, and a mount that survives stops the removal below.
    for _ in range(8):
        mounted = _mount_points_under(root)
        if not mounted:
            break
        for mount_point in sorted(mounted, key=len, reverse=True):
            _unmount(mount_point)
    remaining = _mount_points_under(root)
    if remaining:
        # Never delete into a mount: that would empty a tmpfs still in use, or worse, a bind-mounted host path.
        raise OSError(errno.EBUSY, f"still mounted under {root}: {', '.join(sorted(remaining))}")
    if os.path.lexists(root):
        shutil.rmtree(root)


def mounts_etc_hosts(container: Mapping[str, Any]) -> bool:
    """True if the container mounts something at /etc/hosts itself, so the kubelet's file is not mounted."""
    return any(mount.get("mountPath") == ETC_HOSTS_PATH for mount in _dicts(container.get("volumeMounts")))


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
    sources = {volume.get("name", ""): _volume_kind(volume) for volume in _volumes(pod)}
    container_name = container.get("name", "")
    mounts: list[Mount] = []
    for index, mount in enumerate(_dicts(container.get("volumeMounts"))):
        name = mount.get("name", "")
        if name not in volume_paths:
            raise ContainerConfigError(
                f"cannot find volume {go_quote(name)} to mount into container {go_quote(container_name)}"
            )
        host_path = str(volume_paths[name])
        sub_path = mount.get("subPath") or ""
        if mount.get("subPathExpr"):
            sub_path = _expand_sub_path_expr(mount["subPathExpr"], env)
        if sub_path:
            where = f"volumeMount {go_quote(name)} of container {go_quote(container_name)}"
            resolved, base = _prepare_sub_path(host_path, sub_path, where)
            target = pod_dir / "volume-subpaths" / name / container_name / str(index)
            try:
                host_path = _bind_sub_path(resolved, base, target)
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
                readonly=bool(mount.get("readOnly")) or sources.get(name) in _ATOMIC_WRITER_SOURCES,
                propagation=_PROPAGATION[propagation],
            )
        )
    return mounts


def termination_log_mount(pod_dir: Path, container: Mapping[str, Any]) -> Mount:
    """Create `<pod_dir>/containers/<name>/<8 hex>` (mode 0666) and mount it at `terminationMessagePath`.

    A new file for every container instance, as the kubelet does, so a restart starts with an empty message.
    """
    directory = pod_dir / "containers" / container.get("name", "")
    _mkdir_all(directory, _POD_DIR_MODE)
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
        return f"Error on reading termination log {host_path}: {_go_error('open', str(host_path), error)}"
    # The status is JSON: bytes that are not UTF-8 become U+FFFD there.
    return data.decode("utf-8", "replace")


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
    for volume in _volumes(pod):
        source = volume.get("emptyDir")
        name = volume.get("name", "")
        if not isinstance(source, dict) or source.get("sizeLimit") is None or name not in volume_paths:
            continue
        limit = to_bytes(source["sizeLimit"])
        if limit > 0 and empty_dir_usage(volume_paths[name]) > limit:
            return name, canonical(source["sizeLimit"])
    return None


# --- volume set-up -------------------------------------------------------------------------------------


def _setup_volume(volume: Mapping[str, Any], context: _Context) -> tuple[Path, bool]:
    """SetUp of one volume: its host path, and whether its content was (re)written."""
    name = volume.get("name", "")
    kind = _volume_kind(volume)
    try:
        if kind == "hostPath":
            return _setup_host_path(volume["hostPath"]), False
        if kind not in PLUGIN_DIRS:
            # The kubelet's volume plugin manager, when no plugin (here: no podrun support) claims the spec.
            raise _PluginError("no volume plugin matched")
        path = context.pod_dir / "volumes" / PLUGIN_DIRS[kind] / name
        source = volume.get(kind) or {}
        if kind == "emptyDir":
            medium = source.get("medium") or ""
            if medium not in ("", "Memory"):
                raise _PluginError(f"unknown storage medium {go_quote(medium)}")
            _setup_empty_dir(path, context, memory=medium == "Memory", size_limit=source.get("sizeLimit"))
            return path, False
        payload = _payload(kind, source, context)
        _setup_empty_dir(path, context, memory=kind in _MEMORY_BACKED, size_limit=None)
        return path, _atomic_write(path, payload)
    except _PluginError as error:
        raise VolumeSetupError(name, str(error)) from None
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        raise VolumeSetupError(name, where + _strerror(error)) from None


def _setup_empty_dir(path: Path, context: _Context, *, memory: bool, size_limit: str | None) -> None:
    """emptyDir setupDir (0777 whatever the umask), plus setupTmpfs for the memory medium."""
    _mkdir_all(path.parent, 0o777)
    if not path.is_dir():
        path.mkdir(_EMPTY_DIR_MODE)
    # Only the permission bits are compared (Go's Mode().Perm()): a mounted tmpfs root is 1777 and stays so.
    if path.lstat().st_mode & 0o777 != _EMPTY_DIR_MODE:
        path.chmod(_EMPTY_DIR_MODE)
    if memory and _mount_fstype(os.path.realpath(path)) != "tmpfs":
        size = _tmpfs_size(context.pod, size_limit, context.node_allocatable.get("memory", 0))
        _mount_tmpfs(path, size)


def _tmpfs_size(pod: Mapping[str, Any], size_limit: str | None, node_allocatable_memory: int) -> int:
    """calculateEmptyDirMemorySize: node allocatable, lowered to the pod memory limit, then to sizeLimit."""
    size = node_allocatable_memory
    pod_limit = _pod_memory_limit(pod)
    if pod_limit is not None and 0 < pod_limit <= size:
        size = pod_limit
    if size_limit is not None:
        volume_limit = to_bytes(size_limit)
        if 0 < volume_limit <= size:
            size = volume_limit
    return size


def _pod_memory_limit(pod: Mapping[str, Any]) -> int | None:
    """The pod cgroup's memory limit (ResourceConfigForPod): None unless every container sets one.

    PodLimits: the regular containers and sidecars add up; each regular init container runs beside the
    sidecars started before it, and the pod needs the largest of those moments.
    """
    spec = pod.get("spec") or {}
    containers = _dicts(spec.get("containers"))
    init_containers = _dicts(spec.get("initContainers"))
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
    return to_bytes(limit) if limit is not None else 0


def _setup_host_path(source: Mapping[str, Any]) -> Path:
    """hostPathMounter.SetUp: reject `..`, then check (or create) the path by its type."""
    path = source.get("path", "")
    if ".." in path.split("/"):
        raise _PluginError(f"invalid HostPath `{path}`: must not contain '..'")
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
            _mkdir_all(Path(path), 0o755)
        except OSError as error:
            raise _PluginError(_go_error("mkdir", error.filename or path, error)) from None
        return
    if path_type == "FileOrCreate" and mode is None:
        try:
            # makeFile: open(O_CREAT, 0644). The parent is not created: a missing one is an error.
            os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o644))
        except OSError as error:
            raise _PluginError(_go_error("open", path, error)) from None
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
        raise _PluginError(f"{path_type} is an invalid volume type")
    check, what = checks[path_type]
    if mode is None or not check(mode):
        raise _PluginError(f"hostPath type check failed: {path} is not {what}")


# --- payloads ------------------------------------------------------------------------------------------


def _payload(kind: str, source: Mapping[str, Any], context: _Context) -> Payload:
    """The files of a configMap, secret, downwardAPI or projected volume."""
    if source.get("defaultMode") is None:
        raise _PluginError("no defaultMode used, not even the default value for it")
    default_mode = int(source["defaultMode"])
    items = _dicts(source.get("items"))
    optional = bool(source.get("optional"))
    if kind == "configMap":
        configmap = _fetch(context.get_configmap, "configmap", source.get("name", ""), optional)
        return _configmap_payload(items, configmap, default_mode, optional)
    if kind == "secret":
        secret = _fetch(context.get_secret, "secret", source.get("secretName", ""), optional)
        return _secret_payload(items, secret, default_mode, optional)
    if kind == "downwardAPI":
        return _downward_api_payload(items, context, default_mode)
    return _projected_payload(source, context, default_mode)


def _fetch(getter: Getter, kind: str, name: str, optional: bool) -> Obj:
    """The object; an empty one if missing but optional (the volume is then empty); else NotFound."""
    obj = getter(name)
    if obj is None:
        if not optional:
            raise _PluginError(f"{kind} {go_quote(name)} not found")
        return {}
    return obj


def _configmap_payload(items: list[Obj], configmap: Mapping[str, Any], default_mode: int, optional: bool) -> Payload:
    """configmap.MakePayload: every key (data and binaryData), or the listed items."""
    data = {key: str(value).encode() for key, value in (configmap.get("data") or {}).items()}
    binary = {key: base64.b64decode(value) for key, value in (configmap.get("binaryData") or {}).items()}
    if not items:
        return {key: (value, default_mode) for key, value in {**data, **binary}.items()}
    payload: Payload = {}
    for item in items:
        key = item.get("key", "")
        if key in data:
            content = data[key]
        elif key in binary:
            content = binary[key]
        elif optional:
            continue
        else:
            raise _PluginError(f"configmap references non-existent config key: {key}")
        payload[item.get("path", "")] = (content, _item_mode(item, default_mode))
    return payload


def _secret_payload(items: list[Obj], secret: Mapping[str, Any], default_mode: int, optional: bool) -> Payload:
    """secret.MakePayload: every key, or the listed items."""
    data = secret_data(secret)
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    payload: Payload = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise _PluginError(f"references non-existent secret key: {key}")
        payload[item.get("path", "")] = (data[key], _item_mode(item, default_mode))
    return payload


def _downward_api_payload(items: list[Obj], context: _Context, default_mode: int) -> Payload:
    """downwardapi.CollectData: pod metadata fields and container resources; errors aggregated."""
    payload: Payload = {}
    errors: list[str] = []
    for item in items:
        content = b""
        try:
            if isinstance(item.get("fieldRef"), dict):
                content = pod_field_value(context.pod, item["fieldRef"].get("fieldPath", "")).encode()
            elif isinstance(item.get("resourceFieldRef"), dict):
                # No container of our own: the reference names one (validation requires containerName).
                ref = item["resourceFieldRef"]
                content = container_resource_value(ref, context.pod, {}, context.node_allocatable).encode()
        except ContainerConfigError as error:
            errors.append(error.message)
        payload[posixpath.normpath(item.get("path", ""))] = (content, _item_mode(item, default_mode))
    if errors:
        raise _PluginError(_aggregate(errors))
    return payload


def _projected_payload(source: Mapping[str, Any], context: _Context, default_mode: int) -> Payload:
    """projected collectData: the sources merged in order (later paths win); errors aggregated."""
    payload: Payload = {}
    errors: list[str] = []
    for projection in _dicts(source.get("sources")):
        try:
            if isinstance(projection.get("secret"), dict):
                ref = projection["secret"]
                optional = bool(ref.get("optional"))
                secret = _fetch(context.get_secret, "secret", ref.get("name", ""), optional)
                payload.update(_secret_payload(_dicts(ref.get("items")), secret, default_mode, optional))
            elif isinstance(projection.get("configMap"), dict):
                ref = projection["configMap"]
                optional = bool(ref.get("optional"))
                configmap = _fetch(context.get_configmap, "configmap", ref.get("name", ""), optional)
                payload.update(_configmap_payload(_dicts(ref.get("items")), configmap, default_mode, optional))
            elif isinstance(projection.get("downwardAPI"), dict):
                items = _dicts(projection["downwardAPI"].get("items"))
                payload.update(_downward_api_payload(items, context, default_mode))
        except _PluginError as error:
            errors.append(str(error))
    if errors:
        raise _PluginError(_aggregate(errors))
    return payload


def _item_mode(item: Mapping[str, Any], default_mode: int) -> int:
    mode = item.get("mode")
    return default_mode if mode is None else int(mode)


def _aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message alone, several in brackets, repeats dropped."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# --- the atomic writer ---------------------------------------------------------------------------------


def _atomic_write(target: Path, payload: Payload) -> bool:
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
        raise _PluginError(f"invalid path: must not be empty: {go_quote(path)}")
    if path.startswith("/"):
        raise _PluginError(f"invalid path: must be relative path: {path}")
    if len(path) > _MAX_PATH_LENGTH:
        raise _PluginError(f"invalid path: must be less than or equal to {_MAX_PATH_LENGTH} characters")
    items = path.split("/")
    for item in items:
        if item == "..":
            raise _PluginError(f"invalid path: must not contain '..': {path}")
        if len(item) > _MAX_FILE_NAME_LENGTH:
            raise _PluginError(
                f"invalid path: filenames must be less than or equal to {_MAX_FILE_NAME_LENGTH} characters"
            )
    if items[0].startswith("..") and len(items[0]) > 2:
        raise _PluginError(f"invalid path: must not start with '..': {path}")
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


# --- container mounts ----------------------------------------------------------------------------------


def _expand_sub_path_expr(expression: str, env: Mapping[str, str]) -> str:
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


def _prepare_sub_path(volume_path: str, sub_path: str, where: str) -> tuple[str, str]:
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


def _bind_sub_path(resolved: str, base: str, target: Path) -> str:
    """doBindSubPath: bind-mount the subPath, opened without following symlinks, onto `target`.

    A target still mounted from an earlier instance of the container is reused if it is the same file,
    else unmounted first (prepareSubpathTarget).
    """
    fd = _safe_open(resolved, base)
    try:
        wanted = os.fstat(fd)
        if _mount_fstype(os.path.realpath(target)) is not None:
            current = os.lstat(target)
            if (current.st_dev, current.st_ino) == (wanted.st_dev, wanted.st_ino):
                return str(target)
            _unmount(str(target))
        _mkdir_all(target.parent, _POD_DIR_MODE)
        if stat.S_ISDIR(wanted.st_mode):
            target.mkdir(_POD_DIR_MODE, exist_ok=True)
        elif not target.exists():
            # An empty file is a mount point for any non-directory (file, device, socket...).
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o640))
        source = f"/proc/self/fd/{fd}".encode()
        if _libc().mount(source, os.fsencode(target), None, _MS_BIND, None) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(target))
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


# --- mounts --------------------------------------------------------------------------------------------


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount_tmpfs(path: Path, size: int) -> None:
    """mount -t tmpfs -o size=N tmpfs <path>, as the emptyDir plugin runs it (no size: the kernel's half)."""
    option = f"size={size}" if size > 0 else ""
    if _libc().mount(b"tmpfs", os.fsencode(path), b"tmpfs", 0, option.encode() or None) != 0:
        error = OSError(ctypes.get_errno(), "")
        arguments = f"-t tmpfs {f'-o {option} ' if option else ''}tmpfs {path}"
        raise _PluginError(
            f"mount failed: {_strerror(error)}\nMounting command: mount\nMounting arguments: {arguments}"
        )


def _unmount(mount_point: str) -> None:
    """umount2, lazily (MNT_DETACH) if the mount is busy; gone already is fine."""
    libc = _libc()
    target = os.fsencode(mount_point)
    if libc.umount2(target, 0) == 0:
        return
    code = ctypes.get_errno()
    if code == errno.EBUSY and libc.umount2(target, _MNT_DETACH) == 0:
        return
    code = ctypes.get_errno()
    if code != errno.EINVAL:
        raise OSError(code, os.strerror(code), mount_point)


def _mountinfo() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount this process sees, in mount order."""
    entries = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as file:
        for line in file:
            fields = line.split()
            separator = fields.index("-")
            entries.append((_unescape(fields[4]), fields[separator + 1]))
    return entries


def _unescape(text: str) -> str:
    """Undo the kernel's octal escapes in mountinfo (`\\040` for a space, and so on)."""
    if "\\" not in text:
        return text
    out, index = [], 0
    while index < len(text):
        chunk = text[index + 1 : index + 4]
        if text[index] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            index += 4
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def _mount_fstype(path: str) -> str | None:
    """The type of the filesystem mounted at exactly `path` (the topmost one), or None."""
    fstype = None
    for mount_point, kind in _mountinfo():
        if mount_point == path:
            fstype = kind
    return fstype


def _mount_points_under(root: str) -> set[str]:
    """Mount points at or below `root`."""
    return {point for point, _ in _mountinfo() if point == root or point.startswith(root.rstrip("/") + "/")}


# --- helpers -------------------------------------------------------------------------------------------


def _volume_kind(volume: Mapping[str, Any]) -> str:
    """The volume's source member (a volume without one is an emptyDir, as SetDefaults_Volume makes it)."""
    for source in ("hostPath", *PLUGIN_DIRS):
        if volume.get(source) is not None:
            return source
    others = [key for key, value in volume.items() if key != "name" and value is not None]
    return others[0] if others else "emptyDir"


def _mkdir_all(path: Path, mode: int) -> None:
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


def _go_error(op: str, path: str, error: OSError) -> str:
    """An OSError as Go's *PathError prints: `open /x: no such file or directory`."""
    return f"{op} {path}: {_strerror(error)}"


def _strerror(error: OSError) -> str:
    """The errno text as Go's syscall package words it: glibc's, with a lower-case first letter."""
    text = os.strerror(error.errno) if error.errno else str(error)
    return text[:1].lower() + text[1:]


def _volumes(pod: Mapping[str, Any]) -> list[Obj]:
    return _dicts((pod.get("spec") or {}).get("volumes"))


def _dicts(value: Any) -> list[Obj]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
