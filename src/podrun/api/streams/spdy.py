"""SPDY/3.1, server side, as Kubernetes clients speak it (moby/spdystream inside client-go).

`kubectl exec` (up to 1.29, and as the fallback later) and `kubectl port-forward` (always: raw, or tunnelled in
WebSocket binary messages) multiplex their streams over one SPDY/3.1 connection. This module holds the framing, the
zlib header compression with the SPDY/3 dictionary, a session that accepts the client's streams, and the HTTP
`Upgrade: SPDY/3.1` takeover of an aiohttp connection. The server never opens streams itself: Kubernetes needs no
server push.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import struct
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, cast

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

VERSION = 3

# The SPDY/3 header-compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1): 65 length-prefixed words,
# then a run of raw text. Both ends prime their zlib contexts with it.
# fmt: off
_DICTIONARY_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
    "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
    "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
    "keep-alive", "origin",
)
# fmt: on
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICTIONARY_WORDS) + _DICTIONARY_TAIL.encode()

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
SETTINGS_INITIAL_WINDOW_SIZE = 7
DEFAULT_WINDOW = 64 * 1024  # SPDY/3.1's initial stream and session windows
MAX_CHUNK = 32 * 1024  # payload of one DATA frame we send; small enough to interleave streams fairly
STREAM_HIGH_WATER = 1024 * 1024  # unread bytes per stream before the session stops reading the connection
MAX_HEADER_BLOCK = 256 * 1024  # decompressed; a guard against compression bombs


class FrameType(enum.IntEnum):
    """Control frame types."""

    SYN_STREAM = 1
    SYN_REPLY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PING = 6
    GOAWAY = 7
    HEADERS = 8
    WINDOW_UPDATE = 9


class RstStatus(enum.IntEnum):
    """RST_STREAM status codes."""

    PROTOCOL_ERROR = 1
    INVALID_STREAM = 2
    REFUSED_STREAM = 3
    UNSUPPORTED_VERSION = 4
    CANCEL = 5
    INTERNAL_ERROR = 6
    FLOW_CONTROL_ERROR = 7
    STREAM_IN_USE = 8
    STREAM_ALREADY_CLOSED = 9
    FRAME_TOO_LARGE = 11


class GoAwayStatus(enum.IntEnum):
    """GOAWAY status codes."""

    OK = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2


class SpdyProtocolError(Exception):
    """The peer broke the SPDY/3.1 framing; the session answers with GOAWAY and ends."""


class StreamClosedError(ConnectionError):
    """A write to a stream that this side has closed, that was reset, or whose session has ended."""


# -- framing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlFrame:
    """A control frame; `payload` is everything after the 8-byte frame header."""

    type: int
    flags: int
    payload: bytes


@dataclass(frozen=True)
class DataFrame:
    """A DATA frame of one stream."""

    stream_id: int
    flags: int
    data: bytes


Frame = ControlFrame | DataFrame


class ByteReader(Protocol):
    """Where frames come from: `asyncio.StreamReader` or anything with its `readexactly`."""

    async def readexactly(self, n: int) -> bytes:
        """Exactly `n` bytes; `asyncio.IncompleteReadError` at end of stream."""
        ...


def encode_frame(frame: Frame) -> bytes:
    """The wire form of a frame."""
    if isinstance(frame, ControlFrame):
        head = struct.pack(">HHI", 0x8000 | VERSION, frame.type, (frame.flags << 24) | len(frame.payload))
        return head + frame.payload
    return struct.pack(">II", frame.stream_id & 0x7FFFFFFF, (frame.flags << 24) | len(frame.data)) + frame.data


async def read_frame(reader: ByteReader) -> Frame:
    """Read one frame; `asyncio.IncompleteReadError` when the connection ends."""
    first, flags_length = struct.unpack(">II", await reader.readexactly(8))
    flags, length = flags_length >> 24, flags_length & 0xFFFFFF
    payload = await reader.readexactly(length) if length else b""
    if not first & 0x80000000:
        return DataFrame(first, flags, payload)
    version = (first >> 16) & 0x7FFF
    if version != VERSION:
        raise SpdyProtocolError(f"unsupported SPDY version {version}")
    return ControlFrame(first & 0xFFFF, flags, payload)


def encode_header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    """An uncompressed name/value block: names lowercased, repeated names' values joined with NUL."""
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        merged.setdefault(name.lower(), []).append(value)
    parts = [struct.pack(">I", len(merged))]
    for name, values in merged.items():
        raw_name, raw_value = name.encode(), "\x00".join(values).encode()
        parts += [struct.pack(">I", len(raw_name)), raw_name, struct.pack(">I", len(raw_value)), raw_value]
    return b"".join(parts)


def decode_header_block(block: bytes) -> CIMultiDict[str]:
    """Parse an uncompressed name/value block; a NUL-joined value becomes repeated entries."""
    headers: CIMultiDict[str] = CIMultiDict()
    offset = 0

    def take(n: int) -> bytes:
        nonlocal offset
        if offset + n > len(block):
            raise SpdyProtocolError("truncated header block")
        offset += n
        return block[offset - n : offset]

    (count,) = struct.unpack(">I", take(4))
    for _ in range(count):
        name = take(struct.unpack(">I", take(4))[0]).decode(errors="replace").lower()
        value = take(struct.unpack(">I", take(4))[0]).decode(errors="replace")
        for part in value.split("\x00"):
            headers.add(name, part)
    return headers


class HeaderCompressor:
    """The sending direction's zlib context: one per session, shared by every header block in send order."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj(
            zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY
        )

    def compress(self, headers: Iterable[tuple[str, str]]) -> bytes:
        """Compress one block, ending it with a sync flush so the peer can decode it within its frame."""
        return self._zlib.compress(encode_header_block(headers)) + self._zlib.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    """The receiving direction's zlib context: every received block must pass through it, in order."""

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(zdict=DICTIONARY)

    def decompress(self, data: bytes) -> CIMultiDict[str]:
        """Decode one compressed block."""
        try:
            block = self._zlib.decompress(data, MAX_HEADER_BLOCK)
        except zlib.error as e:
            raise SpdyProtocolError(f"bad header compression: {e}") from e
        if self._zlib.unconsumed_tail:
            raise SpdyProtocolError("header block too large")
        return decode_header_block(block)


# -- session -----------------------------------------------------------------------------------------------


class FrameTransport(ByteReader, Protocol):
    """The connection under a session: a raw socket, or a WebSocket carrying the SPDY bytes."""

    async def write(self, data: bytes) -> None:
        """Send bytes, waiting while the peer is slow; `ConnectionError` once the connection is gone."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


class SpdyStream:
    """One client-initiated stream: its SYN_STREAM headers, the bytes the peer sends, and a way to answer.

    Accept it with `reply()` (the client waits for the SYN_REPLY before it opens the next stream) or refuse it with
    `reset()`. `read()` returns b"" once the peer has half-closed (FIN) or reset the stream.
    """

    def __init__(self, session: SpdySession, stream_id: int, headers: CIMultiDict[str], flags: int) -> None:
        self.id = stream_id
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(headers)
        self._session = session
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._data_event = asyncio.Event()  # something to read, or the end of it
        self._drained = asyncio.Event()  # the reader has caught up (the session waits on it when far behind)
        self._drained.set()
        self._done = asyncio.Event()  # both directions closed, reset, or session gone
        self._remote_closed = bool(flags & FLAG_FIN)
        self._local_closed = bool(flags & FLAG_UNIDIRECTIONAL)
        self._reset = False
        self._replied = False
        self.send_window = session.peer_initial_window
        self.unacked = 0  # bytes read by the application and not yet returned to the peer by WINDOW_UPDATE

    @property
    def remote_closed(self) -> bool:
        """True when the peer will send nothing more (FIN, reset or session end)."""
        return self._remote_closed

    @property
    def local_closed(self) -> bool:
        """True when this side can send nothing more."""
        return self._local_closed

    @property
    def is_reset(self) -> bool:
        """True when either side reset the stream, or the session ended under it."""
        return self._reset

    async def reply(self, headers: Mapping[str, str] | None = None) -> None:
        """Send the SYN_REPLY (once) that accepts the stream."""
        if self._replied or self._reset:
            return
        self._replied = True
        await self._session.send_headers(FrameType.SYN_REPLY, 0, self.id, (headers or {}).items())

    async def read(self, max_bytes: int = -1) -> bytes:
        """Up to `max_bytes` (all buffered when negative) of what the peer sent; b"" at the end."""
        while not self._chunks:
            if self._remote_closed:
                return b""
            self._data_event.clear()
            await self._data_event.wait()
        data = b"".join(self._chunks)
        self._chunks.clear()
        if 0 <= max_bytes < len(data):
            data, rest = data[:max_bytes], data[max_bytes:]
            self._chunks.append(rest)
        self._buffered -= len(data)
        if self._buffered <= STREAM_HIGH_WATER:
            self._drained.set()
        await self._session.consumed(self, len(data))
        return data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while chunk := await self.read():
            yield chunk

    async def write(self, data: bytes) -> None:
        """Send `data` in DATA frames, within the peer's flow-control windows when it uses them."""
        await self.reply()
        view = memoryview(data)
        while view:
            size = await self._session.reserve(self, len(view))
            await self._session.send_frame(DataFrame(self.id, 0, bytes(view[:size])))
            view = view[size:]

    async def close(self) -> None:
        """Half-close: tell the peer (DATA with FIN) that this side sends nothing more. Idempotent."""
        if self._local_closed:
            return
        self._local_closed = True
        self._session.wake_writers()
        self._maybe_done()
        with contextlib.suppress(ConnectionError):  # a dead connection closes every stream anyway
            await self.reply()
            await self._session.send_frame(DataFrame(self.id, FLAG_FIN, b""))

    async def reset(self, status: RstStatus = RstStatus.CANCEL) -> None:
        """Abort both directions with RST_STREAM; buffered input is dropped. Idempotent."""
        if self._reset:
            return
        self.abort()
        with contextlib.suppress(ConnectionError):
            await self._session.send_frame(ControlFrame(FrameType.RST_STREAM, 0, struct.pack(">II", self.id, status)))

    async def wait_closed(self) -> None:
        """Wait until both directions are closed, or the stream is reset, or the session ends."""
        await self._done.wait()

    # -- called by the session ----------------------------------------------------------------------------

    def feed(self, data: bytes, fin: bool) -> None:
        """Queue data from a DATA frame (or a HEADERS FIN)."""
        if data:
            self._chunks.append(data)
            self._buffered += len(data)
            if self._buffered > STREAM_HIGH_WATER:
                self._drained.clear()
        if fin:
            self._remote_closed = True
            self._maybe_done()
        self._data_event.set()

    async def wait_drained(self) -> None:
        """Wait while the application is more than STREAM_HIGH_WATER bytes behind."""
        await self._drained.wait()

    def abort(self) -> None:
        """End the stream in both directions now, without telling the peer."""
        self._reset = self._remote_closed = self._local_closed = True
        self._session.consumed_without_reading(self._buffered)
        self._chunks.clear()
        self._buffered = 0
        self._data_event.set()
        self._drained.set()
        self._session.wake_writers()
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._remote_closed and self._local_closed:
            self._done.set()
            self._session.forget(self)


class SpdySession:
    """A server-side SPDY/3.1 session over one connection.

    `start()` (or `async with`) runs the frame loop; `streams()`/`accept()` hand out the client's streams;
    PINGs are echoed, RST_STREAM/GOAWAY/SETTINGS/WINDOW_UPDATE are honoured.

    Flow control: the session returns window (WINDOW_UPDATE) as the application reads. It holds its own writes
    to the peer's windows only once the peer shows it does flow control (sends SETTINGS with an initial window
    size, or any WINDOW_UPDATE): moby/spdystream, which every Kubernetes client uses, does neither, and holding it
    to the default 64 KiB windows would stall every stream after 64 KiB. Against such a peer the backstop is TCP:
    the frame loop stops reading while one stream has more than STREAM_HIGH_WATER unread bytes.
    """

    def __init__(self, transport: FrameTransport) -> None:
        self._transport = transport
        self._compressor = HeaderCompressor()
        self._decompressor = HeaderDecompressor()
        self._send_lock = asyncio.Lock()
        self._streams: dict[int, SpdyStream] = {}
        self._incoming: asyncio.Queue[SpdyStream | None] = asyncio.Queue()
        self._accepting = True
        self._last_stream_id = 0
        self._goaway_sent = False
        self._goaway_received = False
        self._closed = False
        self._reader_task: asyncio.Task[None] | None = None
        self.peer_initial_window = DEFAULT_WINDOW
        self._send_window = DEFAULT_WINDOW
        self._peer_flow_control = False
        self._window_event = asyncio.Event()
        self._unacked = 0

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start reading frames."""
        if self._reader_task is None:
            self._reader_task = asyncio.create_task(self._serve(), name="spdy-session")

    async def __aenter__(self) -> SpdySession:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """True once the connection has ended (peer hung up, protocol error, or `close()`)."""
        return self._closed

    async def wait_closed(self) -> None:
        """Wait until the peer hangs up (or the session is closed)."""
        if self._reader_task is not None:
            await asyncio.wait({self._reader_task})

    async def goaway(self, status: GoAwayStatus = GoAwayStatus.OK) -> None:
        """Tell the peer no more streams will be accepted (once)."""
        if self._goaway_sent:
            return
        self._goaway_sent = True
        self._stop_accepting()
        await self.send_frame(ControlFrame(FrameType.GOAWAY, 0, struct.pack(">II", self._last_stream_id, status)))

    async def close(self, *, linger: float = 0.0) -> None:
        """Send GOAWAY, give the peer up to `linger` seconds to hang up first, then close the connection.

        Lingering lets the client read everything sent before it closes: closing while the peer still writes
        (its RST_STREAMs and GOAWAY) could make the kernel reset the connection and discard unread data.
        """
        if not self._closed:
            with contextlib.suppress(ConnectionError):
                await self.goaway()
            if linger > 0 and self._reader_task is not None:
                await asyncio.wait({self._reader_task}, timeout=linger)
        if self._reader_task is not None and not self._reader_task.done():
            self._reader_task.cancel()
            await asyncio.wait({self._reader_task})
        self._shutdown()
        await self._transport.close()

    # -- streams ------------------------------------------------------------------------------------------

    async def accept(self) -> SpdyStream | None:
        """The next stream the client opens; None once the session ends or either side sent GOAWAY."""
        stream = await self._incoming.get()
        if stream is None:
            self._incoming.put_nowait(None)  # every later accept() sees the end too
        return stream

    async def streams(self) -> AsyncIterator[SpdyStream]:
        """Every stream the client opens, until the session ends or GOAWAY."""
        while (stream := await self.accept()) is not None:
            yield stream

    # -- sending (also used by SpdyStream) ----------------------------------------------------------------

    async def send_frame(self, frame: Frame) -> None:
        """Write one frame."""
        if self._closed:
            raise StreamClosedError("the SPDY session has ended")
        async with self._send_lock:
            await self._transport.write(encode_frame(frame))

    async def send_headers(
        self, frame_type: int, flags: int, stream_id: int, headers: Iterable[tuple[str, str]]
    ) -> None:
        """Write a SYN_REPLY or HEADERS frame."""
        if self._closed:
            raise StreamClosedError("the SPDY session has ended")
        async with self._send_lock:
            # Compress under the lock: the peer's single zlib context must see blocks in the order they are sent.
            block = self._compressor.compress(headers)
            payload = struct.pack(">I", stream_id) + block
            await self._transport.write(encode_frame(ControlFrame(frame_type, flags, payload)))

    async def reserve(self, stream: SpdyStream, wanted: int) -> int:
        """How many bytes `stream` may send now (at least 1), waiting for window if the peer enforces it."""
        while True:
            if stream.local_closed or self._closed:
                raise StreamClosedError(f"SPDY stream {stream.id} is closed")
            size = min(wanted, MAX_CHUNK)
            if self._peer_flow_control:
                size = min(size, stream.send_window, self._send_window)
            if size > 0:
                # Windows are tracked even while not enforced, so they are right if the peer starts enforcing.
                stream.send_window -= size
                self._send_window -= size
                return size
            await self._window_event.wait()

    def wake_writers(self) -> None:
        """Let writers waiting for window re-check (window grew, or a stream or the session closed)."""
        self._window_event.set()
        self._window_event = asyncio.Event()

    async def consumed(self, stream: SpdyStream, size: int) -> None:
        """The application read `size` bytes of `stream`: return window to the peer once half of it is used."""
        stream.unacked += size
        self._unacked += size
        updates = []
        if stream.unacked >= DEFAULT_WINDOW // 2 and not stream.remote_closed:
            updates.append((stream.id, stream.unacked))
            stream.unacked = 0
        if self._unacked >= DEFAULT_WINDOW // 2:
            updates.append((0, self._unacked))
            self._unacked = 0
        with contextlib.suppress(ConnectionError):
            for stream_id, delta in updates:
                await self.send_frame(ControlFrame(FrameType.WINDOW_UPDATE, 0, struct.pack(">II", stream_id, delta)))

    def consumed_without_reading(self, size: int) -> None:
        """Count dropped bytes toward the session window (returned with the next update)."""
        self._unacked += size

    def forget(self, stream: SpdyStream) -> None:
        """Drop a finished stream from the registry."""
        self._streams.pop(stream.id, None)

    # -- receiving ----------------------------------------------------------------------------------------

    async def _serve(self) -> None:
        try:
            while True:
                frame = await read_frame(self._transport)
                if isinstance(frame, DataFrame):
                    await self._on_data(frame)
                else:
                    await self._on_control(frame)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the peer hung up
        except SpdyProtocolError:
            with contextlib.suppress(ConnectionError):
                await self.goaway(GoAwayStatus.PROTOCOL_ERROR)
        finally:
            self._shutdown()

    async def _on_data(self, frame: DataFrame) -> None:
        stream = self._streams.get(frame.stream_id)
        if stream is None or stream.remote_closed:
            # Data for a stream already reset or finished (frames in flight): drop it, keep the session window open.
            self.consumed_without_reading(len(frame.data))
            return
        stream.feed(frame.data, bool(frame.flags & FLAG_FIN))
        await stream.wait_drained()

    async def _on_control(self, frame: ControlFrame) -> None:
        payload = frame.payload
        match frame.type:
            case FrameType.SYN_STREAM:
                await self._on_syn_stream(frame)
            case FrameType.SYN_REPLY | FrameType.HEADERS:
                stream_id = _word(payload, 0)
                self._decompressor.decompress(payload[4:])  # only to keep the shared zlib context in step
                stream = self._streams.get(stream_id)
                if stream is not None and frame.flags & FLAG_FIN:
                    stream.feed(b"", fin=True)
            case FrameType.RST_STREAM:
                stream = self._streams.get(_word(payload, 0))
                if stream is not None:
                    stream.abort()
            case FrameType.SETTINGS:
                self._on_settings(payload)
            case FrameType.PING:
                # Odd ids are the client's pings (ours would be even, and we send none): echo them verbatim.
                if _word(payload, 0) % 2 == 1:
                    await self.send_frame(frame)
            case FrameType.GOAWAY:
                self._goaway_received = True
                self._stop_accepting()
            case FrameType.WINDOW_UPDATE:
                stream_id, delta = _word(payload, 0), _word(payload, 4)
                self._peer_flow_control = True
                if stream_id == 0:
                    self._send_window += delta
                elif (stream := self._streams.get(stream_id)) is not None:
                    stream.send_window += delta
                self.wake_writers()
            case _:
                pass  # SPDY/3.1 says to ignore unknown control frames

    async def _on_syn_stream(self, frame: ControlFrame) -> None:
        if len(frame.payload) < 10:
            raise SpdyProtocolError("short SYN_STREAM")
        stream_id = _word(frame.payload, 0)
        headers = self._decompressor.decompress(frame.payload[10:])  # always: the zlib context must stay in step
        if stream_id == 0:
            raise SpdyProtocolError("SYN_STREAM for stream 0")
        rst_status = None
        if stream_id % 2 == 0 or stream_id <= self._last_stream_id:
            rst_status = RstStatus.PROTOCOL_ERROR  # clients open odd, increasing ids
        elif self._goaway_sent or self._goaway_received:
            rst_status = RstStatus.REFUSED_STREAM
        if rst_status is not None:
            await self.send_frame(ControlFrame(FrameType.RST_STREAM, 0, struct.pack(">II", stream_id, rst_status)))
            return
        self._last_stream_id = stream_id
        stream = SpdyStream(self, stream_id, headers, frame.flags)
        self._streams[stream_id] = stream
        self._incoming.put_nowait(stream)

    def _on_settings(self, payload: bytes) -> None:
        count = _word(payload, 0)
        for i in range(count):
            entry_id, value = _word(payload, 4 + 8 * i) & 0xFFFFFF, _word(payload, 8 + 8 * i)
            if entry_id == SETTINGS_INITIAL_WINDOW_SIZE:
                # The new initial window applies to open streams too, by the difference.
                delta = value - self.peer_initial_window
                self.peer_initial_window = value
                for stream in self._streams.values():
                    stream.send_window += delta
                self._peer_flow_control = True
                self.wake_writers()

    def _stop_accepting(self) -> None:
        if self._accepting:
            self._accepting = False
            self._incoming.put_nowait(None)

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_accepting()
        for stream in list(self._streams.values()):
            stream.abort()
        self.wake_writers()


def _word(payload: bytes, offset: int) -> int:
    """The 31-bit big-endian number at `offset` (the reserved top bit masked off)."""
    if len(payload) < offset + 4:
        raise SpdyProtocolError("truncated control frame")
    return int(struct.unpack_from(">I", payload, offset)[0]) & 0x7FFFFFFF


# -- HTTP upgrade ------------------------------------------------------------------------------------------


def is_spdy_upgrade(request: web.BaseRequest) -> bool:
    """True for an `Upgrade: SPDY/3.1` request."""
    upgrade = request.headers.get("Upgrade", "").lower()
    return "spdy/3.1" in upgrade and "upgrade" in request.headers.get("Connection", "").lower()


def offered_stream_protocols(request: web.BaseRequest) -> list[str]:
    """The `X-Stream-Protocol-Version` values, in the client's order of preference (repeated and/or comma-separated)."""
    return [p.strip() for value in request.headers.getall("X-Stream-Protocol-Version", []) for p in value.split(",")
            if p.strip()]  # fmt: skip


def negotiate(offered: Iterable[str], supported: Iterable[str]) -> str | None:
    """The client's most preferred protocol that the server supports, as apimachinery's `Handshake` chooses."""
    supported_set = set(supported)
    return next((p for p in offered if p in supported_set), None)


class _Feed:
    """Stands in for aiohttp's payload parser (the hook its own WebSocketResponse uses) and feeds our reader."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self._reader.feed_eof()


class _HijackedConnection:
    """The socket under an aiohttp request after a 101 response, as a FrameTransport."""

    def __init__(self, request: web.BaseRequest) -> None:
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("the client went away during the upgrade")
        self._transport = transport
        self._writer = request.writer
        self._reader = asyncio.StreamReader()
        self._reader.set_transport(transport)  # so that reading pauses the socket while we fall behind
        protocol = request.protocol
        protocol.keep_alive(False)
        # aiohttp has no public hijack API; set_parser is how its WebSocketResponse takes the bytes after a 101.
        cast(Any, protocol).set_parser(_Feed(self._reader))

    async def readexactly(self, n: int) -> bytes:
        return await self._reader.readexactly(n)

    async def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        self._transport.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        self._transport.close()


async def accept_spdy(request: web.BaseRequest, protocol: str) -> tuple[web.StreamResponse, SpdySession]:
    """Answer `101 Switching Protocols` for SPDY/3.1 and take the connection over.

    Returns the response (for the handler to return when done) and a session that is not started yet.
    """
    response = web.StreamResponse(
        status=101,
        headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": protocol},
    )
    await response.prepare(request)
    return response, SpdySession(_HijackedConnection(request))
