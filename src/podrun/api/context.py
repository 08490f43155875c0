"""What every API handler works with: the store, the node's backends, and what runs in the background."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from podrun.api.store import Store, Watch
from podrun.api.streams.backend import StreamBackend
from podrun.json_types import JSON


class LogBackend(Protocol):
    """Where `pods/log` reads container output from (the node's CRI log files).

    The server has already checked the pod and the container name; the backend raises `ApiError` 400 with the
    API server's messages for what only it can know, such as `previous terminated container "x" in pod "y" not
    found` or `container "x" in pod "y" is waiting to start: ContainerCreating`. It may be a coroutine that
    returns the iterator (so that such errors come before any output) or an async generator.
    """

    def logs(
        self,
        namespace: str,
        pod: JSON,
        container: str,
        *,
        follow: bool,
        previous: bool,
        timestamps: bool,
        tail_lines: int | None,
        since_seconds: int | None,
        since_time: str | None,
        limit_bytes: int | None,
    ) -> AsyncIterator[bytes] | Coroutine[Any, Any, AsyncIterator[bytes]]:
        """The container's log, as `kubectl logs` asks for it; with `follow` it ends when the container stops."""
        ...


class LifecycleBackend(Protocol):
    """Where `pods/lifecycle` reads a pod's lifecycle history from (the node's records, docs/lifecycle.md)."""

    def records(self, uid: str) -> tuple[list[JSON], int]:
        """The pod's records so far and how many were ever appended (none for a pod the node does not know)."""
        ...

    async def wait_beyond(self, uid: str, total: int, timeout: float) -> None:
        """Return once more than `total` records were ever appended for the pod, or after `timeout` seconds."""
        ...


@dataclass
class ApiContext:
    """The state of one API server."""

    store: Store
    node_name: str
    streams: StreamBackend
    logs: LogBackend
    kubernetes_version: str
    token: str | None
    lifecycle: LifecycleBackend | None = None
    watches: set[Watch] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run background work (a namespace's deletion) that the server cancels when it stops."""
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        """End open watches (their streams finish cleanly) and cancel background work."""
        for watch in list(self.watches):
            watch.close()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


API_CONTEXT = web.AppKey("podrun.api", ApiContext)


def context_of(request: web.Request) -> ApiContext:
    """The API server state of the app serving `request`."""
    return request.app[API_CONTEXT]
