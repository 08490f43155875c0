"""What the API server's pod subresources reach on this node: logs, exec, attach and port-forward.

Logs are read from the kubelet's CRI log files (`<ns>_<pod>_<uid>/<container>/<n>.log`), so they outlive
the containers, as the kubelet's do. Which instance is read follows the kubelet's `validateContainerLogStatus`
(the status's instance, or its last terminated one while it waits; `--previous` the last terminated one);
where the runtime no longer knows that instance, the newest file is the current one and the one before it
`--previous`. exec, attach and port-forward go to the runtime: the container's running instance, and the
pod's sandbox network namespace.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from podrun.api.errors import ApiError
from podrun.json_types import JSON
from podrun.kubelet.node import Node
from podrun.runtime.logs import LogLine, follow, read_lines
from podrun.runtime.protocol import ExecStreams, RuntimeError_
from podrun.timestamps import format_nano_time, parse_unix

FOLLOW_CHECK_SECONDS = 0.2
_FRACTION = re.compile(r"\.(\d+)")


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _instances(directory: Path) -> list[Path]:
    """A container's log files, oldest first."""
    files = [p for p in directory.glob("*.log") if p.stem.isdigit()]
    return sorted(files, key=lambda p: int(p.stem))


def cri_unix_nanos(stamp: str) -> int:
    """A CRI log line's RFC3339Nano timestamp (conmon writes `…016753597+00:00`) as Unix nanoseconds."""
    whole = int(parse_unix(_FRACTION.sub("", stamp)))
    match = _FRACTION.search(stamp)
    return whole * 1_000_000_000 + (int(match[1][:9].ljust(9, "0")) if match else 0)


def kubelet_log_timestamp(stamp: str) -> str:
    """The timestamp `kubectl logs --timestamps` prints: the kubelet's RFC3339Nano in UTC, with `Z`."""
    try:
        return format_nano_time(cri_unix_nanos(stamp))
    except ValueError:
        return stamp


def _waiting_reason(pod: JSON, container: str) -> str:
    status = pod.get("status") or {}
    for s in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        if s.get("name") == container:
            return ((s.get("state") or {}).get("waiting") or {}).get("reason") or "ContainerCreating"
    return "ContainerCreating"


def _never_ran(pod: JSON, container: str) -> bool:
    """Waiting with no earlier instance: a log file may exist already (a prepared container's), but empty."""
    status = pod.get("status") or {}
    for s in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        if s.get("name") == container:
            return "waiting" in (s.get("state") or {}) and not (s.get("lastState") or {}).get("terminated")
    return False


def _instance_id(pod: JSON, container: str, previous: bool) -> str:
    """The runtime ID of the instance `kubectl logs` reads: the status's own while it runs or has terminated,
    else (waiting, e.g. in back-off) its last terminated one, which `--previous` always reads."""
    status = pod.get("status") or {}
    every = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
        *(status.get("ephemeralContainerStatuses") or []),
    ]
    for s in every:
        if s.get("name") != container:
            continue
        state = s.get("state") or {}
        last = ((s.get("lastState") or {}).get("terminated") or {}).get("containerID", "")
        current = s.get("containerID", "") if not previous and ("running" in state or "terminated" in state) else ""
        return str(current or last).partition("://")[2]
    return ""


class NodeLogs:
    """The API's `LogBackend`: container logs from the kubelet's log files."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def logs(
        self, namespace: str, pod: JSON, container: str, *, follow: bool, previous: bool, timestamps: bool,
        tail_lines: int | None, since_seconds: int | None, since_time: str | None, limit_bytes: int | None,
    ) -> AsyncIterator[bytes]:  # fmt: skip
        """The container's output as `kubectl logs` asks for it."""
        name = pod["metadata"]["name"]
        files = _instances(self.node.container_log_dir(pod, container))
        known = await self._instance_log(pod, container, previous)
        if previous:
            if known is None and len(files) < 2:
                raise _bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
            path, live = known or files[-2], False
        else:
            if not files or _never_ran(pod, container):
                reason = _waiting_reason(pod, container)
                raise _bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
            path = known or files[-1]
            live = follow and await self.node.log_is_live(path)
        since = None
        if since_seconds is not None:
            since = time.time() - since_seconds
        elif since_time:
            try:
                since = parse_unix(since_time)
            except ValueError:
                raise _bad_request(f'parsing time "{since_time}": not an RFC 3339 time') from None
        return self._stream(path, live, pod, container, timestamps, tail_lines, since, limit_bytes)

    async def _instance_log(self, pod: JSON, container: str, previous: bool) -> Path | None:
        """The log file of the instance the kubelet reads, if the runtime still knows it."""
        wanted = _instance_id(pod, container, previous)
        if not wanted:
            return None
        for instance in await self.node.containers_of(pod["metadata"].get("uid", "")):
            if instance.id == wanted and instance.log_path:
                return Path(instance.log_path)
        return None

    async def _stream(
        self, path: Path, live: bool, pod: JSON, container: str, timestamps: bool,
        tail_lines: int | None, since: float | None, limit_bytes: int | None,
    ) -> AsyncIterator[bytes]:  # fmt: skip
        def render(line: LogLine) -> bytes:
            text = f"{kubelet_log_timestamp(line.timestamp)} {line.text}\n" if timestamps else f"{line.text}\n"
            return text.encode()

        def wanted(line: LogLine) -> bool:
            return since is None or cri_unix_nanos(line.timestamp) >= since * 1_000_000_000

        sent = 0
        lines = [line for line in read_lines(path) if wanted(line)]
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines > 0 else []
        for line in lines:
            chunk = render(line)
            if limit_bytes is not None and sent + len(chunk) > limit_bytes:
                yield chunk[: limit_bytes - sent]
                return
            sent += len(chunk)
            yield chunk
        if not live:
            return
        stop = asyncio.Event()
        watcher = asyncio.create_task(self._stop_when_exited(path, stop))
        skip = sum(1 for _ in read_lines(path))
        try:
            async for line in follow(path, stop):
                if skip:
                    skip -= 1
                    continue
                chunk = render(line)
                if limit_bytes is not None and sent + len(chunk) > limit_bytes:
                    yield chunk[: limit_bytes - sent]
                    return
                sent += len(chunk)
                yield chunk
        finally:
            watcher.cancel()

    async def _stop_when_exited(self, path: Path, stop: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(FOLLOW_CHECK_SECONDS)
            if not await self.node.log_is_live(path):
                stop.set()
                return


class NodeStreams:
    """The API's `StreamBackend`: exec into and attach to running containers, dial into pods' network namespaces."""

    def __init__(self, node: Node, get_pod: Any) -> None:
        self.node = node
        self._get_pod = get_pod  # (namespace, name) -> pod dict, raising ApiError NotFound

    async def _running_container(self, namespace: str, pod: str, container: str) -> str:
        uid = self._get_pod(namespace, pod)["metadata"]["uid"]
        running = await self.node.running_container(uid, container)
        if running is not None:
            return running.id
        raise _bad_request(f'unable to upgrade connection: container not found ("{container}")')

    async def exec(
        self, namespace: str, pod: str, container: str, command: list[str], *, tty: bool, stdin: bool
    ) -> ExecStreams:
        """Run a command in the container's running instance."""
        container_id = await self._running_container(namespace, pod, container)
        return await self.node.runtime.exec_stream(container_id, command, tty, stdin)

    async def attach(self, namespace: str, pod: str, container: str, *, tty: bool, stdin: bool) -> ExecStreams:
        """Attach to the container's running instance; `kill()` detaches.

        Whether there is a terminal and a stdin is the container's own setting (`tty`, `stdin` in its spec): kubectl
        only asks for a terminal the container has, and input to a container without stdin is dropped.
        """
        container_id = await self._running_container(namespace, pod, container)
        try:
            return await self.node.runtime.attach(container_id)
        except RuntimeError_ as e:  # it exited since it was listed
            raise _bad_request(f"unable to upgrade connection: {e.message}") from None

    async def dial(self, namespace: str, pod: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to `port` inside the pod's network namespace."""
        uid = self._get_pod(namespace, pod)["metadata"]["uid"]
        sandbox = await self.node.ready_sandbox(uid)
        if sandbox is not None:
            return await self.node.runtime.dial(sandbox.id, port)
        raise _bad_request(f"pod {pod} does not have a running sandbox")


class NodeLifecycle:
    """The API's `LifecycleBackend`: the lifecycle history the kubelet records for each pod."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def records(self, uid: str) -> tuple[list[JSON], int]:
        """The pod's records so far and how many were ever appended."""
        history = self.node.lifecycle_of(uid)
        return list(history.records), history.appended_total

    async def wait_beyond(self, uid: str, total: int, timeout: float) -> None:
        """Return once the pod has more than `total` records, or after `timeout` seconds."""
        await self.node.lifecycle_of(uid).wait_beyond(total, timeout)
