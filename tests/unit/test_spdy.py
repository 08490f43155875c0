"""SPDY/3.1: framing, header compression against an independent zlib peer, and the session's behaviour.

The peer here is written against the spec with plain `zlib`, not with the module's own codec classes, so that
both directions' compression contexts are checked by something that does not share their code.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import zlib
from collections.abc import AsyncIterator, Callable, Iterable

import pytest
from aiohttp import web

from podrun.api.streams import spdy
from podrun.api.streams.spdy import (
    DICTIONARY,
    FLAG_FIN,
    MAX_CHUNK,
    STREAM_HIGH_WATER,
    ControlFrame,
    DataFrame,
    FrameType,
    GoAwayStatus,
    HeaderCompressor,
    HeaderDecompressor,
    RstStatus,
    SpdySession,
    SpdyStream,
    StreamClosedError,
)

QUIET = 0.1  # how long "nothing arrives" is watched for where the session cannot answer a PING


def test_dictionary_is_the_spdy3_dictionary() -> None:
    # Values from moby/spdystream's spdy/dictionary.go.
    assert len(DICTIONARY) == 1423
    assert hashlib.sha256(DICTIONARY).hexdigest() == "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"
    assert zlib.adler32(DICTIONARY) == 3821447106


# -- framing -----------------------------------------------------------------------------------------------


def reader_of(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


@pytest.mark.parametrize(
    "frame",
    [
        ControlFrame(FrameType.PING, 0, struct.pack(">I", 7)),
        ControlFrame(FrameType.SYN_STREAM, FLAG_FIN, b"\x00\x00\x00\x01" + bytes(200)),
        ControlFrame(FrameType.GOAWAY, 0, struct.pack(">II", 5, GoAwayStatus.PROTOCOL_ERROR)),
        DataFrame(3, 0, b"hello"),
        DataFrame(0x7FFFFFFF, FLAG_FIN, b""),
        DataFrame(9, FLAG_FIN, bytes(range(256)) * 300),
    ],
)
async def test_frames_round_trip(frame: spdy.Frame) -> None:
    assert await spdy.read_frame(reader_of(spdy.encode_frame(frame))) == frame


def test_frame_wire_layout() -> None:
    assert (
        spdy.encode_frame(ControlFrame(FrameType.PING, 0, b"\x00\x00\x00\x01")).hex() == "8003000600000004" + "00000001"
    )
    assert spdy.encode_frame(DataFrame(5, FLAG_FIN, b"ab")).hex() == "00000005" + "01000002" + "6162"


async def test_a_frame_of_another_version_is_a_protocol_error() -> None:
    with pytest.raises(spdy.SpdyProtocolError):
        await spdy.read_frame(reader_of(struct.pack(">HHI", 0x8002, FrameType.PING, 4) + bytes(4)))


async def test_a_truncated_frame_is_the_end_of_the_connection() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        await spdy.read_frame(reader_of(spdy.encode_frame(DataFrame(1, 0, b"hello"))[:-1]))


def test_header_block_layout_and_round_trip() -> None:
    block = spdy.encode_header_block([("StreamType", "data"), ("port", "80"), ("X-Multi", "a"), ("x-multi", "b")])
    assert block[:4] == struct.pack(">I", 3)
    assert b"\x00\x00\x00\x0astreamtype\x00\x00\x00\x04data" in block
    assert b"x-multi\x00\x00\x00\x03a\x00b" in block
    headers = spdy.decode_header_block(block)
    assert headers["STREAMTYPE"] == "data"
    assert headers.getall("x-multi") == ["a", "b"]


def test_a_truncated_header_block_is_a_protocol_error() -> None:
    with pytest.raises(spdy.SpdyProtocolError):
        spdy.decode_header_block(spdy.encode_header_block([("port", "80")])[:-1])


def peer_compressor() -> zlib._Compress:
    return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY)


def test_decompression_follows_a_zlib_peers_shared_context() -> None:
    peer, ours = peer_compressor(), HeaderDecompressor()
    blocks = [[("streamtype", "error"), ("port", "80"), ("requestid", str(i))] for i in range(5)]
    for headers in blocks:
        # Later blocks refer back into earlier ones: only a decompressor that saw them all in order decodes them.
        compressed = peer.compress(spdy.encode_header_block(headers)) + peer.flush(zlib.Z_SYNC_FLUSH)
        assert list(ours.decompress(compressed).items()) == headers


def test_compression_is_readable_by_a_zlib_peer_block_by_block() -> None:
    ours, peer = HeaderCompressor(), zlib.decompressobj(zdict=DICTIONARY)
    for i in range(5):
        headers = [("status", "200"), ("x-request", str(i))]
        compressed = ours.compress(headers)
        assert compressed.endswith(b"\x00\x00\xff\xff")  # a sync flush: each block is complete within its frame
        assert peer.decompress(compressed) == spdy.encode_header_block(headers)


def test_garbage_compression_is_a_protocol_error() -> None:
    with pytest.raises(spdy.SpdyProtocolError):
        HeaderDecompressor().decompress(b"\x00not zlib at all")


# -- session -----------------------------------------------------------------------------------------------


class Peer:
    """The client end of an in-memory connection to a SpdySession: frames in, frames out, plain zlib."""

    def __init__(self, sink: Callable[[bytes], object] | None = None) -> None:
        self.to_session = asyncio.StreamReader()
        self._sink = sink or self.to_session.feed_data
        self.from_session = asyncio.StreamReader()
        self.closed = False
        self._compress = peer_compressor()
        self._decompress = zlib.decompressobj(zdict=DICTIONARY)
        self._ping_id = 1001

    # the FrameTransport the session uses
    async def readexactly(self, n: int) -> bytes:
        return await self.to_session.readexactly(n)

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("closed")
        self.from_session.feed_data(data)

    async def close(self) -> None:
        self.closed = True
        self.from_session.feed_eof()

    # the client's side
    def send(self, frame: spdy.Frame) -> None:
        self._sink(spdy.encode_frame(frame))

    def syn_stream(self, stream_id: int, headers: Iterable[tuple[str, str]], flags: int = 0) -> None:
        block = self._compress.compress(spdy.encode_header_block(headers)) + self._compress.flush(zlib.Z_SYNC_FLUSH)
        self.send(ControlFrame(FrameType.SYN_STREAM, flags, struct.pack(">IIBB", stream_id, 0, 0, 0) + block))

    def control(self, frame_type: int, *words: int) -> None:
        self.send(ControlFrame(frame_type, 0, struct.pack(f">{len(words)}I", *words)))

    def settings(self, entries: dict[int, int]) -> None:
        payload = struct.pack(">I", len(entries)) + b"".join(struct.pack(">II", k, v) for k, v in entries.items())
        self.send(ControlFrame(FrameType.SETTINGS, 0, payload))

    async def receive(self, timeout: float = 2.0) -> spdy.Frame:
        return await asyncio.wait_for(spdy.read_frame(self.from_session), timeout)

    async def round_trip(self) -> list[spdy.Frame]:
        """Send a PING and wait for its echo, so the session has handled everything sent before it; return the
        frames that came before the echo."""
        self._ping_id += 2  # odd: the client's
        echo = ControlFrame(FrameType.PING, 0, struct.pack(">I", self._ping_id))
        self.send(echo)
        before: list[spdy.Frame] = []
        while (frame := await self.receive()) != echo:
            before.append(frame)
        return before

    async def assert_quiet(self) -> None:
        """Nothing arrives before the echo of a PING sent now."""
        assert await self.round_trip() == []

    async def assert_nothing_within(self, seconds: float) -> None:
        """Nothing arrives for `seconds`: only for a session that cannot answer a PING (its reading stopped)."""
        with pytest.raises(TimeoutError):
            await self.receive(seconds)

    def reply_headers(self, frame: spdy.Frame) -> list[tuple[str, str]]:
        assert isinstance(frame, ControlFrame) and frame.type == FrameType.SYN_REPLY
        return list(spdy.decode_header_block(self._decompress.decompress(frame.payload[4:])).items())

    async def data_until(self, stream_id: int, size: int) -> bytes:
        """DATA payload of `stream_id` until `size` bytes came, skipping WINDOW_UPDATEs."""
        data = b""
        while len(data) < size:
            frame = await self.receive()
            if isinstance(frame, DataFrame):
                assert frame.stream_id == stream_id and len(frame.data) <= MAX_CHUNK
                data += frame.data
        return data


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    yield Peer()


@pytest.fixture
async def session(peer: Peer) -> AsyncIterator[SpdySession]:
    async with SpdySession(peer) as s:
        yield s


async def open_stream(peer: Peer, session: SpdySession, stream_id: int, **headers: str) -> SpdyStream:
    peer.syn_stream(stream_id, headers.items())
    stream = await asyncio.wait_for(session.accept(), 2)
    assert stream is not None and stream.id == stream_id
    await stream.reply()
    assert peer.reply_headers(await peer.receive()) == []
    return stream


async def test_streams_are_accepted_with_their_headers(peer: Peer, session: SpdySession) -> None:
    first = await open_stream(peer, session, 1, streamtype="error", port="80", requestid="0")
    second = await open_stream(peer, session, 3, streamtype="data", port="80", requestid="0")
    assert dict(first.headers) == {"streamtype": "error", "port": "80", "requestid": "0"}
    assert second.headers["StreamType"] == "data"


async def test_data_both_ways_and_half_close(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 1)
    peer.send(DataFrame(1, 0, b"hel"))
    peer.send(DataFrame(1, FLAG_FIN, b"lo"))
    assert [chunk async for chunk in stream] in ([b"hello"], [b"hel", b"lo"])
    assert stream.remote_closed and not stream.is_reset

    payload = bytes(range(256)) * 1000  # several DATA frames; no flow control from this peer, so no waiting
    await asyncio.wait_for(stream.write(payload), 2)
    assert await peer.data_until(1, len(payload)) == payload
    await stream.close()
    assert await peer.receive() == DataFrame(1, FLAG_FIN, b"")
    await asyncio.wait_for(stream.wait_closed(), 2)
    with pytest.raises(StreamClosedError):
        await stream.write(b"more")


async def test_read_with_a_limit_keeps_the_rest(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 1)
    peer.send(DataFrame(1, FLAG_FIN, b"abcdef"))
    assert await stream.read(4) == b"abcd"
    assert await stream.read() == b"ef"
    assert await stream.read() == b""


async def test_pings_from_the_client_are_echoed(peer: Peer, session: SpdySession) -> None:
    peer.control(FrameType.PING, 2)  # even: a reply to a ping of ours, which we never sent
    peer.control(FrameType.PING, 5)
    assert await peer.receive() == ControlFrame(FrameType.PING, 0, struct.pack(">I", 5))
    await peer.assert_quiet()


async def test_a_reset_from_the_client_ends_the_stream(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 1)
    peer.send(DataFrame(1, 0, b"dropped"))
    peer.control(FrameType.RST_STREAM, 1, RstStatus.CANCEL)
    await asyncio.wait_for(stream.wait_closed(), 2)
    assert stream.is_reset
    assert await stream.read() == b""
    with pytest.raises(StreamClosedError):
        await stream.write(b"x")


async def test_reset_sends_rst_stream(peer: Peer, session: SpdySession) -> None:
    peer.syn_stream(1, [("streamtype", "bogus")])
    stream = await session.accept()
    assert stream is not None
    await stream.reset(RstStatus.REFUSED_STREAM)
    assert await peer.receive() == ControlFrame(
        FrameType.RST_STREAM, 0, struct.pack(">II", 1, RstStatus.REFUSED_STREAM)
    )
    assert stream.is_reset


async def test_bad_stream_ids_are_refused_and_headers_stay_in_step(peer: Peer, session: SpdySession) -> None:
    await open_stream(peer, session, 5)
    peer.syn_stream(4, [("a", "1")])  # even: server-initiated ids are not the client's to use
    peer.syn_stream(3, [("a", "2")])  # not increasing
    for stream_id in (4, 3):
        assert await peer.receive() == ControlFrame(
            FrameType.RST_STREAM, 0, struct.pack(">II", stream_id, RstStatus.PROTOCOL_ERROR)
        )
    # The refused blocks still went through the shared zlib context: the next one decodes.
    stream = await open_stream(peer, session, 7, a="3")
    assert stream.headers["a"] == "3"


async def test_goaway_from_the_client_ends_accepting(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 1)
    peer.control(FrameType.GOAWAY, 1, GoAwayStatus.OK)
    assert await asyncio.wait_for(session.accept(), 2) is None
    peer.syn_stream(3, [])
    assert await peer.receive() == ControlFrame(
        FrameType.RST_STREAM, 0, struct.pack(">II", 3, RstStatus.REFUSED_STREAM)
    )
    peer.send(DataFrame(1, FLAG_FIN, b"still flows"))  # open streams go on after GOAWAY
    assert await stream.read() == b"still flows"


async def test_close_sends_goaway_and_closes_the_connection(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 3)
    await session.close()
    assert await peer.receive() == ControlFrame(FrameType.GOAWAY, 0, struct.pack(">II", 3, GoAwayStatus.OK))
    assert peer.closed and session.closed and stream.is_reset
    assert await session.accept() is None


async def test_close_lingers_until_the_client_hangs_up(peer: Peer, session: SpdySession) -> None:
    closing = asyncio.create_task(session.close(linger=5))
    assert await peer.receive() == ControlFrame(FrameType.GOAWAY, 0, struct.pack(">II", 0, GoAwayStatus.OK))
    await peer.assert_quiet()  # still reading, still open
    assert not closing.done() and not peer.closed
    peer.to_session.feed_eof()
    await asyncio.wait_for(closing, 2)
    assert peer.closed


async def test_the_clients_eof_ends_the_session(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 1)
    writer = asyncio.create_task(stream.read())
    peer.to_session.feed_eof()
    await asyncio.wait_for(session.wait_closed(), 2)
    assert session.closed and await writer == b"" and stream.is_reset
    assert await session.accept() is None


async def test_a_protocol_error_ends_the_session_with_goaway(peer: Peer, session: SpdySession) -> None:
    peer.send(ControlFrame(FrameType.SYN_STREAM, 0, struct.pack(">IIBB", 1, 0, 0, 0) + b"not zlib"))
    assert await peer.receive() == ControlFrame(FrameType.GOAWAY, 0, struct.pack(">II", 0, GoAwayStatus.PROTOCOL_ERROR))
    await asyncio.wait_for(session.wait_closed(), 2)


# -- flow control ------------------------------------------------------------------------------------------


async def test_window_is_returned_as_the_application_reads(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 1)
    for _ in range(4):
        peer.send(DataFrame(1, 0, bytes(10_000)))
    await peer.assert_quiet()  # nothing consumed yet, nothing returned
    received = 0
    while received < 40_000:
        received += len(await stream.read())
    updates = {}
    for _ in range(2):
        frame = await peer.receive()
        assert isinstance(frame, ControlFrame) and frame.type == FrameType.WINDOW_UPDATE
        stream_id, delta = struct.unpack(">II", frame.payload)
        updates[stream_id] = delta
    assert updates == {1: 40_000, 0: 40_000}


async def test_writes_wait_for_window_once_the_client_does_flow_control(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 1)
    peer.settings({spdy.SETTINGS_INITIAL_WINDOW_SIZE: 1000})
    await peer.assert_quiet()  # the session has applied it
    writing = asyncio.create_task(stream.write(bytes(5000)))
    assert await peer.data_until(1, 1000) == bytes(1000)
    await peer.assert_quiet()
    assert not writing.done()
    peer.control(FrameType.WINDOW_UPDATE, 1, 4000)
    assert await peer.data_until(1, 4000) == bytes(4000)
    await asyncio.wait_for(writing, 2)


async def test_the_session_window_limits_all_streams(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 1)
    peer.control(FrameType.WINDOW_UPDATE, 1, 1 << 20)  # a large stream window: the session window binds
    await peer.assert_quiet()
    writing = asyncio.create_task(stream.write(bytes(70_000)))
    assert len(await peer.data_until(1, spdy.DEFAULT_WINDOW)) == spdy.DEFAULT_WINDOW
    await peer.assert_quiet()
    peer.control(FrameType.WINDOW_UPDATE, 0, 10_000)
    assert len(await peer.data_until(1, 70_000 - spdy.DEFAULT_WINDOW)) == 70_000 - spdy.DEFAULT_WINDOW
    await asyncio.wait_for(writing, 2)


async def test_a_reset_wakes_a_writer_waiting_for_window(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 1)
    peer.settings({spdy.SETTINGS_INITIAL_WINDOW_SIZE: 0})
    await peer.assert_quiet()
    writing = asyncio.create_task(stream.write(b"x"))
    await peer.assert_quiet()  # the writer has run meanwhile and waits for window
    assert not writing.done()
    peer.control(FrameType.RST_STREAM, 1, RstStatus.CANCEL)
    with pytest.raises(StreamClosedError):
        await asyncio.wait_for(writing, 2)


async def test_a_stream_far_behind_stops_the_session_reading(peer: Peer, session: SpdySession) -> None:
    stream = await open_stream(peer, session, 1)
    chunk = bytes(64 * 1024)
    for _ in range(STREAM_HIGH_WATER // len(chunk) + 1):
        peer.send(DataFrame(1, 0, chunk))
    peer.control(FrameType.PING, 1)
    await peer.assert_nothing_within(QUIET)  # the PING waits behind the unread data
    await stream.read()
    frames = [await peer.receive() for _ in range(3)]  # two WINDOW_UPDATEs and the PING, in some order
    assert ControlFrame(FrameType.PING, 0, struct.pack(">I", 1)) in frames


# -- the HTTP upgrade --------------------------------------------------------------------------------------


async def test_upgrade_takes_over_an_aiohttp_connection() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        assert spdy.is_spdy_upgrade(request)
        offered = spdy.offered_stream_protocols(request)
        assert offered == ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]
        response, session = await spdy.accept_spdy(request, spdy.negotiate(offered, ["v4.channel.k8s.io"]) or "")
        async with session:
            stream = await session.accept()
            assert stream is not None
            await stream.reply()
            await stream.write(b"echo:" + await stream.read())
            await stream.close()
            await session.close(linger=5)
        return response

    app = web.Application()
    app.router.add_post("/exec", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", runner.addresses[0][1])
        writer.write(
            b"POST /exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            b"X-Stream-Protocol-Version: v5.channel.k8s.io\r\n"
            b"X-Stream-Protocol-Version: v4.channel.k8s.io, channel.k8s.io\r\nContent-Length: 0\r\n\r\n"
        )
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)).decode().lower()
        assert head.startswith("http/1.1 101")
        for header in ("connection: upgrade", "upgrade: spdy/3.1", "x-stream-protocol-version: v4.channel.k8s.io"):
            assert header in head
        peer = Peer(sink=writer.write)
        peer.syn_stream(1, [("streamtype", "stdout")])
        peer.send(DataFrame(1, FLAG_FIN, b"hi"))

        frames = [await asyncio.wait_for(spdy.read_frame(reader), 2) for _ in range(4)]
        assert peer.reply_headers(frames[0]) == []
        assert frames[1:] == [
            DataFrame(1, 0, b"echo:hi"),
            DataFrame(1, FLAG_FIN, b""),
            ControlFrame(FrameType.GOAWAY, 0, struct.pack(">II", 1, GoAwayStatus.OK)),
        ]
        writer.close()  # lets the lingering close finish
    finally:
        await runner.cleanup()


def test_negotiation_takes_the_clients_first_supported_protocol() -> None:
    assert spdy.negotiate(["v5.channel.k8s.io", "v4.channel.k8s.io"], ["v4.channel.k8s.io"]) == "v4.channel.k8s.io"
    assert spdy.negotiate(["channel.k8s.io"], ["v4.channel.k8s.io"]) is None
