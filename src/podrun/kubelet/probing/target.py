"""How probes and hooks reach their target in the pod: the pod IP, named ports, dialing through the runtime."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from podrun.model.errors import go_quote
from podrun.runtime.protocol import Runtime

POD_IP = "127.0.0.1"
# The kubelet version in `kube-probe/1.33` and `kube-lifecycle/1.33` (request.go, userAgent).
KUBE_VERSION = "1.33"

Dial = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class ProbeActionError(Exception):
    """A probe or hook action that cannot even be attempted, e.g. a named port the container lacks."""


def runtime_dial(runtime: Runtime, sandbox_id: str) -> Dial:
    """A `Dial` that connects inside the pod's network namespace through the runtime."""

    async def dial(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await runtime.dial(sandbox_id, port, host)
        return cast(asyncio.StreamReader, reader), cast(asyncio.StreamWriter, writer)

    return dial


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """`probe.ResolveContainerPort`: a number, or the name of one of the container's ports."""
    if isinstance(port, str):
        for candidate in container.get("ports") or []:
            if isinstance(candidate, Mapping) and candidate.get("name") == port:
                port = candidate.get("containerPort")
                break
        else:
            raise ProbeActionError(f"port {go_quote(port)} not found")
    if not isinstance(port, int) or isinstance(port, bool):
        raise ProbeActionError(f"intOrString had no kind: {port!r}")
    if not 0 < port < 65536:
        raise ProbeActionError(f"invalid port number: {port}")
    return port


def join_host_port(host: str, port: int) -> str:
    """net.JoinHostPort."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def dial_error(exc: BaseException) -> str:
    """A failed connect as Go words it after `dial tcp <addr>: `, e.g. `connect: connection refused`."""
    if isinstance(exc, OSError) and exc.errno:
        text = os.strerror(exc.errno)
        return f"connect: {text[:1].lower()}{text[1:]}"
    return str(exc)


def io_error(exc: BaseException) -> str:
    """A failed read as Go words it: `unexpected EOF`, `read: connection reset by peer`."""
    if isinstance(exc, asyncio.IncompleteReadError):
        return "unexpected EOF"
    if isinstance(exc, ConnectionResetError):
        return "read: connection reset by peer"
    return str(exc)


def close_writer(writer: asyncio.StreamWriter, *, abort: bool = False) -> None:
    """Close a connection whose exchange is over, without waiting: nothing is left to flush.

    (Waiting could hang: after a cancelled TLS handshake, asyncio never completes `wait_closed`.)
    `abort` drops it at once, for a connection left in an unknown state by an error or a cancellation.
    """
    if abort:
        writer.transport.abort()
    else:
        writer.close()
