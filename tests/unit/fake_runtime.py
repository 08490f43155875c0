"""An in-memory `Runtime` for unit tests of the kubelet: no root, no processes.

It records every call, emits started and exited events as the real runtime does, lets a test make a
container exit by itself (`exit`), fails a call on request (`fail_next`), holds a container's create, prepare,
start or stop, or a pod's sandbox removal, until the test lets it go on (`hold`), and tells a test when a call was
made (`called`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from podrun.runtime.protocol import (
    ContainerConfig,
    ContainerEvent,
    ContainerState,
    ContainerStatus,
    EventKind,
    ExecResult,
    ExecStreams,
    RuntimeError_,
    SandboxConfig,
    SandboxStatus,
)

SIGTERM_EXIT_CODE = 143
SIGKILL_EXIT_CODE = 137
WAIT_SECONDS = 10.0


class FakeEvents:
    """A subscription: the events from its creation on, until `close()`."""

    def __init__(self, subscribers: set[asyncio.Queue[ContainerEvent]]) -> None:
        self._queue: asyncio.Queue[ContainerEvent] = asyncio.Queue()
        self._subscribers = subscribers
        subscribers.add(self._queue)

    def __aiter__(self) -> FakeEvents:
        return self

    async def __anext__(self) -> ContainerEvent:
        return await self._queue.get()

    def close(self) -> None:
        """Stop receiving events."""
        self._subscribers.discard(self._queue)


@dataclass
class FakeRuntime:
    """The `Runtime` protocol in memory; `calls` lists (method, argument) in order."""

    name: str = "fake"
    calls: list[tuple[str, str]] = field(default_factory=list)
    sandboxes: dict[str, SandboxStatus] = field(default_factory=dict)
    containers: dict[str, ContainerStatus] = field(default_factory=dict)
    stop_graces: dict[str, float] = field(default_factory=dict)  # container name -> the grace it was stopped with
    started_as_hand_off: dict[str, bool] = field(default_factory=dict)  # container name -> its start's flag
    configs: dict[str, ContainerConfig] = field(default_factory=dict)  # container ID -> what it was created from
    _failures: dict[tuple[str, str | None], RuntimeError_] = field(default_factory=dict)
    _held: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    _watchers: list[tuple[tuple[str, str], asyncio.Event]] = field(default_factory=list)
    _subscribers: set[asyncio.Queue[ContainerEvent]] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    removing: int = 0  # sandbox removals in progress
    most_removing: int = 0  # the most that were ever in progress at once
    removed_pods: list[str] = field(default_factory=list)  # the pod names of the removed sandboxes, in order

    # -- test controls ----------------------------------------------------------------------------

    def fail_next(
        self, method: str, reason: str = "RuntimeError", message: str = "injected failure", *, name: str | None = None
    ) -> None:
        """Make the next call of `method` (for the container `name`, if given) raise a `RuntimeError_`."""
        self._failures[(method, name)] = RuntimeError_(reason, message)

    def hold(self, method: str, container_name: str) -> asyncio.Event:
        """Make the next `create_container`, `prepare_container`, `start_container` or `stop_container` of
        `container_name` (or `exec_sync` of that command line, or `remove_sandbox` of the pod of that name) wait,
        once called, until the returned event is set."""
        release = asyncio.Event()
        self._held[(method, container_name)] = release
        return release

    async def called(self, method: str, argument: str) -> None:
        """Return once `method` was called with `argument` (at most WAIT_SECONDS)."""
        made = asyncio.Event()
        self._watchers.append(((method, argument), made))
        if (method, argument) not in self.calls:
            await asyncio.wait_for(made.wait(), WAIT_SECONDS)

    def exit(self, container_name: str, exit_code: int = 0) -> None:
        """The running container named `container_name` exits by itself."""
        [running] = [c for c in self.containers.values() if c.name == container_name and c.state == "running"]
        self._exited(running.id, exit_code)

    def named(self, container_name: str) -> list[ContainerStatus]:
        """Every instance of the container named `container_name`, oldest first."""
        return sorted((c for c in self.containers.values() if c.name == container_name), key=lambda c: c.created_at)

    def _call(self, method: str, argument: str = "") -> None:
        self.calls.append((method, argument))
        for call, made in self._watchers:
            if call == (method, argument):
                made.set()
        failure = self._failures.pop((method, argument), None) or self._failures.pop((method, None), None)
        if failure is not None:
            raise failure

    async def _held_call(self, method: str, container_name: str) -> None:
        self._call(method, container_name)
        release = self._held.pop((method, container_name), None)
        if release is not None:
            await release.wait()

    def _emit(self, kind: EventKind, status: ContainerStatus) -> None:
        for queue in self._subscribers:
            queue.put_nowait(ContainerEvent(kind, status))

    def _exited(self, container_id: str, exit_code: int) -> None:
        status = replace(
            self.containers[container_id], state=ContainerState.EXITED, exit_code=exit_code, finished_at=time.time(),
            reason="Completed" if exit_code == 0 else "Error",
        )  # fmt: skip
        self.containers[container_id] = status
        self._emit(EventKind.EXITED, status)

    # -- the protocol -----------------------------------------------------------------------------

    async def ensure_image(self, image: str) -> str:
        self._call("ensure_image", image)
        return f"sha256:{image}"

    async def create_sandbox(self, config: SandboxConfig) -> SandboxStatus:
        self._call("create_sandbox", config.name)
        sandbox = SandboxStatus(id=f"sandbox-{next(self._ids)}", config=config, ready=True, created_at=time.time())
        self.sandboxes[sandbox.id] = sandbox
        return sandbox

    async def remove_sandbox(self, sandbox_id: str) -> None:
        self._call("remove_sandbox", sandbox_id)
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        self.removing += 1
        self.most_removing = max(self.most_removing, self.removing)
        try:
            release = self._held.pop(("remove_sandbox", sandbox.config.name), None)
            if release is not None:
                await release.wait()
        finally:
            self.removing -= 1
        self.sandboxes.pop(sandbox_id, None)
        self.removed_pods.append(sandbox.config.name)

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        await self._held_call("create_container", config.name)
        container_id = f"container-{next(self._ids)}"
        self.configs[container_id] = config
        self.containers[container_id] = ContainerStatus(
            id=container_id, sandbox_id=sandbox_id, name=config.name, state=ContainerState.CREATED,
            image=config.image, image_id=config.image, created_at=time.time(), log_path=config.log_path,
            labels=dict(config.labels), annotations=dict(config.annotations),
        )  # fmt: skip
        return container_id

    async def prepare_container(self, container_id: str) -> None:
        await self._held_call("prepare_container", self.containers[container_id].name)

    async def start_container(self, container_id: str, *, hand_off: bool = False) -> None:
        await self._held_call("start_container", self.containers[container_id].name)
        self.started_as_hand_off[self.containers[container_id].name] = hand_off
        status = replace(self.containers[container_id], state=ContainerState.RUNNING, started_at=time.time())
        self.containers[container_id] = status
        self._emit(EventKind.STARTED, status)

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        status = self.containers[container_id]
        await self._held_call("stop_container", status.name)
        self.stop_graces[status.name] = grace_seconds
        if status.state == ContainerState.RUNNING:
            self._exited(container_id, SIGKILL_EXIT_CODE if grace_seconds == 0 else SIGTERM_EXIT_CODE)

    async def remove_container(self, container_id: str) -> None:
        self._call("remove_container", self.containers[container_id].name)
        del self.containers[container_id]

    async def container_status(self, container_id: str) -> ContainerStatus:
        if container_id not in self.containers:
            raise RuntimeError_("NotFound", f"container {container_id} not found")
        return self.containers[container_id]

    async def list_sandboxes(self, pod_uid: str | None = None) -> list[SandboxStatus]:
        return [s for s in self.sandboxes.values() if pod_uid is None or s.config.uid == pod_uid]

    async def list_containers(self, labels: Mapping[str, str] | None = None) -> list[ContainerStatus]:
        wanted = (labels or {}).items()
        return [c for c in self.containers.values() if all(c.labels.get(k) == v for k, v in wanted)]

    def events(self) -> FakeEvents:
        return FakeEvents(self._subscribers)

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float | None) -> ExecResult:
        await self._held_call("exec_sync", " ".join(cmd))
        return ExecResult(exit_code=0, stdout=b"", stderr=b"")

    async def exec_stream(self, container_id: str, cmd: list[str], tty: bool, stdin: bool) -> ExecStreams:
        raise RuntimeError_("NotSupported", "the fake runtime has no interactive exec")

    async def attach(self, container_id: str) -> ExecStreams:
        raise RuntimeError_("NotSupported", "the fake runtime has no attach")

    async def dial(
        self, sandbox_id: str, port: int, host: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise RuntimeError_("NotSupported", "the fake runtime has no network")
