"""`pods/{name}/portforward`: TCP connections to the pod's ports, multiplexed over SPDY/3.1.

kubectl up to 1.30 POSTs `Upgrade: SPDY/3.1` with `X-Stream-Protocol-Version: portforward.k8s.io`; 1.31+ opens a
WebSocket with the subprotocol `SPDY/3.1+portforward.k8s.io` and sends the same SPDY bytes in binary messages,
split anywhere (client-go `tunneling_connection.go`). For each local connection the client opens two streams with
the same `requestid` and `port` headers: `streamtype: error`, which it half-closes at once and then reads to the
end (any byte there is an error it prints, after which kubectl gives up), and `streamtype: data`, the connection's
bytes. The stream semantics follow the kubelet's `cri/streaming/portforward/httpstream.go`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSMsgType, web

from podrun.api.errors import ApiError
from podrun.api.streams import spdy, websocket
from podrun.api.streams.backend import StreamBackend, StreamError, error_response

PROTOCOL = "portforward.k8s.io"
TUNNEL_SUBPROTOCOL = "SPDY/3.1+portforward.k8s.io"
STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's wait for the second stream of a pair
READ_SIZE = 64 * 1024

log = logging.getLogger(__name__)


async def handle_portforward(
    request: web.Request, backend: StreamBackend, namespace: str, pod: str, *, uid: str = ""
) -> web.StreamResponse:
    """Serve port forwarding for `namespace/pod` until the client disconnects.

    Any number of ports and connections share the session; each (error, data) stream pair is one TCP connection
    made with `backend.dial`. `uid` only appears in error messages, as the kubelet's do.
    """
    try:
        response, session = await _upgrade(request)
    except ApiError as e:
        return error_response(e)
    async with session:
        await _Forwarder(backend, namespace, pod, uid).serve(session)
    return response


async def _upgrade(request: web.Request) -> tuple[web.StreamResponse, spdy.SpdySession]:
    if websocket.is_websocket_request(request):
        if TUNNEL_SUBPROTOCOL not in websocket.offered_subprotocols(request):
            # A non-101 answer makes kubectl fall back to raw SPDY.
            raise StreamError(400, f"unable to upgrade: port forwarding supports only {TUNNEL_SUBPROTOCOL}")
        ws = web.WebSocketResponse(protocols=(TUNNEL_SUBPROTOCOL,))
        await ws.prepare(request)
        return ws, spdy.SpdySession(_Tunnel(ws))
    if spdy.is_spdy_upgrade(request):
        offered = spdy.offered_stream_protocols(request)
        if not offered:
            raise StreamError(400, "unable to upgrade: X-Stream-Protocol-Version is required")
        if spdy.negotiate(offered, (PROTOCOL,)) is None:
            raise StreamError(
                403,
                f"unable to upgrade: unable to negotiate protocol: client supports {offered}, server accepts "
                f"[{PROTOCOL}]",
                headers={"X-Accepted-Stream-Protocol-Versions": PROTOCOL},
            )
        return await spdy.accept_spdy(request, PROTOCOL)
    raise StreamError(400, "Upgrade request required")


class _Tunnel:
    """SPDY bytes carried in WebSocket binary messages, as a FrameTransport.

    The client splits frames across messages (each of its writes is one message), so reads reassemble a byte
    stream; each frame we send goes out as one message.
    """

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._buffer = bytearray()

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            message = await self._ws.receive()
            if message.type == WSMsgType.BINARY:
                self._buffer += message.data
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                raise asyncio.IncompleteReadError(bytes(self._buffer), n)
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def write(self, data: bytes) -> None:
        await self._ws.send_bytes(data)

    async def close(self) -> None:
        await self._ws.close()


class _Pair:
    """The error and data streams of one forwarded connection."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.error: spdy.SpdyStream | None = None
        self.data: spdy.SpdyStream | None = None
        self.complete = asyncio.Event()

    def add(self, kind: str, stream: spdy.SpdyStream) -> bool:
        """Record `stream`; False if this pair already has a stream of that type."""
        if kind == "error":
            if self.error is not None:
                return False
            self.error = stream
        else:
            if self.data is not None:
                return False
            self.data = stream
        if self.error is not None and self.data is not None:
            self.complete.set()
        return True

    async def fail(self, message: str) -> None:
        """Write `message` to the error stream (the client prints it) and end the pair."""
        if self.error is not None:
            with contextlib.suppress(ConnectionError):
                await self.error.write(message.encode())
        await self.close()

    async def close(self) -> None:
        """Half-close both streams; the client waits for the end of the error stream."""
        for stream in (self.data, self.error):
            if stream is not None:
                await stream.close()


class _Forwarder:
    """Pairs up the streams of one session and forwards each complete pair to the pod."""

    def __init__(self, backend: StreamBackend, namespace: str, pod: str, uid: str) -> None:
        self._backend = backend
        self._namespace = namespace
        self._pod = pod
        self._uid = uid
        self._pairs: dict[str, _Pair] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self, session: spdy.SpdySession) -> None:
        """Run until the client hangs up; then cut the connections still open."""
        try:
            async for stream in session.streams():
                await self._add(stream)
            await session.wait_closed()  # after a GOAWAY the client still resets what it has open
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _add(self, stream: spdy.SpdyStream) -> None:
        kind = stream.headers.get("streamtype", "")
        if kind not in ("error", "data") or _port(stream) is None:
            await stream.reset(spdy.RstStatus.PROTOCOL_ERROR)  # the kubelet refuses such streams outright
            return
        await stream.reply()
        # Old clients sent no request id: their error and data streams are consecutive odd ids.
        request_id = stream.headers.get("requestid") or str(stream.id if kind == "error" else stream.id - 2)
        pair = self._pairs.get(request_id)
        if pair is None:
            pair = self._pairs[request_id] = _Pair(request_id)
            self._spawn(self._expire(pair))
        if not pair.add(kind, stream):
            await stream.reset()
            await pair.fail(f"error processing stream for request {request_id}: {kind} stream already assigned")
        elif pair.complete.is_set():
            self._spawn(self._forward(pair))

    async def _expire(self, pair: _Pair) -> None:
        """Forget the pair once complete; fail it if its second stream does not come in time."""
        try:
            await asyncio.wait_for(pair.complete.wait(), STREAM_CREATION_TIMEOUT)
        except TimeoutError:
            await pair.fail(f"(request={pair.request_id}) timed out waiting for streams")
        finally:
            self._pairs.pop(pair.request_id, None)

    async def _forward(self, pair: _Pair) -> None:
        assert pair.data is not None
        port = _port(pair.data) or 0  # validated when the stream came in
        try:
            reader, writer = await self._backend.dial(self._namespace, self._pod, port)
        except Exception as e:  # any failure to connect is the client's to see, as the kubelet reports it
            message = f"error forwarding port {port} to pod {self._pod}, uid {self._uid}: {str(e) or type(e).__name__}"
            log.warning("%s", message)
            await pair.fail(message)
            return
        try:
            await _pipe(pair, reader, writer)
        finally:
            writer.close()
            await pair.close()


def _port(stream: spdy.SpdyStream) -> int | None:
    text = stream.headers.get("port", "")
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


async def _pipe(pair: _Pair, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy both ways until the data stream is closed both ways or reset.

    The pod's EOF (or reset) half-closes the data stream and closes the error stream: kubectl waits for the end
    of the error stream before it lets go of the connection. The client's FIN half-closes the pod connection, which
    may still answer.
    """
    assert pair.data is not None
    stream = pair.data

    async def to_pod() -> None:
        pod_open = True
        async for chunk in stream:  # read to the end even if the pod stops reading, so the session never stalls
            if pod_open:
                try:
                    writer.write(chunk)
                    await writer.drain()
                except OSError:
                    pod_open = False
        if pod_open and not stream.is_reset and writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()

    async def to_client() -> None:
        with contextlib.suppress(OSError):  # StreamClosedError is one: the client reset the stream
            while chunk := await reader.read(READ_SIZE):
                await stream.write(chunk)
        await pair.close()

    tasks = [asyncio.create_task(to_pod()), asyncio.create_task(to_client())]
    try:
        await stream.wait_closed()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
