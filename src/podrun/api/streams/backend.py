"""What the streaming subresources share with the server layer: the node's side (`StreamBackend`) and their errors.

A module of its own so that the server can name both without loading the WebSocket and SPDY code, which is
imported with the first exec, attach or port-forward.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

from podrun.api.errors import ApiError
from podrun.runtime.protocol import ExecStreams

_REASONS = {400: "BadRequest", 403: "Forbidden"}  # the codes the streaming endpoints raise


class StreamError(ApiError):
    """An `ApiError` of the streaming endpoints, which may carry response headers.

    A failed SPDY protocol negotiation is a 403 that lists the accepted versions in a header.
    """

    def __init__(self, code: int, message: str, reason: str = "", headers: Mapping[str, str] | None = None) -> None:
        super().__init__(code, reason or _REASONS.get(code, ""), message)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """The error as the JSON `Status` kubectl prints (`Error from server (BadRequest): …`)."""
        return error_response(self)


def error_response(error: ApiError) -> web.Response:
    """An `ApiError` (a `StreamError` with its headers) as the HTTP response, before any upgrade."""
    headers = error.headers if isinstance(error, StreamError) else {}
    return web.json_response(error.status(), status=error.code, headers=headers)


class StreamBackend(Protocol):
    """What the streaming endpoints need from the node: processes to talk to, and the pod's ports."""

    async def exec(
        self, namespace: str, pod: str, container: str, command: list[str], *, tty: bool, stdin: bool
    ) -> ExecStreams:
        """Start `command` in the container; an `ApiError` (e.g. 400, 404) when that is not possible."""
        ...

    async def attach(self, namespace: str, pod: str, container: str, *, tty: bool, stdin: bool) -> ExecStreams:
        """Attach to the container's main process; its `kill` must detach, not kill. May raise `ApiError`."""
        ...

    async def dial(self, namespace: str, pod: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to `port` in the pod's network namespace; `OSError` or `ApiError` on failure."""
        ...
