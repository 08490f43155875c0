"""Probe handlers (exec, httpGet, tcpSocket, gRPC) against a scripted runtime and real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import DataReceived, RequestReceived, StreamEnded

from podrun.kubelet.probing.grpc import encode_grpc_timeout, health_check_request, parse_health_check_response
from podrun.kubelet.probing.manager import runtime_runner
from podrun.kubelet.probing.outcome import MAX_OUTPUT_BYTES, ProbeOutcome
from podrun.kubelet.probing.prober import probe_with_retries, run_probe, static_env
from podrun.kubelet.probing.worker import TargetStatus
from podrun.runtime.protocol import ExecResult, Runtime, RuntimeError_

SUCCESS = ProbeOutcome("success", "ok")
FAILURE = ProbeOutcome("failure", "boom")


# --- handlers ---------------------------------------------------------------------------------------------


@dataclass
class FakeRuntime:
    """The two verbs probes use: exec_sync (scripted) and dial (to 127.0.0.1 on this host)."""

    exec_result: ExecResult | Exception = field(default_factory=lambda: ExecResult(0, b"", b""))
    execs: list[tuple[str, list[str], float | None]] = field(default_factory=list)
    dials: list[tuple[str, int, str]] = field(default_factory=list)

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float | None) -> ExecResult:
        self.execs.append((container_id, cmd, timeout))
        if isinstance(self.exec_result, Exception):
            raise self.exec_result
        return self.exec_result

    async def dial(self, sandbox_id: str, port: int, host: str = "127.0.0.1") -> tuple[object, object]:
        self.dials.append((sandbox_id, port, host))
        return await asyncio.open_connection("127.0.0.1", port)


async def probe(runtime: FakeRuntime, spec: dict[str, Any], **kwargs: Any) -> ProbeOutcome:
    kwargs.setdefault("container_env", {})
    kwargs.setdefault("timeout", 1.0)
    return await run_probe(
        spec,
        runtime=cast(Runtime, runtime),
        container_id="c1",
        sandbox_id="s1",
        **kwargs,
    )


async def test_exec_success_and_failure_carry_stdout_then_stderr() -> None:
    runtime = FakeRuntime(ExecResult(0, b"out ", b"err"))
    assert await probe(runtime, {"exec": {"command": ["check"]}}) == ProbeOutcome("success", "out err")
    runtime.exec_result = ExecResult(2, b"x" * MAX_OUTPUT_BYTES, b"lost")
    outcome = await probe(runtime, {"exec": {"command": ["check"]}})
    assert outcome == ProbeOutcome("failure", "x" * MAX_OUTPUT_BYTES)


async def test_exec_expands_only_the_containers_static_env_and_uses_the_timeout() -> None:
    runtime = FakeRuntime()
    command = ["echo", "$(GREETING)", "$$(GREETING)", "$(MISSING)", "$(SECRET)"]
    container = {
        "env": [{"name": "GREETING", "value": "hi"}, {"name": "SECRET", "valueFrom": {"secretKeyRef": {}}}]
    }
    await probe(runtime, {"exec": {"command": command}}, container_env=static_env(container), timeout=3.0)
    assert runtime.execs == [("c1", ["echo", "hi", "$(GREETING)", "$(MISSING)", ""], 3.0)]


async def test_an_exec_timeout_is_a_failure_with_the_cri_message() -> None:
    runtime = FakeRuntime(ExecResult(-1, b"", b"", timed_out=True))
    outcome = await probe(runtime, {"exec": {"command": ["sh", "-c", "sleep 5"]}})
    assert outcome == ProbeOutcome("failure", 'command "sh -c sleep 5" timed out')


async def test_an_exec_that_cannot_run_is_an_error() -> None:
    runtime = FakeRuntime(RuntimeError_("NotFound", "container c1 is not running"))
    outcome = await probe(runtime, {"exec": {"command": ["true"]}})
    assert outcome == ProbeOutcome("unknown", "", "container c1 is not running")


async def test_retries_only_errors_up_to_three_times() -> None:
    for script, calls in (
        ([ProbeOutcome("unknown", "", "e")] * 5, 3),
        ([FAILURE, SUCCESS], 1),
        ([ProbeOutcome("unknown", "", "e"), SUCCESS], 2),
    ):
        seen = list(script)

        async def action(seen: list[ProbeOutcome] = seen) -> ProbeOutcome:
            return seen.pop(0)

        outcome = await probe_with_retries(action)
        assert len(script) - len(seen) == calls
        assert outcome == script[calls - 1]


async def test_the_runtime_runner_passes_the_probes_timeout_and_the_static_env() -> None:
    runtime = FakeRuntime()
    run = runtime_runner(cast(Runtime, runtime))
    container = {"name": "app", "env": [{"name": "X", "value": "1"}]}
    spec = {"exec": {"command": ["test", "$(X)"]}, "timeoutSeconds": 4}
    outcome = await run(container, spec, TargetStatus(container_id="c9", sandbox_id="s9"))
    assert outcome.result == "success"
    assert runtime.execs == [("c9", ["test", "1"], 4.0)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """An HTTP/1.1 server on 127.0.0.1 that records request heads and answers by path."""

    port: int = 0
    requests: list[str] = field(default_factory=list)


Handler = Callable[[str], Awaitable[bytes | None]]


def response(status: str, body: bytes = b"", headers: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


async def answer(path: str) -> bytes | None:
    if path.startswith("/ok"):
        return response("200 OK", b"fine")
    if path == "/fail":
        return response("500 Internal Server Error", b"sad")
    if path == "/other-host":
        return response("302 Found", b"moved", "Location: http://localhost:1/ok\r\n")
    if path == "/same-host":
        return response("302 Found", b"", "Location: /ok\r\n")
    if path == "/loop":
        return response("307 Temporary Redirect", b"", "Location: /loop\r\n")
    if path == "/big":
        return response("200 OK", b"y" * (MAX_OUTPUT_BYTES + 5000))
    if path == "/chunked":
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nchun\r\n3\r\nked\r\n0\r\n\r\n"
    if path == "/until-close":
        return b"HTTP/1.0 200 OK\r\n\r\nto the end"
    if path == "/interim":
        return b"HTTP/1.1 100 Continue\r\n\r\n" + response("204 No Content")
    if path == "/garbage":
        return b"SSH-2.0-OpenSSH\r\n\r\n"
    if path == "/slow":
        await asyncio.sleep(5)
    return None


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await reader.readexactly(1)
            if first == b"\x16":  # a TLS ClientHello: answer as HTTP servers do
                writer.write(response("400 Bad Request", b"Client sent an HTTP request to an HTTPS server."))
                return
            head = (first + await reader.readuntil(b"\r\n\r\n")).decode()
            state.requests.append(head)
            reply = await answer(head.split(" ")[1])
            if reply:
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield state


def http(port: int | str, path: str = "/", **extra: Any) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTP", **extra}}


async def test_http_success_sends_the_kubelets_request(server: Server) -> None:
    runtime = FakeRuntime()
    headers = [{"name": "x-custom", "value": "a"}, {"name": "X-Custom", "value": "b"}]
    outcome = await probe(runtime, http(server.port, "/ok?x=1", httpHeaders=headers))
    assert outcome == ProbeOutcome("success", "fine")
    assert runtime.dials == [("s1", server.port, "127.0.0.1")]
    assert server.requests == [
        f"GET /ok?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUser-Agent: kube-probe/1.33\r\n"
        "Accept: */*\r\nX-Custom: a\r\nX-Custom: b\r\nConnection: close\r\n\r\n"
    ]


async def test_http_headers_can_replace_host_user_agent_and_accept(server: Server) -> None:
    headers = [
        {"name": "Host", "value": "example.com"},
        {"name": "User-Agent", "value": "me"},
        {"name": "Accept", "value": ""},
    ]
    await probe(FakeRuntime(), http(server.port, "/ok", httpHeaders=headers))
    assert server.requests == [
        "GET /ok HTTP/1.1\r\nHost: example.com\r\nUser-Agent: me\r\nConnection: close\r\n\r\n"
    ]


async def test_http_failure_reports_the_status_code(server: Server) -> None:
    outcome = await probe(FakeRuntime(), http(server.port, "/fail"))
    assert outcome == ProbeOutcome("failure", "HTTP probe failed with statuscode: 500")


async def test_http_redirect_to_another_host_is_a_success_with_a_warning(server: Server) -> None:
    outcome = await probe(FakeRuntime(), http(server.port, "/other-host"))
    assert outcome == ProbeOutcome("warning", "Probe terminated redirects, Response body: moved")


async def test_http_redirect_to_the_same_host_is_followed(server: Server) -> None:
    outcome = await probe(FakeRuntime(), http(server.port, "/same-host"))
    assert outcome == ProbeOutcome("success", "fine")
    assert [r.split(" ")[1] for r in server.requests] == ["/same-host", "/ok"]


async def test_http_stops_after_ten_redirects(server: Server) -> None:
    outcome = await probe(FakeRuntime(), http(server.port, "/loop"))
    assert outcome == ProbeOutcome(
        "failure", f'Get "http://127.0.0.1:{server.port}/loop": stopped after 10 redirects'
    )
    assert len(server.requests) == 10


async def test_http_bodies_are_read_up_to_10_kib_in_any_framing(server: Server) -> None:
    assert await probe(FakeRuntime(), http(server.port, "/big")) == ProbeOutcome(
        "success", "y" * MAX_OUTPUT_BYTES
    )
    assert await probe(FakeRuntime(), http(server.port, "/chunked")) == ProbeOutcome("success", "chunked")
    assert await probe(FakeRuntime(), http(server.port, "/until-close")) == ProbeOutcome(
        "success", "to the end"
    )
    assert await probe(FakeRuntime(), http(server.port, "/interim")) == ProbeOutcome("success", "")


async def test_http_errors_read_like_gos_client(server: Server) -> None:
    url = f"http://127.0.0.1:{server.port}"
    assert await probe(FakeRuntime(), http(server.port, "/nothing")) == ProbeOutcome(
        "failure", f'Get "{url}/nothing": EOF'
    )
    garbage = await probe(FakeRuntime(), http(server.port, "/garbage"))
    assert garbage == ProbeOutcome(
        "failure",
        f'Get "{url}/garbage": net/http: HTTP/1.x transport connection broken: '
        'malformed HTTP response "SSH-2.0-OpenSSH"',
    )
    slow = await probe(FakeRuntime(), http(server.port, "/slow"), timeout=0.05)
    assert slow == ProbeOutcome(
        "failure",
        f'Get "{url}/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
    )


async def test_http_to_a_closed_port_fails_like_go() -> None:
    port = closed_port()
    outcome = await probe(FakeRuntime(), http(port))
    assert outcome == ProbeOutcome(
        "failure", f'Get "http://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: connect: connection refused'
    )


async def test_ports_by_name(server: Server) -> None:
    container = {"ports": [{"name": "web", "containerPort": server.port}]}
    assert (await probe(FakeRuntime(), http("web", "/ok"), container=container)).result == "success"
    missing = await probe(FakeRuntime(), http("metrics"), container=container)
    assert missing == ProbeOutcome("unknown", "", 'port "metrics" not found')
    assert await probe(FakeRuntime(), {"tcpSocket": {"port": 0}}) == ProbeOutcome(
        "unknown", "", "invalid port number: 0"
    )


async def test_tcp_connect_is_a_success_and_a_refusal_a_failure(server: Server) -> None:
    runtime = FakeRuntime()
    assert await probe(runtime, {"tcpSocket": {"port": server.port}}) == ProbeOutcome("success", "")
    assert runtime.dials == [("s1", server.port, "127.0.0.1")]
    port = closed_port()
    outcome = await probe(runtime, {"tcpSocket": {"port": port, "host": "127.0.0.1"}})
    assert outcome == ProbeOutcome("failure", f"dial tcp 127.0.0.1:{port}: connect: connection refused")


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[int]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=pod",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(response("200 OK", b"secure"))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    async with srv:
        yield srv.sockets[0].getsockname()[1]


async def test_https_skips_certificate_verification(tls_server: int) -> None:
    outcome = await probe(FakeRuntime(), http(tls_server, "/", scheme="HTTPS"))
    assert outcome == ProbeOutcome("success", "secure")


async def test_https_to_a_plain_http_server(server: Server) -> None:
    outcome = await probe(FakeRuntime(), http(server.port, "/ok", scheme="HTTPS"))
    assert outcome == ProbeOutcome(
        "failure",
        f'Get "https://127.0.0.1:{server.port}/ok": http: server gave HTTP response to HTTPS client',
    )


# --- gRPC health checks against an HTTP/2 (h2) server on 127.0.0.1 --------------------------------------------

Reply = Callable[[H2Connection, int], None]


class HangUp(Exception):
    """Raised by a reply to make the server close the connection without answering."""


def frame(message: bytes) -> bytes:
    """A gRPC message frame: flag 0, big-endian length, the message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def grpc_response(data: bytes | None, trailers: list[tuple[str, str]] | None) -> Reply:
    """Headers, then DATA (if any), then trailers (if any; else END_STREAM on the data)."""

    def reply(conn: H2Connection, stream_id: int) -> None:
        conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc")])
        if data is not None:
            conn.send_data(stream_id, data, end_stream=trailers is None)
        if trailers is not None:
            conn.send_headers(stream_id, trailers, end_stream=True)

    return reply


def health(status: int, grpc_status: int = 0, grpc_message: str = "") -> Reply:
    """A HealthCheckResponse (field 1, varint; empty for UNKNOWN) and then the given status."""
    trailers = [("grpc-status", str(grpc_status))] + ([("grpc-message", grpc_message)] if grpc_message else [])
    return grpc_response(frame(b"\x08" + bytes([status]) if status else b""), trailers)


def trailers_only(grpc_status: int, grpc_message: str) -> Reply:
    """A Trailers-Only response, as grpc-go's server sends an error: one HEADERS frame with END_STREAM."""

    def reply(conn: H2Connection, stream_id: int) -> None:
        headers = [(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", str(grpc_status))]
        conn.send_headers(stream_id, [*headers, ("grpc-message", grpc_message)], end_stream=True)

    return reply


def not_grpc(status: int, content_type: str) -> Reply:
    def reply(conn: H2Connection, stream_id: int) -> None:
        conn.send_headers(stream_id, [(":status", str(status)), ("content-type", content_type)], end_stream=True)

    return reply


def reset(conn: H2Connection, stream_id: int) -> None:
    conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)


def hang_up(conn: H2Connection, stream_id: int) -> None:
    raise HangUp


def never_answer(conn: H2Connection, stream_id: int) -> None:
    pass


@dataclass
class GRPCServer:
    """A gRPC health server on 127.0.0.1: records every request (headers, body) and answers by service."""

    port: int = 0
    answers: dict[str, Reply] = field(default_factory=lambda: {"": health(1), "db": health(2)})
    requests: list[tuple[list[tuple[str, str]], bytes]] = field(default_factory=list)


def requested_service(body: bytes) -> str:
    """The `service` of a framed HealthCheckRequest: field 1 alone (tag 0x0a, varint length, UTF-8), or empty."""
    message = body[5:]
    assert body[:5] == b"\x00" + len(message).to_bytes(4, "big")
    if not message:
        return ""
    assert message[0] == 0x0A
    length, offset = 0, 1
    while message[offset] & 0x80:
        length |= (message[offset] & 0x7F) << 7 * (offset - 1)
        offset += 1
    length |= message[offset] << 7 * (offset - 1)
    assert len(message) == offset + 1 + length
    return message[offset + 1 :].decode()


@pytest.fixture
async def grpc_server() -> AsyncIterator[GRPCServer]:
    state = GRPCServer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        heads: dict[int, list[tuple[str, str]]] = {}
        bodies: dict[int, bytes] = {}
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, RequestReceived):
                        heads[event.stream_id] = [(str(k), str(v)) for k, v in event.headers]
                        bodies[event.stream_id] = b""
                    elif isinstance(event, DataReceived):
                        bodies[event.stream_id] += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, StreamEnded):
                        body = bodies[event.stream_id]
                        state.requests.append((heads[event.stream_id], body))
                        state.answers.get(requested_service(body), trailers_only(5, "unknown service"))(
                            conn, event.stream_id
                        )
                writer.write(conn.data_to_send())
                await writer.drain()
        except (HangUp, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield state


def grpc(port: int, service: str | None = None) -> dict[str, Any]:
    return {"grpc": {"port": port} | ({} if service is None else {"service": service})}


async def test_grpc_serving_is_a_success_and_the_request_is_the_kubelets(grpc_server: GRPCServer) -> None:
    runtime = FakeRuntime()
    assert await probe(runtime, grpc(grpc_server.port)) == ProbeOutcome("success", "service healthy")
    assert runtime.dials == [("s1", grpc_server.port, "127.0.0.1")]
    [(headers, body)] = grpc_server.requests
    assert headers[:-1] == [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/grpc.health.v1.Health/Check"),
        (":authority", f"127.0.0.1:{grpc_server.port}"),
        ("content-type", "application/grpc"),
        ("user-agent", "kube-probe/1.33"),
        ("te", "trailers"),
    ]
    # The rest of the 1s deadline, in microseconds as grpc-go encodes a duration under 100 s.
    name, value = headers[-1]
    assert name == "grpc-timeout"
    assert re.fullmatch(r"\d{6}u", value)
    assert body == b"\x00\x00\x00\x00\x00"  # an empty HealthCheckRequest: service "" is left out


async def test_grpc_sends_the_service_and_reports_not_serving(grpc_server: GRPCServer) -> None:
    outcome = await probe(FakeRuntime(), grpc(grpc_server.port, "db"))
    assert outcome == ProbeOutcome("failure", 'service unhealthy (responded with "NOT_SERVING")')
    assert grpc_server.requests[0][1] == b"\x00\x00\x00\x00\x04\x0a\x02db"


UNIMPLEMENTED = "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "
RPC_FAILED = "error: health rpc probe failed: rpc error: code = "


@pytest.mark.parametrize(
    ("reply", "output"),
    [
        (health(3), 'service unhealthy (responded with "SERVICE_UNKNOWN")'),
        (health(0), 'service unhealthy (responded with "UNKNOWN")'),
        (health(9), 'service unhealthy (responded with "9")'),
        (
            trailers_only(12, "unknown service grpc.health.v1.Health"),
            UNIMPLEMENTED + "unknown service grpc.health.v1.Health",
        ),
        (trailers_only(5, "unknown%20service"), RPC_FAILED + "NotFound desc = unknown service"),
        (trailers_only(4, "too slow"), "timeout: health rpc did not complete within 1s"),
        (health(1, grpc_status=14, grpc_message="going down"), RPC_FAILED + "Unavailable desc = going down"),
        (trailers_only(99, ""), RPC_FAILED + "Code(99) desc = "),
        (
            not_grpc(404, "text/plain"),
            UNIMPLEMENTED + "unexpected HTTP status code received from server: 404 (Not Found); "
            'transport: received unexpected content-type "text/plain"',
        ),
        (
            reset,
            RPC_FAILED + "Unavailable desc = stream terminated by RST_STREAM with error code: REFUSED_STREAM",
        ),
        (
            grpc_response(frame(b"\x08\x01"), None),
            RPC_FAILED + "Internal desc = server closed the stream without sending trailers",
        ),
        (
            grpc_response(None, [("grpc-status", "0")]),
            RPC_FAILED + "Internal desc = cardinality violation: received no response message from "
            "non-server-streaming RPC",
        ),
        (
            grpc_response(frame(b"\x08\x01") * 2, [("grpc-status", "0")]),
            RPC_FAILED + "Internal desc = cardinality violation: expected <EOF> for non server-streaming RPCs, "
            "but received another message",
        ),
        (
            grpc_response(frame(b"\x08"), [("grpc-status", "0")]),
            RPC_FAILED + "Internal desc = grpc: failed to unmarshal the received message: "
            "proto: cannot parse invalid wire-format data",
        ),
        (
            grpc_response(frame(b"\x08\x01")[:4], [("grpc-status", "0")]),
            RPC_FAILED + "Internal desc = unexpected EOF",
        ),
        (
            grpc_response(b"\x00" + (5 << 20).to_bytes(4, "big"), None),  # over 4 MiB: fails on the length
            RPC_FAILED + "ResourceExhausted desc = grpc: received message larger than max (5242880 vs. 4194304)",
        ),
        (
            trailers_only(2**31, ""),
            RPC_FAILED + "Internal desc = transport: malformed grpc-status: "
            'strconv.ParseInt: parsing "2147483648": value out of range',
        ),
        (hang_up, RPC_FAILED + "Unavailable desc = error reading from server: EOF"),
    ],
)
async def test_grpc_answers_map_to_grpc_go_outputs(grpc_server: GRPCServer, reply: Reply, output: str) -> None:
    grpc_server.answers["db"] = reply
    assert await probe(FakeRuntime(), grpc(grpc_server.port, "db")) == ProbeOutcome("failure", output)


async def test_grpc_sends_a_long_service_name_within_the_flow_control_windows(grpc_server: GRPCServer) -> None:
    service = "s" * 200_000  # more than HTTP/2's initial 64 KiB window and 16 KiB frames
    grpc_server.answers[service] = health(1)
    assert await probe(FakeRuntime(), grpc(grpc_server.port, service)) == ProbeOutcome("success", "service healthy")
    assert len(grpc_server.requests[0][1]) == 5 + 1 + 3 + 200_000  # frame header, tag, 3-byte varint, name


async def test_grpc_rpc_is_bounded_by_the_timeout(grpc_server: GRPCServer) -> None:
    grpc_server.answers["db"] = never_answer
    outcome = await asyncio.wait_for(probe(FakeRuntime(), grpc(grpc_server.port, "db"), timeout=0.3), 2)
    assert outcome == ProbeOutcome("failure", "timeout: health rpc did not complete within 300ms")
    assert len(grpc_server.requests) == 1


async def test_grpc_connection_errors_end_as_the_connect_timeout(server: Server) -> None:
    # grpc-go's blocking dial retries a refused connection, or a server that does not speak HTTP/2, until
    # the deadline; only the timeout is reported.
    for port in (closed_port(), server.port):
        outcome = await probe(FakeRuntime(), grpc(port), timeout=0.3)
        assert outcome == ProbeOutcome(
            "failure",
            f'timeout: failed to connect service "127.0.0.1:{port}" within 300ms: context deadline exceeded',
        )
    assert server.requests and server.requests[0].startswith("PRI * HTTP/2.0")  # the HTTP/2 preface


async def test_grpc_dial_retries_until_the_server_is_up(grpc_server: GRPCServer) -> None:
    refused = closed_port()
    runtime = FakeRuntime()
    real_dial = runtime.dial

    async def dial(sandbox_id: str, port: int, host: str = "127.0.0.1") -> tuple[object, object]:
        # Refused at first, as a closed port; grpc-go tries again after its 1s base backoff.
        return await real_dial(sandbox_id, port if runtime.dials else refused, host)

    runtime.dial = dial  # type: ignore[method-assign]
    outcome = await probe(runtime, grpc(grpc_server.port), timeout=3.0)
    assert outcome == ProbeOutcome("success", "service healthy")
    assert len(runtime.dials) == 2


def test_grpc_wire_encodings() -> None:
    assert health_check_request("") == b"\x00\x00\x00\x00\x00"
    assert health_check_request("é" * 100)[:8] == b"\x00\x00\x00\x00\xcb\x0a\xc8\x01"  # 200 bytes: a 2-byte varint
    assert parse_health_check_response(b"") == 0
    assert parse_health_check_response(b"\x12\x03abc\x08\x02\x25\x00\x00\x00\x00") == 2  # other fields skipped
    assert parse_health_check_response(b"\x08\xff\xff\xff\xff\x0f") == -1  # an int32 enum
    with pytest.raises(ValueError):
        parse_health_check_response(b"\x08")
    assert [encode_grpc_timeout(s) for s in (0, 0.05, 1, 100, 86400 * 30, 86400 * 3650)] == [
        "0n",
        "50000000n",
        "1000000u",
        "100000m",
        "2592000S",
        "5256000M",
    ]
