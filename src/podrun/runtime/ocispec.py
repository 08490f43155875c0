"""Generating a container's OCI runtime config (config.json). Pure: no I/O.

The defaults follow what containerd's CRI plugin gives a Kubernetes container: Docker's default
capability set, masked and read-only /proc and /sys paths, a private PID and mount namespace,
and the pod sandbox's network, IPC and UTS namespaces joined by path. On hosts with the unified
cgroup v2 layout, as containerd does there: a private cgroup namespace for unprivileged containers (so the
container's `/sys/fs/cgroup` is its own cgroup), and `memory.oom.group=1`, which the kubelet
(1.28+) asks for so that an OOM kill takes the whole container, not just its largest process.
"""

from __future__ import annotations

import resource
from collections.abc import Sequence
from dataclasses import dataclass

from podrun.runtime.images.store import ImageConfig
from podrun.runtime.protocol import ContainerConfig, Mount

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's (and containerd's) default capability set.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)  # fmt: skip

ALL_CAPABILITIES = (
    "CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_PERFMON", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
    "CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_MODULE", "CAP_SYS_NICE",
    "CAP_SYS_PACCT", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_SYSLOG", "CAP_WAKE_ALARM",
)  # fmt: skip

MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
)  # fmt: skip
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

CPU_PERIOD_US = 100_000

# `oci_runtime.cgroup_mode()`'s name for the pure cgroup v2 layout.
UNIFIED = "unified"


class ConfigError(ValueError):
    """The container cannot be configured (no command, bad capability...)."""


@dataclass(frozen=True)
class User:
    """The resolved identity a container's process runs as."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()


@dataclass(frozen=True)
class SandboxPaths:
    """Host paths of a sandbox that every container of the pod shares."""

    netns: str
    ipcns: str
    utsns: str
    hostname: str
    hosts_file: str
    resolv_conf: str
    hostname_file: str
    shm: str


def process_args(config: ContainerConfig, image: ImageConfig) -> list[str]:
    """Combine Kubernetes command/args with the image's Entrypoint/Cmd, as containerd does.

    `command` replaces the Entrypoint and drops the image's Cmd; `args` alone replace the Cmd.
    """
    command, args = list(config.command), list(config.args)
    if not command:
        if not args:
            args = list(image.cmd)
        if not (len(image.entrypoint) == 1 and image.entrypoint[0] == ""):
            command = list(image.entrypoint)
    argv = command + args
    if not argv:
        raise ConfigError("no command specified")
    return argv


def process_env(config: ContainerConfig, image: ImageConfig, hostname: str) -> list[str]:
    """Image env, then HOSTNAME, then the container's env; later keys replace earlier ones."""
    merged: dict[str, str] = {}
    for item in image.env:
        key, _, value = item.partition("=")
        merged[key] = value
    merged.setdefault("PATH", DEFAULT_PATH)
    merged["HOSTNAME"] = hostname
    for key, value in config.env:
        merged[key] = value
    return [f"{k}={v}" for k, v in merged.items()]


def capabilities(add: Sequence[str], drop: Sequence[str], privileged: bool) -> list[str]:
    """The effective capability set: Docker's defaults, with Kubernetes' add/drop (ALL allowed)."""
    if privileged:
        return list(ALL_CAPABILITIES)

    def norm(cap: str) -> str:
        cap = cap.upper()
        return cap if cap == "ALL" or cap.startswith("CAP_") else f"CAP_{cap}"

    adds, drops = [norm(c) for c in add], [norm(c) for c in drop]
    for cap in adds + drops:
        if cap != "ALL" and cap not in ALL_CAPABILITIES:
            raise ConfigError(f"unknown capability {cap!r}")
    caps = list(ALL_CAPABILITIES) if "ALL" in adds else list(DEFAULT_CAPABILITIES)
    if "ALL" in drops:
        caps = []
    caps = [c for c in caps if c not in drops]
    caps += [c for c in adds if c != "ALL" and c not in caps]
    return caps


def rlimits() -> list[dict[str, object]]:
    """Container rlimits no higher than podrun's own hard limits (root here lacks CAP_SYS_RESOURCE)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else 1048576
    return [{"type": "RLIMIT_NOFILE", "hard": limit, "soft": limit}]


def _default_mounts(sandbox: SandboxPaths, privileged: bool) -> list[dict[str, object]]:
    ro = [] if privileged else ["ro"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", *ro]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", *ro]},
        {"destination": "/dev/shm", "type": "bind", "source": sandbox.shm, "options": ["rbind", "rw"]},
        {"destination": "/etc/hostname", "type": "bind", "source": sandbox.hostname_file, "options": ["rbind", "rw"]},
        {"destination": "/etc/resolv.conf", "type": "bind", "source": sandbox.resolv_conf,
         "options": ["rbind", "rw"]},
        {"destination": "/etc/hosts", "type": "bind", "source": sandbox.hosts_file, "options": ["rbind", "rw"]},
    ]  # fmt: skip


def _bind(m: Mount) -> dict[str, object]:
    options = ["rbind", f"r{m.propagation}" if m.propagation == "private" else m.propagation]
    options.append("ro" if m.readonly else "rw")
    return {"destination": m.container_path, "type": "bind", "source": m.host_path, "options": options}


def mounts(config: ContainerConfig, sandbox: SandboxPaths) -> list[dict[str, object]]:
    """Default mounts, then the container's; a container mount replaces a default at the same path."""
    own = {m.container_path.rstrip("/") or "/" for m in config.mounts}
    privileged = config.security.privileged
    result = [m for m in _default_mounts(sandbox, privileged) if m["destination"] not in own]
    return result + [_bind(m) for m in config.mounts]


def resources(config: ContainerConfig, cgroup_mode: str) -> dict[str, object]:
    """cgroup limits for memory and CPU, the device rules, and on cgroup v2 `memory.oom.group`."""
    res: dict[str, object] = {
        "devices": [{"allow": config.security.privileged, "access": "rwm"}],
    }
    if cgroup_mode == UNIFIED:
        res["unified"] = {"memory.oom.group": "1"}
    r = config.resources
    if r.memory_limit_bytes:
        res["memory"] = {"limit": r.memory_limit_bytes, "swap": r.memory_limit_bytes}
    cpu: dict[str, int] = {}
    if r.cpu_quota_millis:
        cpu["quota"] = max(1000, r.cpu_quota_millis * CPU_PERIOD_US // 1000)
        cpu["period"] = CPU_PERIOD_US
    if r.cpu_shares:
        cpu["shares"] = r.cpu_shares
    if cpu:
        res["cpu"] = cpu
    return res


def namespaces(
    sandbox: SandboxPaths, privileged: bool, cgroup_mode: str, pid_namespace: str = ""
) -> list[dict[str, str]]:
    """A private PID and mount namespace, the sandbox's network, IPC and UTS namespaces, and on cgroup v2 a
    private cgroup namespace unless privileged (containerd's rule: v1 hosts and privileged containers keep
    the host's, for compatibility). `pid_namespace` is the path of another container's PID namespace to join
    instead (an ephemeral container's target)."""
    result = [
        {"type": "pid", "path": pid_namespace} if pid_namespace else {"type": "pid"},
        {"type": "mount"},
        {"type": "network", "path": sandbox.netns},
        {"type": "ipc", "path": sandbox.ipcns},
        {"type": "uts", "path": sandbox.utsns},
    ]
    if cgroup_mode == UNIFIED and not privileged:
        result.append({"type": "cgroup"})
    return result


def generate(
    config: ContainerConfig,
    image: ImageConfig,
    *,
    rootfs: str,
    user: User,
    sandbox: SandboxPaths,
    cgroups_path: str,
    cgroup_mode: str,
    pid_namespace: str = "",
) -> dict[str, object]:
    """The complete OCI runtime config for one container on a host with this cgroup layout
    (`oci_runtime.cgroup_mode()`: `unified`, `hybrid` or `legacy`); `pid_namespace` as for `namespaces`."""
    sec = config.security
    caps = capabilities(sec.capabilities_add, sec.capabilities_drop, sec.privileged)
    linux: dict[str, object] = {
        "namespaces": namespaces(sandbox, sec.privileged, cgroup_mode, pid_namespace),
        "resources": resources(config, cgroup_mode),
        "cgroupsPath": cgroups_path,
    }
    if not sec.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": config.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": list(user.additional_gids)},
            "args": process_args(config, image),
            "env": process_env(config, image, sandbox.hostname),
            "cwd": config.working_dir or image.working_dir or "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "rlimits": rlimits(),
            "noNewPrivileges": sec.no_new_privileges,
        },
        "root": {"path": rootfs, "readonly": sec.readonly_rootfs},
        "hostname": sandbox.hostname,
        "mounts": mounts(config, sandbox),
        "annotations": dict(config.annotations),
        "linux": linux,
    }
