"""The gRPC probe (`pkg/probe/grpc`): one `grpc.health.v1.Health/Check` RPC over HTTP/2.

Sent as grpc-go sends it: HTTP/2 with prior knowledge and no TLS (the kubelet's insecure credentials),
framed by the `h2` protocol library over the dialed stream, with the protobuf request and response encoded
by hand (grpcio would be tens of MB of compiled code for one RPC, and cannot dial through the runtime
either). Like `pkg/probe/grpc`, it never errors: SERVING is a success, and anything else, the timeout
included, is a failure with grpc.go's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random as random_module
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
)
from h2.exceptions import H2Error

from podrun.kubelet.backoff import format_duration
from podrun.kubelet.probing.outcome import ProbeOutcome
from podrun.kubelet.probing.target import KUBE_VERSION, Dial, close_writer, io_error, join_host_port
from podrun.model.errors import go_quote
from podrun.runtime.protocol import RuntimeError_

log = logging.getLogger(__name__)

GRPC_HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check"


class GRPCCode(enum.IntEnum):
    """grpc-go's `codes.Code`; the members are named as `Code.String()` prints them."""

    OK = 0
    Canceled = 1
    Unknown = 2
    InvalidArgument = 3
    DeadlineExceeded = 4
    NotFound = 5
    AlreadyExists = 6
    PermissionDenied = 7
    ResourceExhausted = 8
    FailedPrecondition = 9
    Aborted = 10
    OutOfRange = 11
    Unimplemented = 12
    Internal = 13
    Unavailable = 14
    DataLoss = 15
    Unauthenticated = 16


# grpc.health.v1.HealthCheckResponse.ServingStatus, by number.
HEALTH_STATUS_NAMES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")
HEALTH_SERVING = 1
# grpc-go defaultClientMaxReceiveMessageSize.
GRPC_MAX_RECEIVE_BYTES = 4 * 1024 * 1024
# grpc-go's connection backoff (backoff.DefaultConfig) and minConnectTimeout, each attempt's own bound.
GRPC_BACKOFF_BASE, GRPC_BACKOFF_MULTIPLIER, GRPC_BACKOFF_JITTER, GRPC_BACKOFF_MAX = 1.0, 1.6, 0.2, 120.0
GRPC_MIN_CONNECT_TIMEOUT = 20.0
# grpc-go HTTPStatusConvTab: the code of a response that is not gRPC; other HTTP statuses give Unknown.
_HTTP_STATUS_CODES: Mapping[int, GRPCCode] = {
    400: GRPCCode.Internal,
    401: GRPCCode.Unauthenticated,
    403: GRPCCode.PermissionDenied,
    404: GRPCCode.Unimplemented,
    429: GRPCCode.Unavailable,
    502: GRPCCode.Unavailable,
    503: GRPCCode.Unavailable,
    504: GRPCCode.Unavailable,
}
# grpc-go http2ErrConvTab: the code of a stream reset by an HTTP/2 error code; others give Unknown.
_RESET_CODES: Mapping[int, GRPCCode] = {
    ErrorCodes.NO_ERROR: GRPCCode.Internal,
    ErrorCodes.PROTOCOL_ERROR: GRPCCode.Internal,
    ErrorCodes.INTERNAL_ERROR: GRPCCode.Internal,
    ErrorCodes.FLOW_CONTROL_ERROR: GRPCCode.ResourceExhausted,
    ErrorCodes.SETTINGS_TIMEOUT: GRPCCode.Internal,
    ErrorCodes.STREAM_CLOSED: GRPCCode.Internal,
    ErrorCodes.FRAME_SIZE_ERROR: GRPCCode.Internal,
    ErrorCodes.REFUSED_STREAM: GRPCCode.Unavailable,
    ErrorCodes.CANCEL: GRPCCode.Canceled,
    ErrorCodes.COMPRESSION_ERROR: GRPCCode.Internal,
    ErrorCodes.CONNECT_ERROR: GRPCCode.Internal,
    ErrorCodes.ENHANCE_YOUR_CALM: GRPCCode.ResourceExhausted,
    ErrorCodes.INADEQUATE_SECURITY: GRPCCode.PermissionDenied,
    ErrorCodes.HTTP_1_1_REQUIRED: GRPCCode.Internal,
}


class GRPCError(Exception):
    """An RPC that ended with a status other than OK, worded as grpc-go's `status.Error`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"rpc error: code = {grpc_code_name(code)} desc = {message}")
        self.code = code
        self.message = message


def grpc_code_name(code: int) -> str:
    """`codes.Code.String()`: `NotFound`, or `Code(42)` for a number it does not know."""
    try:
        return GRPCCode(code).name
    except ValueError:
        return f"Code({code})"


def health_status_name(status: int) -> str:
    """The protobuf enum's `String()`: `NOT_SERVING`, or the number for one the enum does not define."""
    return HEALTH_STATUS_NAMES[status] if 0 <= status < len(HEALTH_STATUS_NAMES) else str(status)


def health_check_request(service: str) -> bytes:
    """A `HealthCheckRequest` in a gRPC message frame: flag 0 (uncompressed), 4-byte length, protobuf.

    The protobuf has one field, 1 `service` (a string: tag 0x0a, varint length, UTF-8), left out when empty
    as proto3 leaves out every default value.
    """
    encoded = service.encode()
    message = b"\x0a" + _varint(len(encoded)) + encoded if encoded else b""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def parse_health_check_response(message: bytes) -> int:
    """The `status` of a `HealthCheckResponse` protobuf; ValueError when the bytes are no valid protobuf.

    Field 1 (varint) is the status, 0 when absent; the last occurrence wins and other fields are skipped,
    as Go's proto.Unmarshal does. The enum is an int32, so a varint is truncated to 32 signed bits.
    """
    status, offset = 0, 0
    while offset < len(message):
        key, offset = _read_varint(message, offset)
        field_number, wire_type = key >> 3, key & 7
        if field_number == 0:
            raise ValueError("invalid field number")
        if wire_type == 0:
            value, offset = _read_varint(message, offset)
            if field_number == 1:
                status = (value + 2**31) % 2**32 - 2**31
        elif wire_type in (1, 5):
            offset += 8 if wire_type == 1 else 4
        elif wire_type == 2:
            length, offset = _read_varint(message, offset)
            offset += length
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        if offset > len(message):
            raise ValueError("truncated field")
    return status


def encode_grpc_timeout(seconds: float) -> str:
    """grpcutil.EncodeDuration: the `grpc-timeout` header, at most 8 digits in the finest unit that fits."""
    nanos = round(seconds * 1e9)
    if nanos <= 0:
        return "0n"
    for unit, size in (("n", 1), ("u", 10**3), ("m", 10**6), ("S", 10**9), ("M", 60 * 10**9)):
        value = -(-nanos // size)  # rounded up, as grpc-go's div
        if value < 10**8:
            return f"{value}{unit}"
    return f"{-(-nanos // (3600 * 10**9))}H"


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while offset < len(data) and shift < 64:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & (2**64 - 1), offset
        shift += 7
    raise ValueError("truncated or overlong varint")


class _H2Channel:
    """One HTTP/2 connection (prior knowledge, no TLS: grpc-go's insecure credentials) over a dialed stream.

    `h2` keeps the protocol state; this class moves its bytes: what `h2` queues (the preface, SETTINGS
    and PING acknowledgements, window updates) is written after every step.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = H2Connection(H2Configuration(client_side=True, header_encoding=None))

    @classmethod
    async def open(cls, dial: Dial, host: str, port: int) -> _H2Channel:
        """Connect, send the client preface, and wait for the server's SETTINGS.

        grpc-go's transport is ready only once the server preface arrived: a server that does not
        speak HTTP/2 fails here, before any RPC.
        """
        reader, writer = await dial(host, port)
        channel = cls(reader, writer)
        try:
            channel.conn.initiate_connection()
            await channel.flush()
            while not any(isinstance(event, RemoteSettingsChanged) for event in await channel.receive()):
                pass
        except BaseException:
            channel.close(abort=True)
            raise
        return channel

    async def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())
        await self.writer.drain()

    async def receive(self) -> list[Event]:
        """The events of the next bytes read; EOFError when the server closed the connection."""
        data = await self.reader.read(65536)
        if not data:
            raise EOFError("EOF")
        events = self.conn.receive_data(data)
        await self.flush()
        return events

    def close(self, *, abort: bool = False) -> None:
        """Say goodbye (GOAWAY, as grpc-go's `Close`) and close; `abort` drops the connection at once."""
        if not abort:
            self.conn.close_connection()
            self.writer.write(self.conn.data_to_send())
        close_writer(self.writer, abort=abort)


async def _grpc_dial(dial: Dial, host: str, port: int) -> _H2Channel:
    """grpc.DialContext with WithBlock: connect, and after a failure retry with grpc-go's backoff.

    Only the caller's deadline ends the retries, so every connection error ends as that timeout.
    """
    attempt = 0
    while True:
        # backoff.Exponential: the base delay first, then multiplied per retry, with ±20% jitter.
        delay = GRPC_BACKOFF_BASE
        if attempt:
            delay = min(GRPC_BACKOFF_BASE * GRPC_BACKOFF_MULTIPLIER**attempt, GRPC_BACKOFF_MAX)
            delay *= 1 + GRPC_BACKOFF_JITTER * random_module.uniform(-1, 1)
        try:
            async with asyncio.timeout(max(GRPC_MIN_CONNECT_TIMEOUT, delay)):
                return await _H2Channel.open(dial, host, port)
        except (OSError, EOFError, RuntimeError_, H2Error) as exc:  # OSError includes the attempt's timeout
            log.debug("grpc probe: failed to connect to %s: %r", join_host_port(host, port), exc)
        await asyncio.sleep(delay)
        attempt += 1


@dataclass
class _Call:
    """What has arrived of one RPC's response stream, its messages read as grpc-go's unary `RecvMsg` does."""

    stream_id: int
    headers: dict[str, str] | None = None
    trailers: dict[str, str] | None = None
    data: bytearray = field(default_factory=bytearray)  # message bytes received and not read yet
    response: int | None = None  # the HealthCheckResponse's status, once its message was read
    ended: bool = False

    def read_messages(self) -> None:
        """Read each message as soon as it is complete: the response, then any other as a violation.

        A length over the limit fails as soon as its header arrives, so at most one message is buffered.
        """
        while len(self.data) >= 5:
            flag, size = self.data[0], int.from_bytes(self.data[1:5], "big")
            if size > GRPC_MAX_RECEIVE_BYTES:
                raise GRPCError(
                    GRPCCode.ResourceExhausted,
                    f"grpc: received message larger than max ({size} vs. {GRPC_MAX_RECEIVE_BYTES})",
                )
            if len(self.data) < 5 + size:
                return
            if self.response is not None:
                raise GRPCError(
                    GRPCCode.Internal,
                    "cardinality violation: expected <EOF> for non server-streaming RPCs, but received another message",
                )
            payload = bytes(self.data[5 : 5 + size])
            del self.data[: 5 + size]
            self.response = _read_response(flag, payload, (self.headers or {}).get("grpc-encoding", ""))

    def outcome(self) -> int:
        """Once the stream ended: the response's status, or GRPCError with the RPC's status."""
        if self.data:
            raise GRPCError(GRPCCode.Internal, "unexpected EOF")  # a message cut short (io.ErrUnexpectedEOF)
        if self.trailers is None:
            raise GRPCError(GRPCCode.Internal, "server closed the stream without sending trailers")
        code, message = _grpc_status(self.trailers)
        if code:
            raise GRPCError(code, message)
        if self.response is None:
            raise GRPCError(
                GRPCCode.Internal, "cardinality violation: received no response message from non-server-streaming RPC"
            )
        return self.response


def _read_response(flag: int, payload: bytes, encoding: str) -> int:
    """The status in one response message; GRPCError for what grpc-go's `recvAndDecompress` rejects."""
    # checkRecvPayload: the kubelet's client has no decompressor, so only uncompressed messages are read.
    if flag == 1:
        if encoding in ("", "identity"):
            raise GRPCError(GRPCCode.Internal, "grpc: compressed flag set with identity or empty encoding")
        raise GRPCError(
            GRPCCode.Unimplemented, f"grpc: Decompressor is not installed for grpc-encoding {go_quote(encoding)}"
        )
    if flag != 0:
        raise GRPCError(GRPCCode.Internal, f"grpc: received unexpected payload format {flag}")
    try:
        return parse_health_check_response(payload)
    except ValueError:
        raise GRPCError(
            GRPCCode.Internal,
            "grpc: failed to unmarshal the received message: proto: cannot parse invalid wire-format data",
        ) from None


async def _health_check(channel: _H2Channel, authority: str, service: str, deadline: float) -> int:
    """`Health.Check` on `channel`: the response's status, or GRPCError for a status other than OK."""
    conn = channel.conn
    call = _Call(conn.get_next_available_stream_id())
    # createHeaderFields: pseudo-headers, content-type, user-agent, te, then the deadline as grpc-timeout.
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", GRPC_HEALTH_CHECK_PATH),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("user-agent", f"kube-probe/{KUBE_VERSION}"),
        ("te", "trailers"),
        ("grpc-timeout", encode_grpc_timeout(deadline - asyncio.get_running_loop().time())),
    ]
    with _transport_errors():
        conn.send_headers(call.stream_id, headers)
    pending: bytes | None = health_check_request(service)
    while True:
        with _transport_errors():
            if pending is not None:
                pending = _send_some(conn, call.stream_id, pending)
            await channel.flush()
            events = await channel.receive()
        for event in events:
            _on_event(conn, call, event)
            if call.ended:
                return call.outcome()


@contextlib.contextmanager
def _transport_errors() -> Iterator[None]:
    """A broken or misbehaving connection fails the RPC: grpc-go closes the transport and its streams."""
    try:
        yield
    except EOFError:
        raise GRPCError(GRPCCode.Unavailable, "error reading from server: EOF") from None
    except (OSError, H2Error) as exc:
        raise GRPCError(GRPCCode.Unavailable, f"error reading from server: {io_error(exc)}") from None


def _send_some(conn: H2Connection, stream_id: int, data: bytes) -> bytes | None:
    """Queue as much of the request body as the flow-control window allows; None once all of it is sent."""
    while True:
        size = min(len(data), conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
        if size == len(data):
            conn.send_data(stream_id, data, end_stream=True)
            return None
        if not size:
            return data  # the rest once a WINDOW_UPDATE arrives
        conn.send_data(stream_id, data[:size])
        data = data[size:]


def _on_event(conn: H2Connection, call: _Call, event: Event) -> None:
    if isinstance(event, ConnectionTerminated):
        # A GOAWAY before the response ended: h2 accepts no frame after it, so the RPC fails as grpc-go
        # fails the streams a GOAWAY cuts off (errStreamDrain).
        raise GRPCError(GRPCCode.Unavailable, "the connection is draining")
    if getattr(event, "stream_id", call.stream_id) != call.stream_id:
        return
    if isinstance(event, StreamReset):
        code = _RESET_CODES.get(event.error_code, GRPCCode.Unknown)
        error_code = event.error_code
        # http2.ErrCode.String: the code's name, or "unknown error code 0x…".
        name = error_code.name if isinstance(error_code, ErrorCodes) else f"unknown error code {error_code:#x}"
        raise GRPCError(code, f"stream terminated by RST_STREAM with error code: {name}")
    if isinstance(event, ResponseReceived):
        call.headers = _header_map(event.headers)
        _check_response_headers(call.headers)
        if event.stream_ended is not None:
            call.trailers = call.headers  # a Trailers-Only response: the status came with the headers
    elif isinstance(event, TrailersReceived):
        call.trailers = _header_map(event.headers)
    elif isinstance(event, DataReceived):
        call.data += event.data
        conn.acknowledge_received_data(event.flow_controlled_length, call.stream_id)
        call.read_messages()
    elif isinstance(event, StreamEnded):
        call.ended = True


def _header_map(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("utf-8", "replace") for name, value in headers}


def _check_response_headers(headers: Mapping[str, str]) -> None:
    """operateHeaders: a response that is not gRPC (status other than 200, or another content-type) fails.

    The code follows the HTTP status; the message joins what was wrong with both.
    """
    status = int(headers.get(":status", "0"))
    content_type = headers.get("content-type")
    problems = []
    if status != 200:
        try:
            phrase = HTTPStatus(status).phrase  # http.StatusText
        except ValueError:
            phrase = ""
        problems.append(f"unexpected HTTP status code received from server: {status} ({phrase})")
    # grpcutil.ContentSubtype: application/grpc, or it followed by "+" or ";" and a subtype.
    if content_type is None:
        problems.append("malformed header: missing HTTP content-type")
    elif content_type != "application/grpc" and not content_type.startswith(("application/grpc+", "application/grpc;")):
        problems.append(f"transport: received unexpected content-type {go_quote(content_type)}")
    if problems:
        raise GRPCError(_HTTP_STATUS_CODES.get(status, GRPCCode.Unknown), "; ".join(problems))


def _grpc_status(headers: Mapping[str, str]) -> tuple[int, str]:
    """`grpc-status` (Unknown when absent) and the percent-decoded `grpc-message` of the trailers."""
    message = urllib.parse.unquote(headers.get("grpc-message", ""))
    raw = headers.get("grpc-status")
    if raw is None:
        return GRPCCode.Unknown, message
    # strconv.ParseInt(value, 10, 32); a malformed status is itself an Internal error.
    if not re.fullmatch(r"[+-]?[0-9]+", raw):
        cause = f"strconv.ParseInt: parsing {go_quote(raw)}: invalid syntax"
    elif not -(2**31) <= int(raw) < 2**31:
        cause = f"strconv.ParseInt: parsing {go_quote(raw)}: value out of range"
    else:
        return int(raw) % 2**32, message  # codes.Code is a uint32
    return GRPCCode.Internal, f"transport: malformed grpc-status: {cause}"


async def grpc_probe(dial: Dial, host: str, port: int, service: str, timeout: float) -> ProbeOutcome:
    """pkg/probe/grpc Probe: Health/Check of `service` at host:port.

    Every outcome is a result with an output, never an error (err is always nil). One deadline
    (context.WithTimeout) bounds both the blocking dial and the Check RPC.
    """
    address = join_host_port(host, port)
    within = format_duration(timeout)
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            channel = await _grpc_dial(dial, host, port)
    except TimeoutError:
        # grpc.DialContext with WithBlock retries until the deadline and then returns
        # context.DeadlineExceeded, whatever the last connection error was (refused, not HTTP/2, ...).
        return ProbeOutcome(
            "failure",
            f"timeout: failed to connect service {go_quote(address)} within {within}: context deadline exceeded",
        )
    try:
        async with asyncio.timeout_at(deadline):
            status = await _health_check(channel, address, service, deadline)
    except TimeoutError:
        channel.close(abort=True)
        return ProbeOutcome("failure", f"timeout: health rpc did not complete within {within}")
    except GRPCError as exc:
        channel.close(abort=True)
        if exc.code == GRPCCode.Unimplemented:
            return ProbeOutcome(
                "failure",
                "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "
                + exc.message,
            )
        if exc.code == GRPCCode.DeadlineExceeded:
            return ProbeOutcome("failure", f"timeout: health rpc did not complete within {within}")
        return ProbeOutcome("failure", f"error: health rpc probe failed: {exc}")
    except BaseException:
        channel.close(abort=True)
        raise
    channel.close()
    if status != HEALTH_SERVING:
        return ProbeOutcome("failure", f"service unhealthy (responded with {go_quote(health_status_name(status))})")
    return ProbeOutcome("success", "service healthy")
