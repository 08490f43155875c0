"""`pods/{name}/exec` and `pods/{name}/attach`: the command's stdio over WebSocket channels or SPDY streams.

kubectl 1.30+ asks for a WebSocket with `v5.channel.k8s.io`; kubectl 1.29 (and later ones when the WebSocket
upgrade is refused) POSTs `Upgrade: SPDY/3.1` with `X-Stream-Protocol-Version`. Both carry the same things: stdin
to the command, stdout and stderr back, terminal resizes, and at the end one `metav1.Status` whose
`NonZeroExitCode` cause is what makes `kubectl exec` exit with the command's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from podrun.api.errors import ApiError
from podrun.api.streams import spdy, websocket
from podrun.api.streams.backend import StreamBackend, StreamError, error_response
from podrun.runtime.protocol import ExecStreams

STREAM_CREATION_TIMEOUT = 30.0  # how long the kubelet waits for a SPDY client to open its streams
CLOSE_LINGER = 5.0  # how long to let a SPDY client hang up first after the status was sent
SPDY_PROTOCOLS = (websocket.V4,)  # over SPDY, v5 adds nothing and the kubelet does not offer it


@dataclass(frozen=True)
class ExecOptions:
    """The `PodExecOptions` / `PodAttachOptions` query of one request."""

    container: str
    command: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def parse(cls, query: MultiMapping[str], pod: str, *, attach: bool) -> ExecOptions:
        """Read the query as the apiserver does; a missing container or command is a 400.

        `container` must be present: choosing the only container of a pod is the server layer's job (kubectl
        always sends it).
        """
        container = query.get("container", "")
        if not container:
            raise StreamError(400, f"a container name must be specified for pod {pod}")
        command = list(query.getall("command", []))
        if not attach and not command:
            raise StreamError(400, "you must specify at least one command for the container")
        tty = _flag(query, "tty")
        stdin, stdout = _flag(query, "stdin"), _flag(query, "stdout")
        stderr = _flag(query, "stderr") and not tty  # a terminal merges stderr into stdout
        if not (stdin or stdout or stderr):
            raise StreamError(400, "you must specify at least 1 of stdin, stdout, stderr")
        return cls(container, command, stdin, stdout, stderr, tty)


def _flag(query: MultiMapping[str], name: str) -> bool:
    # The spellings Go's strconv.ParseBool accepts as true.
    return query.get(name, "") in ("1", "t", "T", "true", "TRUE", "True")


def exit_status(code: int, command: list[str], *, attach: bool) -> dict[str, Any]:
    """The `metav1.Status` for the error channel: Success, or `NonZeroExitCode` with the code as its cause.

    An attach reports Success when the streams end: the container's exit code is in the pod status.
    """
    if code == 0 or attach:
        return {"metadata": {}, "status": "Success"}
    # asyncio reports death by signal N as -N; shells and runc report 128+N. Clients parse the code as a uint8.
    rc = 128 - code if code < 0 else min(code, 255)
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command [{' '.join(command)}], "
        f"exit code {rc}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(rc)}]},
    }


def _internal_error(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500}


def _negotiate(request: web.BaseRequest) -> tuple[bool, str]:
    """(WebSocket?, channel protocol) for the request, or a StreamError that makes kubectl try its fallback."""
    if websocket.is_websocket_request(request):
        protocol = websocket.choose_subprotocol(websocket.offered_subprotocols(request), websocket.CHANNEL_PROTOCOLS)
        if protocol is None:
            # Any non-101 answer makes kubectl retry over SPDY.
            raise StreamError(400, f"unable to upgrade: the server supports only {list(websocket.CHANNEL_PROTOCOLS)}")
        return True, protocol
    if spdy.is_spdy_upgrade(request):
        offered = spdy.offered_stream_protocols(request)
        if not offered:
            raise StreamError(400, "unable to upgrade: X-Stream-Protocol-Version is required")
        protocol = spdy.negotiate(offered, SPDY_PROTOCOLS)
        if protocol is None:
            raise StreamError(
                403,
                f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                f"server accepts {list(SPDY_PROTOCOLS)}",
                headers={"X-Accepted-Stream-Protocol-Versions": ", ".join(SPDY_PROTOCOLS)},
            )
        return False, protocol
    raise StreamError(400, "Upgrade request required")


async def handle_exec(
    request: web.Request, backend: StreamBackend, namespace: str, pod: str, *, attach: bool = False
) -> web.StreamResponse:
    """Serve exec (or attach, with `attach=True`) for `namespace/pod` until the command ends or the client leaves.

    Errors found before the upgrade (bad query, unknown container, no common protocol) are answered as a
    `Status` with their HTTP code. If the client goes away first, the command is killed (attach: detached).
    """
    try:
        options = ExecOptions.parse(request.query, pod, attach=attach)
        use_websocket, protocol = _negotiate(request)
        if attach:
            streams = await backend.attach(namespace, pod, options.container, tty=options.tty, stdin=options.stdin)
        else:
            streams = await backend.exec(
                namespace, pod, options.container, options.command, tty=options.tty, stdin=options.stdin
            )
    except ApiError as e:
        return error_response(e)
    session = _ExecSession(streams, options, attach=attach)
    try:
        if use_websocket:
            return await session.serve_websocket(request, protocol)
        return await session.serve_spdy(request, protocol)
    finally:
        if not session.exited:
            streams.kill()


class _ExecSession:
    """One exec or attach: copies between the command and whichever wire protocol the client chose."""

    def __init__(self, streams: ExecStreams, options: ExecOptions, *, attach: bool) -> None:
        self.streams = streams
        self.options = options
        self.attach = attach
        self.exited = False
        self._stdin_open = options.stdin

    # -- WebSocket --------------------------------------------------------------------------------------------

    async def serve_websocket(self, request: web.BaseRequest, protocol: str) -> web.StreamResponse:
        """Run over a channel WebSocket: status on channel 3, then close (1000)."""
        sock = await websocket.accept_channels(request, protocol)
        # The input loop ends only when the client closes the WebSocket (v5 signals stdin EOF in-band).
        client_gone = asyncio.create_task(self._websocket_input(sock))
        try:
            stdout = functools.partial(sock.write, websocket.STDOUT) if self.options.stdout else None
            stderr = functools.partial(sock.write, websocket.STDERR) if self.options.stderr else None
            status = await self._run_until_gone(self._output(stdout, stderr), client_gone)
            if status is not None:
                with contextlib.suppress(ConnectionError):
                    await sock.write_status(status)
        finally:
            # Stop reading first: aiohttp's close() then reads the client's close frame itself.
            client_gone.cancel()
            await asyncio.wait({client_gone})
            await sock.close()
        return sock.ws

    async def _websocket_input(self, sock: websocket.ChannelSocket) -> None:
        async for channel, payload in sock.messages():
            if channel == websocket.STDIN:
                await self._stdin(payload)
            elif channel == websocket.RESIZE:
                with contextlib.suppress(ValueError):
                    self._resize(json.loads(payload))
            elif channel == websocket.CLOSE and payload[:1] == bytes((websocket.STDIN,)):
                await self._close_stdin()

    # -- SPDY -------------------------------------------------------------------------------------------------

    async def serve_spdy(self, request: web.BaseRequest, protocol: str) -> web.StreamResponse:
        """Run over SPDY: one stream per channel, opened by the client; FIN each output, then the status."""
        response, session = await spdy.accept_spdy(request, protocol)
        async with session:
            try:
                channels = await asyncio.wait_for(self._accept_streams(session), STREAM_CREATION_TIMEOUT)
            except (TimeoutError, ConnectionError):
                return response
            inputs = []
            if "stdin" in channels:
                inputs.append(asyncio.create_task(self._spdy_stdin(channels["stdin"])))
            if "resize" in channels:
                inputs.append(asyncio.create_task(self._spdy_resizes(channels["resize"])))
            try:
                stdout, stderr = channels.get("stdout"), channels.get("stderr")
                status = await self._run_until_gone(
                    self._output(stdout.write if stdout else None, stderr.write if stderr else None),
                    session.wait_closed(),
                )
                if status is not None:
                    with contextlib.suppress(ConnectionError):
                        for stream in (stdout, stderr):
                            if stream is not None:
                                await stream.close()
                        await channels["error"].write(json.dumps(status, separators=(",", ":")).encode())
                        await channels["error"].close()
                    await session.close(linger=CLOSE_LINGER)
            finally:
                for task in inputs:
                    task.cancel()
                if inputs:
                    await asyncio.wait(inputs)
        return response

    async def _accept_streams(self, session: spdy.SpdySession) -> dict[str, spdy.SpdyStream]:
        """Wait for the streams the client opens (`streamtype` error, stdin, stdout, stderr, resize)."""
        options = self.options
        optional = {"stdin": options.stdin, "stdout": options.stdout, "stderr": options.stderr, "resize": options.tty}
        wanted = {"error"} | {name for name, on in optional.items() if on}
        channels: dict[str, spdy.SpdyStream] = {}
        while len(channels) < len(wanted):
            stream = await session.accept()
            if stream is None:
                raise ConnectionResetError("the client went away before opening its streams")
            kind = stream.headers.get("streamtype", "")
            if kind in wanted and kind not in channels:
                await stream.reply()
                channels[kind] = stream
            else:
                await stream.reset(spdy.RstStatus.REFUSED_STREAM)
        return channels

    async def _spdy_stdin(self, stream: spdy.SpdyStream) -> None:
        async for chunk in stream:
            await self._stdin(chunk)
        if not stream.is_reset:
            await self._close_stdin()

    async def _spdy_resizes(self, stream: spdy.SpdyStream) -> None:
        # A sequence of JSON objects (Go's json.Encoder), split across DATA frames at random.
        decoder, pending = json.JSONDecoder(), ""
        async for chunk in stream:
            pending += chunk.decode(errors="replace")
            while pending := pending.lstrip():
                try:
                    size, end = decoder.raw_decode(pending)
                except ValueError:
                    break  # incomplete: wait for more
                pending = pending[end:]
                self._resize(size)
            if len(pending) > 4096:
                return  # not JSON after all; resizing is best effort

    # -- common -----------------------------------------------------------------------------------------------

    async def _run_until_gone(
        self, output: Awaitable[dict[str, Any]], client_gone: Awaitable[Any]
    ) -> dict[str, Any] | None:
        """The status once the output is copied and the command has ended; None if the client left first."""
        output_task = asyncio.ensure_future(output)
        gone_task = asyncio.ensure_future(client_gone)
        try:
            await asyncio.wait({output_task, gone_task}, return_when=asyncio.FIRST_COMPLETED)
            return output_task.result() if output_task.done() else None
        finally:
            for task in (output_task, gone_task):
                task.cancel()
            await asyncio.wait({output_task, gone_task})

    async def _output(self, stdout: _Write | None, stderr: _Write | None) -> dict[str, Any]:
        """Copy stdout and stderr to the client until both end, then wait for the exit code."""
        try:
            async with asyncio.TaskGroup() as copies:
                copies.create_task(_copy(self.streams.stdout, stdout))
                if self.streams.stderr is not None:
                    copies.create_task(_copy(self.streams.stderr, stderr))
            code = await self.streams.wait()
        except Exception as e:  # the backend failed mid-way: report it on the error channel, as the kubelet does
            cause = e.exceptions[0] if isinstance(e, ExceptionGroup) else e
            return _internal_error(f"error streaming the command's output: {cause}")
        self.exited = True
        return exit_status(code, self.options.command, attach=self.attach)

    async def _stdin(self, data: bytes) -> None:
        if not self._stdin_open:
            return
        try:
            await self.streams.stdin(data)
        except OSError:
            self._stdin_open = False  # the command closed its stdin; later input has nowhere to go

    async def _close_stdin(self) -> None:
        if self._stdin_open:
            self._stdin_open = False
            with contextlib.suppress(OSError):
                await self.streams.close_stdin()

    def _resize(self, size: object) -> None:
        if isinstance(size, dict):
            width, height = size.get("Width"), size.get("Height")
            if isinstance(width, int) and isinstance(height, int) and width >= 0 and height >= 0:
                self.streams.resize(width, height)


_Write = Callable[[bytes], Awaitable[None]]


async def _copy(source: AsyncIterator[bytes], write: _Write | None) -> None:
    """Copy to `write` until the source ends; keep draining (so the command never blocks) once the client is gone."""
    async for chunk in source:
        if write is not None:
            try:
                await write(chunk)
            except ConnectionError:
                write = None
