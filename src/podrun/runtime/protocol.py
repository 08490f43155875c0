"""The seam between the kubelet and the container runtime: a narrow, async, CRI-like protocol.

The kubelet depends on `Runtime` only. `podrun.runtime.local.LocalRuntime` implements it with
overlayfs, namespaces, conmon and runc/crun; unit tests of the kubelet use the in-memory recording
fake in `tests/fakes/runtime.py`.
Nothing here knows about restart policies, pod phases or the Kubernetes API.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


class ContainerState(enum.StrEnum):
    """The runtime's view of a container, as CRI reports it."""

    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Mount:
    """A bind mount of a host path (a volume, /etc/hosts, the termination log) into a container."""

    container_path: str
    host_path: str
    readonly: bool = False
    propagation: str = "private"


@dataclass(frozen=True)
class SecurityConfig:
    """The parts of a Kubernetes securityContext the runtime applies."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: tuple[int, ...] = ()
    privileged: bool = False
    readonly_rootfs: bool = False
    capabilities_add: tuple[str, ...] = ()
    capabilities_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False
    run_as_non_root: bool = False


@dataclass(frozen=True)
class Resources:
    """cgroup limits. `None` means unlimited."""

    memory_limit_bytes: int | None = None
    cpu_quota_millis: int | None = None  # limits.cpu in millicores
    cpu_shares: int | None = None  # from requests.cpu, as the kubelet derives them


@dataclass(frozen=True)
class ContainerConfig:
    """What the runtime needs to create one container (CRI's ContainerConfig, trimmed).

    `command`/`args` are the Kubernetes fields after `$(VAR)` expansion; the runtime combines them
    with the image's Entrypoint/Cmd exactly as containerd does.
    """

    name: str
    image: str  # the image reference or ID, already present in the store
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str = ""
    mounts: tuple[Mount, ...] = ()
    security: SecurityConfig = field(default_factory=SecurityConfig)
    resources: Resources = field(default_factory=Resources)
    log_path: str = ""  # CRI log file; the runtime writes it through conmon
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    # CRI's NamespaceMode TARGET: share the PID namespace of this running container (an ephemeral container's
    # targetContainerName); empty for a PID namespace of its own.
    target_container_id: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # recovered by `list_containers`
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PortMapping:
    """A hostPort (CRI's PortMapping): `host_ip:host_port` on the host leads to `container_port` of the pod."""

    container_port: int
    host_port: int
    protocol: str = "TCP"
    host_ip: str = ""


@dataclass(frozen=True)
class SandboxConfig:
    """One pod sandbox: shared network, IPC and UTS namespaces, /etc/hosts and resolv.conf."""

    name: str
    namespace: str
    uid: str
    hostname: str
    hosts_file: str  # full text of /etc/hosts for the pod
    resolv_conf: str  # full text of /etc/resolv.conf
    labels: dict[str, str] = field(default_factory=dict)
    shm_size_bytes: int = 64 * 1024 * 1024
    network: bool = False  # attach to the pod network (an IP through CNI); False keeps loopback only
    host_network: bool = False  # share the node's network namespace (the pod network's node namespace)
    port_mappings: tuple[PortMapping, ...] = ()  # hostPorts, published while the sandbox exists


@dataclass(frozen=True)
class SandboxStatus:
    """A sandbox as it exists on disk; `ips` are its pod network addresses (none without the pod network)."""

    id: str
    config: SandboxConfig
    ready: bool
    created_at: float
    ip: str = ""
    ips: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ContainerStatus:
    """A container as the runtime knows it. Times are Unix seconds (floats, sub-second)."""

    id: str
    sandbox_id: str
    name: str
    state: ContainerState
    image: str
    image_id: str
    created_at: float
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""  # Completed, Error, OOMKilled, StartError
    message: str = ""
    log_path: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


class EventKind(enum.StrEnum):
    """What happened to a container."""

    STARTED = "started"
    EXITED = "exited"


@dataclass(frozen=True)
class ContainerEvent:
    """Delivered within milliseconds of the change; `status` is the container's status after it."""

    kind: EventKind
    status: ContainerStatus


@dataclass(frozen=True)
class ExecResult:
    """The outcome of a synchronous exec (probes and hooks)."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


@dataclass
class ExecStreams:
    """An interactive exec: write to `stdin`, read `stdout`/`stderr`, `wait()` for the exit code.

    With a tty, stderr is merged into stdout (as with a terminal) and `resize` changes the window.
    """

    stdin: Callable[[bytes], Awaitable[None]]
    close_stdin: Callable[[], Awaitable[None]]
    stdout: AsyncIterator[bytes]
    stderr: AsyncIterator[bytes] | None
    wait: Callable[[], Awaitable[int]]
    resize: Callable[[int, int], None]
    kill: Callable[[], None]


class RuntimeError_(Exception):
    """A runtime failure, with the CRI-style reason the kubelet turns into a waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class EventStream(Protocol):
    """A subscription to container events: iterate it, `close()` it when done."""

    def __aiter__(self) -> AsyncIterator[ContainerEvent]: ...

    def close(self) -> None:
        """Stop receiving events."""
        ...


class Runtime(Protocol):
    """The verbs the kubelet needs from a container runtime."""

    name: str  # "runc" or "crun": the OCI runtime in use

    async def ensure_image(self, image: str) -> str:
        """Check that the image is present; return its ID. Pulling is `podrun.kubelet.images`' job."""
        ...

    async def create_sandbox(self, config: SandboxConfig) -> SandboxStatus:
        """Create and pin the pod's namespaces; idempotent for the same pod UID."""
        ...

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Remove namespaces, mounts and files of a sandbox whose containers are all removed."""
        ...

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        """Create a container (rootfs, bundle, conmon + runtime `create`); return its ID."""
        ...

    async def prepare_container(self, container_id: str) -> None:
        """Do what can be done of a start ahead of time; the container stays created."""
        ...

    async def start_container(self, container_id: str, *, hand_off: bool = False) -> None:
        """Start a created (or prepared) container. `hand_off`: a regular init container taking over from the one
        before it, with nothing of its pod coming up beside it: the runtime may start it at its fastest."""
        ...

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        """Send the stop signal, then SIGKILL after the grace period; returns once it has exited."""
        ...

    async def remove_container(self, container_id: str) -> None:
        """Delete a stopped container and its rootfs."""
        ...

    async def container_status(self, container_id: str) -> ContainerStatus:
        """The current status of one container."""
        ...

    async def list_sandboxes(self, pod_uid: str | None = None) -> list[SandboxStatus]:
        """Every sandbox on disk (for recovery after a restart), or only those of the pod `pod_uid`: a pod worker's
        sync asks for its own, and its cost must not grow with the number of pods on the node."""
        ...

    async def list_containers(self, labels: Mapping[str, str] | None = None) -> list[ContainerStatus]:
        """Every container on disk (for recovery after a restart), or only those carrying every one of `labels` (the
        CRI's label selector): a pod worker's sync asks for its pod's, as often as for its sandboxes."""
        ...

    def events(self) -> EventStream:
        """Container started/exited events from this call on, as they happen."""
        ...

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float | None) -> ExecResult:
        """Run a command in a running container and collect its output."""
        ...

    async def exec_stream(self, container_id: str, cmd: list[str], tty: bool, stdin: bool) -> ExecStreams:
        """Run a command interactively."""
        ...

    async def attach(self, container_id: str) -> ExecStreams:
        """Attach to a running container's own process; `kill()` detaches.

        Streams its output from now on, its stdin (if the container was created with stdin) and its terminal's
        size (if created with a tty; stderr is then None). The container keeps running when the attach ends;
        `wait()` returns once the container exited (its exit code) or the attach ended. Closing stdin closes the
        container's stdin only if it was created `stdin_once`.
        """
        ...

    async def dial(
        self, sandbox_id: str, port: int, host: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a TCP connection to a port inside the pod's network namespace: (reader, writer)."""
        ...
