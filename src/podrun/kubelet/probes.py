"""Container probes as the kubelet runs them: the handlers, the per-probe worker and the manager.

A transcription of Kubernetes v1.33/1.34 with the default feature gates (kubelet-semantics spec, §4):

- `run_probe` runs one probe action once, as `prober.runProbe` with `pkg/probe/exec`, `pkg/probe/http`
  (`NewRequestForHTTPGetAction`, `DoHTTPProbe`), `pkg/probe/tcp` and `pkg/probe/grpc`. It returns the handler's
  `(result, output, error)` as a `ProbeOutcome`. `probe_with_retries` is `runProbeWithRetries`: up to
  `MAX_PROBE_RETRIES` runs, retrying only an error, never a clean failure.
- `ProbeWorker` is `worker.go`: one probe type of one container, its loop (`run`) and one tick
  (`do_probe`), with `prober.probe`'s mapping of outcomes to results and `Unhealthy`/`ProbeWarning` events.
- `ProbeManager` is `prober_manager.go`: for every pod, workers for `spec.containers` and sidecars
  (`initContainers` with `restartPolicy: Always`), the published results (keyed by container ID, as
  the kubelet's results managers), and `UpdatePodStatus`'s `started`/`ready` rules.

Probes reach the pod through the `Runtime`: exec through `exec_sync`, TCP, HTTP and gRPC through `dial`,
which connects inside the pod's network namespace. A pod has only loopback, so the "pod IP" is `POD_IP`.
The HTTP/1.1 client is written here over the dialed stream (no HTTP library can dial through the
runtime), and reproduces the requests and the error texts of the Go clients the kubelet uses.

The gRPC probe is the one RPC `grpc.health.v1.Health/Check`, sent as grpc-go sends it: HTTP/2 with prior
knowledge and no TLS (the kubelet's insecure credentials), framed by the `h2` protocol library over the
dialed stream, with the protobuf request and response encoded by hand (grpcio would be tens of MB of
compiled code for one RPC, and cannot dial through the runtime either). Like `pkg/probe/grpc`, it never
errors: SERVING is a success, and anything else, the timeout included, is a failure with grpc.go's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import logging
import os
import random as random_module
import re
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, cast

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
from podrun.kubelet.expansion import expand, mapping_for
from podrun.kubelet.planner import ProbeResult
from podrun.model.errors import go_quote
from podrun.runtime.protocol import Runtime, RuntimeError_

JSON = dict[str, Any]
ProbeType = Literal["liveness", "readiness", "startup"]
Outcome = Literal["success", "warning", "failure", "unknown"]

log = logging.getLogger(__name__)

POD_IP = "127.0.0.1"
# The kubelet version in `kube-probe/1.33` and `kube-lifecycle/1.33` (request.go, userAgent).
KUBE_VERSION = "1.33"
# prober.go: maxProbeRetries.
MAX_PROBE_RETRIES = 3
# pkg/probe/exec maxReadLength and pkg/probe/http maxRespBodyLength: 10 KiB.
MAX_OUTPUT_BYTES = 10 * 1024
# http.RedirectChecker: "stopped after 10 redirects".
MAX_REDIRECTS = 10

PROBE_KEYS: Mapping[ProbeType, str] = {
    "startup": "startupProbe",
    "readiness": "readinessProbe",
    "liveness": "livenessProbe",
}
# prober_manager.go probeType.String(), used in event messages.
PROBE_TITLES: Mapping[ProbeType, str] = {
    "liveness": "Liveness",
    "readiness": "Readiness",
    "startup": "Startup",
}

Dial = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
RecordEvent = Callable[[str, str, str, str], None]  # (type, reason, message, field_path)
OnResult = Callable[[str, str, ProbeType, ProbeResult | None], None]  # (name, container ID, type, result)
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class ProbeOutcome:
    """What one probe action returned: the handler's result, its output and, when it errored, the error.

    `result` is `pkg/probe`'s Result. `error` is the Go `err`: when set, the worker discards the run.
    """

    result: Outcome
    output: str = ""
    error: str | None = None


class ProbeActionError(Exception):
    """A probe or hook action that cannot even be attempted, e.g. a named port the container lacks."""


# --- handlers ------------------------------------------------------------------------------------------


async def run_probe(
    probe: Mapping[str, Any],
    *,
    runtime: Runtime,
    container_id: str,
    sandbox_id: str,
    container_env: Mapping[str, str],
    timeout: float,
    container: Mapping[str, Any] | None = None,
) -> ProbeOutcome:
    """Run one probe action once (`prober.runProbe`), bounded by `timeout` (the probe's timeoutSeconds).

    `container_env` maps the container's env names to their literal values (`static_env`), for the
    `$(VAR)` expansion of exec commands; `container` supplies the named ports of httpGet and tcpSocket.
    """
    container = container or {}
    exec_action = probe.get("exec")
    if isinstance(exec_action, Mapping):
        # ExpandContainerCommandOnlyStatic: no pod env from other sources, no Downward API.
        lookup = mapping_for(container_env)
        command = [expand(str(arg), lookup) for arg in exec_action.get("command") or []]
        return await _exec_probe(runtime, container_id, command, timeout)
    dial = runtime_dial(runtime, sandbox_id)
    http_action = probe.get("httpGet")
    if isinstance(http_action, Mapping):
        try:
            request = http_request_for(http_action, container, purpose="probe")
        except ProbeActionError as exc:
            return ProbeOutcome("unknown", "", str(exc))
        return await _http_probe(request, dial, timeout)
    tcp_action = probe.get("tcpSocket")
    if isinstance(tcp_action, Mapping):
        try:
            port = resolve_port(tcp_action.get("port"), container)
        except ProbeActionError as exc:
            return ProbeOutcome("unknown", "", str(exc))
        return await _tcp_probe(dial, str(tcp_action.get("host") or POD_IP), port, timeout)
    grpc_action = probe.get("grpc")
    if isinstance(grpc_action, Mapping):
        try:
            port = resolve_port(grpc_action.get("port"), container)
        except ProbeActionError as exc:
            return ProbeOutcome("unknown", "", str(exc))
        # prober.go: a gRPC probe always targets the pod IP; `service` defaults to "".
        return await _grpc_probe(dial, POD_IP, port, str(grpc_action.get("service") or ""), timeout)
    return ProbeOutcome("unknown", "", f"missing probe handler for container {container.get('name', '')}")


async def probe_with_retries(
    action: Callable[[], Awaitable[ProbeOutcome]], retries: int = MAX_PROBE_RETRIES
) -> ProbeOutcome:
    """`runProbeWithRetries`: run `action` up to `retries` times while it errors; return the last outcome."""
    outcome = ProbeOutcome("unknown", "", "no probe run")
    for _ in range(retries):
        outcome = await action()
        if outcome.error is None:
            break
    return outcome


def runtime_dial(runtime: Runtime, sandbox_id: str) -> Dial:
    """A `Dial` that connects inside the pod's network namespace through the runtime."""

    async def dial(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await runtime.dial(sandbox_id, port, host)
        return cast(asyncio.StreamReader, reader), cast(asyncio.StreamWriter, writer)

    return dial


def static_env(container: Mapping[str, Any]) -> dict[str, str]:
    """`EnvVarsToMap(container.Env)`: every env name to its literal `value` ("" for `valueFrom` ones)."""
    return {
        str(var.get("name", "")): str(var.get("value") or "")
        for var in container.get("env") or []
        if isinstance(var, Mapping)
    }


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


async def _exec_probe(
    runtime: Runtime, container_id: str, command: list[str], timeout: float
) -> ProbeOutcome:
    # pkg/probe/exec Probe over RunInContainer (ExecSync with timeoutSeconds): the output is stdout then
    # stderr, limited to 10 KiB; a non-zero exit is a failure; any other error leaves the result unknown.
    try:
        result = await runtime.exec_sync(container_id, command, timeout)
    except (RuntimeError_, OSError) as exc:
        return ProbeOutcome("unknown", "", str(exc))
    if result.timed_out:
        # The CRI client's TimeoutError ("command %q timed out"), which the prober returns as the output.
        return ProbeOutcome("failure", f"command {go_quote(' '.join(command))} timed out")
    output = (result.stdout + result.stderr)[:MAX_OUTPUT_BYTES].decode("utf-8", "replace")
    return ProbeOutcome("success" if result.exit_code == 0 else "failure", output)


async def _tcp_probe(dial: Dial, host: str, port: int, timeout: float) -> ProbeOutcome:
    # DoTCPProbe: a connection that opens is a success, even if the peer closes it at once.
    address = join_host_port(host, port)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await dial(host, port)
    except TimeoutError as exc:
        if exc.errno is None:
            return ProbeOutcome("failure", f"dial tcp {address}: i/o timeout")
        return ProbeOutcome("failure", f"dial tcp {address}: {dial_error(exc)}")
    except (OSError, RuntimeError_) as exc:
        return ProbeOutcome("failure", f"dial tcp {address}: {dial_error(exc)}")
    close_writer(writer)
    return ProbeOutcome("success", "")


async def _http_probe(request: HTTPRequest, dial: Dial, timeout: float) -> ProbeOutcome:
    # DoHTTPProbe: a client error is a failure with the error as the output; 2xx succeeds; 3xx (a redirect
    # that was not followed, e.g. to another host) succeeds with a warning; anything else fails.
    try:
        response = await http_get(request, dial, timeout=timeout, keep_alives=False, compression=False)
    except HTTPClientError as exc:
        return ProbeOutcome("failure", str(exc))
    except HTTPBodyError as exc:
        return ProbeOutcome("failure", "", str(exc))
    body = response.body.decode("utf-8", "replace")
    if 200 <= response.status < 400:
        if response.status >= 300:
            return ProbeOutcome("warning", f"Probe terminated redirects, Response body: {body}")
        return ProbeOutcome("success", body)
    return ProbeOutcome("failure", f"HTTP probe failed with statuscode: {response.status}")


async def _grpc_probe(dial: Dial, host: str, port: int, service: str, timeout: float) -> ProbeOutcome:
    # pkg/probe/grpc Probe: every outcome is a result with an output, never an error (err is always nil).
    # One deadline (context.WithTimeout) bounds both the blocking dial and the Check RPC.
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


# --- a minimal HTTP/1.1 client with Go's net/http behaviour ---------------------------------------------


class HTTPClientError(Exception):
    """An error of Go's `client.Do`, worded as Go's `*url.Error`: `Get "<url>": <cause>`."""


class HTTPBodyError(Exception):
    """An error while reading the response body (after the status and headers arrived)."""


@dataclass(frozen=True)
class URL:
    """An absolute http(s) URL, kept in the parts Go's `url.URL` prints."""

    scheme: str
    netloc: str  # host[:port] as written; IPv6 hosts in brackets
    path: str = ""
    query: str = ""

    @property
    def hostname(self) -> str:
        return urllib.parse.urlsplit(f"//{self.netloc}").hostname or ""

    @property
    def port(self) -> int:
        explicit = urllib.parse.urlsplit(f"//{self.netloc}").port
        return explicit if explicit is not None else (443 if self.scheme == "https" else 80)

    @property
    def request_target(self) -> str:
        """`URL.RequestURI`: the escaped path ("/" if empty) and the query."""
        return (self.path or "/") + (f"?{self.query}" if self.query else "")

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}" + (f"?{self.query}" if self.query else "")


@dataclass(frozen=True)
class HTTPRequest:
    """A GET as `newProbeRequest` builds it: the URL, `http.Header` (canonical names) and `req.Host`."""

    url: URL
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    host: str = ""  # the Host header's value when one was given in httpHeaders; else the URL's


@dataclass(frozen=True)
class HTTPResponse:
    """A final response: its status and at most `MAX_OUTPUT_BYTES` of its body."""

    status: int
    body: bytes


def http_request_for(action: Mapping[str, Any], container: Mapping[str, Any], *, purpose: str) -> HTTPRequest:
    """`NewRequestForHTTPGetAction`: the GET an httpGet action sends (`purpose` "probe" or "lifecycle").

    Raises `ProbeActionError` when the port cannot be resolved.
    """
    scheme = str(action.get("scheme") or "HTTP").lower()
    port = resolve_port(action.get("port"), container)
    url = format_url(scheme, str(action.get("host") or POD_IP), port, str(action.get("path") or ""))
    headers: dict[str, list[str]] = {}
    for header in action.get("httpHeaders") or []:
        if isinstance(header, Mapping):
            headers.setdefault(canonical_header_key(str(header.get("name", ""))), []).append(
                str(header.get("value") or "")
            )
    if "User-Agent" not in headers:
        headers["User-Agent"] = [f"kube-{purpose}/{KUBE_VERSION}"]
    if "Accept" not in headers:
        headers["Accept"] = ["*/*"]
    elif not headers["Accept"][0]:
        # An Accept header given empty removes the default.
        del headers["Accept"]
    host = headers["Host"][0] if headers.get("Host") else ""
    return HTTPRequest(url=url, headers={name: tuple(values) for name, values in headers.items()}, host=host)


def format_url(scheme: str, host: str, port: int, path: str) -> URL:
    """request.go `formatURL`: the path is parsed as a URL reference; scheme and host are then set."""
    parts = urllib.parse.urlsplit(path)
    escaped = urllib.parse.quote(parts.path, safe="/:@!$&'()*+,;=-._~%")
    if escaped and not escaped.startswith("/"):
        escaped = "/" + escaped
    query = urllib.parse.quote(parts.query, safe="/:@!$&'()*+,;=-._~%?")
    return URL(scheme, join_host_port(host, port), escaped, query)


async def http_get(
    request: HTTPRequest,
    dial: Dial,
    *,
    timeout: float | None,
    keep_alives: bool,
    compression: bool,
) -> HTTPResponse:
    """Send the GET as Go's `http.Client` would and return the final response.

    `keep_alives` and `compression` select the kubelet's two clients: probes use a transport with both
    disabled (the request says `Connection: close`), lifecycle hooks the defaults (`Accept-Encoding: gzip`).
    Redirects are followed only to the same host name (`RedirectChecker(false)`); any other redirect is
    the final response. `timeout` bounds everything, the body included, like `http.Client.Timeout`.
    Raises `HTTPClientError` for what `client.Do` reports and `HTTPBodyError` for a failed body read.
    """
    state = _Exchange(request.url)
    try:
        async with asyncio.timeout(timeout):
            return await _follow(request, dial, state, keep_alives=keep_alives, compression=compression)
    except TimeoutError:
        if state.stage == "body":
            raise HTTPBodyError(
                "context deadline exceeded (Client.Timeout or context cancellation while reading body)"
            ) from None
        cause = "context deadline exceeded"
        if state.stage == "dial":
            cause = f"dial tcp {join_host_port(state.url.hostname, state.url.port)}: i/o timeout"
        raise HTTPClientError(
            f"Get {go_quote(str(state.url))}: {cause} (Client.Timeout exceeded while awaiting headers)"
        ) from None


@dataclass
class _Exchange:
    url: URL
    stage: Literal["dial", "headers", "body"] = "dial"


_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# Request.write leaves these to itself or never sends them from the header map (reqWriteExcludeHeader).
_EXCLUDED_HEADERS = frozenset({"Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"})


async def _follow(
    request: HTTPRequest, dial: Dial, state: _Exchange, *, keep_alives: bool, compression: bool
) -> HTTPResponse:
    url, host, requests_made = request.url, request.host, 0
    while True:
        state.url, state.stage = url, "dial"
        reader, writer = await _dial_url(url, dial)
        try:
            state.stage = "headers"
            if url.scheme == "https":
                await _start_tls(url, writer)
            writer.write(_request_bytes(request, url, host, keep_alives=keep_alives, compression=compression))
            await writer.drain()
            status, headers = await _read_head(reader)
            requests_made += 1
            target = _redirect_target(url, status, headers)
            # RedirectChecker(false): a redirect to another host ends the chain with this response; one to
            # the same host is followed, up to 10 requests.
            if target is not None and target.hostname == request.url.hostname:
                if requests_made >= MAX_REDIRECTS:
                    raise HTTPClientError(f"Get {go_quote(str(target))}: stopped after 10 redirects")
                # Go keeps a custom Host header only through a relative Location.
                relative = not urllib.parse.urlsplit(headers["location"][0]).scheme
                url, host = target, host if relative else ""
                close_writer(writer)
                continue
            state.stage = "body"
            body = await _read_body(reader, status, headers)
        except BaseException as exc:
            close_writer(writer, abort=True)
            if not isinstance(exc, OSError | EOFError | ValueError):
                raise
            if state.stage == "body":
                raise HTTPBodyError(_io_error(exc)) from None
            raise HTTPClientError(f"Get {go_quote(str(url))}: {_io_error(exc)}") from None
        close_writer(writer)
        return HTTPResponse(status, body)


def _redirect_target(url: URL, status: int, headers: Mapping[str, list[str]]) -> URL | None:
    """Where a redirect response points (Go follows 301, 302, 303, 307 and 308 with a Location)."""
    location = headers.get("location")
    if status not in _REDIRECT_CODES or not location:
        return None
    try:
        return _parse_location(url, location[0])
    except ValueError as exc:
        raise HTTPClientError(
            f"Get {go_quote(str(url))}: failed to parse Location header {go_quote(location[0])}: {exc}"
        ) from None


async def _dial_url(url: URL, dial: Dial) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.hostname, url.port
    try:
        return await dial(host, port)
    except TimeoutError as exc:
        if exc.errno is None:
            raise  # the client's deadline: reported by http_get
        error: BaseException = exc
    except (OSError, RuntimeError_) as exc:
        error = exc
    raise HTTPClientError(
        f"Get {go_quote(str(url))}: dial tcp {join_host_port(host, port)}: {dial_error(error)}"
    ) from None


async def _start_tls(url: URL, writer: asyncio.StreamWriter) -> None:
    # The kubelet's transports skip certificate verification (InsecureSkipVerify); SNI is the URL's host.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        await writer.start_tls(context, server_hostname=None if _is_ip(url.hostname) else url.hostname)
    except ssl.SSLError as exc:
        raise HTTPClientError(f"Get {go_quote(str(url))}: {_tls_error(exc)}") from None


def _request_bytes(
    request: HTTPRequest, url: URL, host: str, *, keep_alives: bool, compression: bool
) -> bytes:
    # Request.write: Host, User-Agent, the header map sorted by name, then the transport's extra headers.
    lines = [f"GET {url.request_target} HTTP/1.1", f"Host: {_header_value(host or url.netloc)}"]
    user_agent = request.headers.get("User-Agent", ("Go-http-client/1.1",))
    if user_agent and user_agent[0]:
        lines.append(f"User-Agent: {_header_value(user_agent[0])}")
    for name in sorted(request.headers):
        if name not in _EXCLUDED_HEADERS:
            lines.extend(f"{name}: {_header_value(value)}" for value in request.headers[name])
    if not keep_alives:
        lines.append("Connection: close")
    if compression and not request.headers.get("Accept-Encoding") and not request.headers.get("Range"):
        lines.append("Accept-Encoding: gzip")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, list[str]]]:
    """Read a status line and headers, skipping 1xx interim responses as Go's transport does."""
    while True:
        line = await reader.readline()
        if not line:
            raise EOFError("EOF")
        if not line.endswith(b"\n"):
            raise EOFError("unexpected EOF")
        status = _parse_status_line(line.decode("latin-1").rstrip("\r\n"))
        headers: dict[str, list[str]] = {}
        while True:
            raw = await reader.readline()
            if not raw.endswith(b"\n"):
                raise EOFError("unexpected EOF")
            text = raw.decode("latin-1").rstrip("\r\n")
            if not text:
                break
            name, sep, value = text.partition(":")
            if not sep:
                raise ValueError(f"malformed MIME header line: {text}")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        if not 100 <= status < 200 or status == 101:
            return status, headers


def _parse_status_line(line: str) -> int:
    # http.ReadResponse, whose errors the transport reports as a broken connection.
    broken = "net/http: HTTP/1.x transport connection broken: "
    proto, sep, rest = line.partition(" ")
    if not sep:
        raise ValueError(f"{broken}malformed HTTP response {go_quote(line)}")
    code = rest.partition(" ")[0]
    if len(code) != 3 or not code.isdigit():
        raise ValueError(f"{broken}malformed HTTP status code {go_quote(code)}")
    if not proto.startswith("HTTP/"):
        raise ValueError(f"{broken}malformed HTTP version {go_quote(proto)}")
    return int(code)


async def _read_body(reader: asyncio.StreamReader, status: int, headers: Mapping[str, list[str]]) -> bytes:
    """At most `MAX_OUTPUT_BYTES` of the body (`utilio.ReadAtMost`; more is not an error)."""
    if status in (204, 304) or 100 <= status < 200:
        return b""
    if any("chunked" in value.lower() for value in headers.get("transfer-encoding", [])):
        return await _read_chunked(reader)
    if "content-length" in headers:
        length = int(headers["content-length"][0])
        return await reader.readexactly(min(length, MAX_OUTPUT_BYTES))
    body = b""
    while len(body) < MAX_OUTPUT_BYTES:
        chunk = await reader.read(MAX_OUTPUT_BYTES - len(body))
        if not chunk:
            break
        body += chunk
    return body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while len(body) < MAX_OUTPUT_BYTES:
        size_line = await reader.readline()
        if not size_line.endswith(b"\n"):
            raise EOFError("unexpected EOF")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            break
        body += await reader.readexactly(size)
        await reader.readexactly(2)
    return body[:MAX_OUTPUT_BYTES]


def _parse_location(base: URL, location: str) -> URL:
    """Resolve a Location against the request URL; ValueError when it is no usable http(s) URL."""
    parts = urllib.parse.urlsplit(urllib.parse.urljoin(str(base), location))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"unsupported protocol scheme {go_quote(parts.scheme)}")
    _ = parts.port  # urllib raises ValueError for a port that is not a number below 65536, as Go's url.Parse
    return URL(parts.scheme, parts.netloc, parts.path, parts.query)


def _io_error(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "unexpected EOF"
    if isinstance(exc, ConnectionResetError):
        return "read: connection reset by peer"
    return str(exc)


def _tls_error(exc: ssl.SSLError) -> str:
    # Go recognises an HTTP answer to its ClientHello; OpenSSL reports it as a record with a bad version.
    if exc.reason == "WRONG_VERSION_NUMBER":
        return "http: server gave HTTP response to HTTPS client"
    return f"tls: {(exc.reason or str(exc)).lower().replace('_', ' ')}"


def _header_value(value: str) -> str:
    # Header.write: newlines become spaces, surrounding blanks go (headerNewlineToSpace, TrimString).
    return value.replace("\r", " ").replace("\n", " ").strip(" \t")


def canonical_header_key(name: str) -> str:
    """textproto.CanonicalMIMEHeaderKey: `x-request-id` -> `X-Request-Id`; names with odd bytes stay as is."""
    if not name or any(not (ch.isascii() and (ch.isalnum() or ch in "!#$%&'*+-.^_`|~")) for ch in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def join_host_port(host: str, port: int) -> str:
    """net.JoinHostPort."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def dial_error(exc: BaseException) -> str:
    """A failed connect as Go words it after `dial tcp <addr>: `, e.g. `connect: connection refused`."""
    if isinstance(exc, OSError) and exc.errno:
        text = os.strerror(exc.errno)
        return f"connect: {text[:1].lower()}{text[1:]}"
    return str(exc)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def close_writer(writer: asyncio.StreamWriter, *, abort: bool = False) -> None:
    """Close a connection whose exchange is over, without waiting: nothing is left to flush.

    (Waiting could hang: after a cancelled TLS handshake, asyncio never completes `wait_closed`.)
    `abort` drops it at once, for a connection left in an unknown state by an error or a cancellation.
    """
    if abort:
        writer.transport.abort()
    else:
        writer.close()


# --- a minimal gRPC health client over HTTP/2 (h2), with grpc-go's behaviour -----------------------------

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
        raise GRPCError(GRPCCode.Unavailable, f"error reading from server: {_io_error(exc)}") from None


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


# --- the worker ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetStatus:
    """What a worker reads at each tick: the pod's phase and deletion, and its container's newest instance.

    `container_id` is "" until the container was created. `started` is the container's `Started` flag as
    the last status computed it (`ProbeManager.is_started`).
    """

    phase: str = ""
    deleting: bool = False
    container_id: str = ""
    sandbox_id: str = ""
    running: bool = False
    terminated: bool = False
    started_at: float = 0.0
    started: bool = False


# Runs one probe of a container against its current instance (retries included).
ProbeRunner = Callable[[Mapping[str, Any], Mapping[str, Any], TargetStatus], Awaitable[ProbeOutcome]]

# worker.go newWorker: the result set for a new container ID; None is results.Unknown ("not started").
INITIAL_RESULTS: Mapping[ProbeType, ProbeResult | None] = {
    "readiness": "failure",
    "liveness": "success",
    "startup": None,
}


class ProbeWorker:
    """One probe of one container, as `worker.go`'s worker: `run` loops, `do_probe` is one tick.

    Results go into `results` (container ID -> result; a present None is Unknown), the results manager
    of this probe type, and every change is published through `on_result`, as `results.Manager.Set`
    sends an update only when the value changes. Events go through `record_event`.
    `clock` (Unix seconds) and `sleep` are injectable so tests run the loop on a fake clock.
    """

    def __init__(
        self,
        pod: Mapping[str, Any],
        container: Mapping[str, Any],
        probe_type: ProbeType,
        *,
        runner: ProbeRunner,
        status: Callable[[], TargetStatus | None],
        results: dict[str, ProbeResult | None],
        on_result: OnResult,
        record_event: RecordEvent,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = random_module.random,
        kubelet_start: float | None = None,
    ) -> None:
        self.container_name = str(container.get("name", ""))
        self.probe_type: ProbeType = probe_type
        self._container = container
        self._spec: Mapping[str, Any] = container[PROBE_KEYS[probe_type]]
        spec = pod.get("spec") or {}
        self._init = any(c.get("name") == self.container_name for c in spec.get("initContainers") or [])
        # A container that exits stays worth probing if it will be restarted (sidecars always are).
        self._restartable = spec.get("restartPolicy") != "Never" or self._init
        self._field_path = f"spec.{'initContainers' if self._init else 'containers'}{{{self.container_name}}}"
        self._runner = runner
        self._status = status
        self._results = results
        self._on_result = on_result
        self._record_event = record_event
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._kubelet_start = kubelet_start
        self._period = float(self._spec.get("periodSeconds") or 10)
        self._container_id = ""
        # results.Result's zero value is Success, and neither is reset for a new container (worker.go).
        self._last_result: ProbeResult = "success"
        self._result_run = 0
        self._on_hold = False
        self._stop_requested = False
        self._trigger_requested = False
        self._wake = asyncio.Event()
        self._next_tick = 0.0

    def stop(self) -> None:
        """Ask the worker to exit after its current probe (worker.stop; safe to call more than once)."""
        self._stop_requested = True
        self._wake.set()

    def trigger(self) -> None:
        """Probe now and restart the period from now (manualTriggerCh, used for readiness)."""
        self._trigger_requested = True
        self._wake.set()

    async def run(self) -> None:
        """The probe loop (`worker.run`): probe at once, then at every tick or trigger, until told to stop."""
        try:
            # After a (podrun) kubelet restart, spread the first probes over a period.
            if self._kubelet_start is not None and self._period > self._clock() - self._kubelet_start:
                await self._sleep(self._random() * self._period)
            self._next_tick = self._clock() + self._period
            while await self._probe_guarded() and await self._wait_for_tick():
                pass
        finally:
            if self._container_id:
                self._results.pop(self._container_id, None)

    async def _probe_guarded(self) -> bool:
        try:
            return await self.do_probe()
        except Exception:
            # doProbe recovers from panics and keeps the worker going.
            log.exception("probe worker %s/%s failed", self.container_name, self.probe_type)
            return True

    async def _wait_for_tick(self) -> bool:
        """Wait for the next tick, a trigger or a stop; False when the worker must exit."""
        while not (self._stop_requested or self._trigger_requested):
            delay = self._next_tick - self._clock()
            if delay <= 0:
                # A tick is due (Go's ticker holds one; the ones missed meanwhile are dropped).
                now = self._clock()
                while self._next_tick <= now:
                    self._next_tick += self._period
                return True
            self._wake.clear()
            sleeper = asyncio.ensure_future(self._sleep(delay))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()
        if self._stop_requested:
            return False
        self._trigger_requested = False
        self._next_tick = self._clock() + self._period
        return True

    async def do_probe(self) -> bool:
        """One tick of `worker.doProbe`: probe if due, record the result; False when the worker must exit."""
        status = self._status()
        if status is None:
            return True
        if status.phase in ("Failed", "Succeeded"):
            return False
        if not status.container_id:
            return True  # not created yet: wait
        if status.container_id != self._container_id:
            if self._container_id:
                self._results.pop(self._container_id, None)
            self._container_id = status.container_id
            self._set(INITIAL_RESULTS[self.probe_type])
            self._on_hold = False
        if self._on_hold:
            return True
        if not status.running:
            self._set("failure")
            return not status.terminated or self._restartable
        if status.deleting and self.probe_type != "readiness":
            # Graceful shutdown: a last Success keeps the shutdown quiet; readiness keeps probing.
            self._set("success")
            return False
        if int(self._clock() - status.started_at) < int(self._spec.get("initialDelaySeconds") or 0):
            return True
        # Startup probes only until the container has started; the others only from then on.
        if status.started == (self.probe_type == "startup"):
            return True
        result = self._interpret(await self._runner(self._container, self._spec, status))
        if result is None:
            return True
        if result == self._last_result:
            self._result_run += 1
        else:
            self._last_result, self._result_run = result, 1
        threshold_key = "failureThreshold" if result == "failure" else "successThreshold"
        if self._result_run < int(self._spec.get(threshold_key) or (3 if result == "failure" else 1)):
            return True
        self._set(result)
        if (self.probe_type == "liveness" and result == "failure") or self.probe_type == "startup":
            # The container will be killed (or has started): probe again only for a new container ID.
            self._on_hold = True
            self._result_run = 0
        return True

    def _interpret(self, outcome: ProbeOutcome) -> ProbeResult | None:
        """`prober.probe`: the result to count (None when the run errored) and the event it records."""
        title = PROBE_TITLES[self.probe_type]
        if outcome.error is not None:
            self._event(
                "Unhealthy", f"{title} probe errored and resulted in {outcome.result} state: {outcome.error}"
            )
            return None
        if outcome.result == "success":
            return "success"
        if outcome.result == "warning":
            self._event("ProbeWarning", f"{title} probe warning: {outcome.output}")
            return "success"
        if outcome.result == "failure":
            self._event("Unhealthy", f"{title} probe failed: {outcome.output}")
        return "failure"

    def _event(self, reason: str, message: str) -> None:
        self._record_event("Warning", reason, message, self._field_path)

    def _set(self, result: ProbeResult | None) -> None:
        """results.Manager.Set: store, and publish only a change."""
        if self._container_id in self._results and self._results[self._container_id] == result:
            return
        self._results[self._container_id] = result
        self._on_result(self.container_name, self._container_id, self.probe_type, result)


# --- the manager -----------------------------------------------------------------------------------------

# The manager's callbacks carry the pod: (uid, container name, container ID, probe type, result) and
# (pod, type, reason, message, field_path).
OnPodResult = Callable[[str, str, str, ProbeType, ProbeResult | None], None]
RecordPodEvent = Callable[[JSON, str, str, str, str], None]


@dataclass(frozen=True)
class _ContainerView:
    container_id: str
    sandbox_id: str
    started_at: float
    running: bool
    terminated: bool


def runtime_runner(runtime: Runtime) -> ProbeRunner:
    """The production `ProbeRunner`: `run_probe` through the runtime, with the kubelet's retries."""

    async def run(
        container: Mapping[str, Any], probe: Mapping[str, Any], target: TargetStatus
    ) -> ProbeOutcome:
        env = static_env(container)
        timeout = float(probe.get("timeoutSeconds") or 1)
        return await probe_with_retries(
            lambda: run_probe(
                probe,
                runtime=runtime,
                container_id=target.container_id,
                sandbox_id=target.sandbox_id,
                container_env=env,
                timeout=timeout,
                container=container,
            )
        )

    return run


class ProbeManager:
    """The kubelet's prober manager (`prober_manager.go`): workers, published results, started/ready.

    Feed it each pod (`add_pod`, then `update_pod` with every new version: `metadata.deletionTimestamp`
    and `status.phase` are read from it) and the runtime's view of each container (`update_container`).
    Results are published through `on_result(uid, container_name, container_id, probe_type, result)`
    (result None = Unknown) and events through `record_event(pod, type, reason, message, field_path)`.
    Probes run through `runner`, by default `runtime_runner(runtime)`. Workers are tasks on the running
    event loop; `clock` (Unix seconds), `sleep` and `random` are injectable for tests.
    """

    def __init__(
        self,
        *,
        on_result: OnPodResult,
        record_event: RecordPodEvent,
        runtime: Runtime | None = None,
        runner: ProbeRunner | None = None,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = random_module.random,
        kubelet_start: float | None = None,
    ) -> None:
        if runner is None:
            if runtime is None:
                raise ValueError("ProbeManager needs a runtime or a runner")
            runner = runtime_runner(runtime)
        self._runner = runner
        self._on_result = on_result
        self._record_event = record_event
        self._clock = clock
        self._sleep = sleep
        self._random = random
        # When the (podrun) kubelet started: workers created within a period of it stagger their first
        # probe. None means long ago, as for a pod added to a kubelet that has been running for a while.
        self._kubelet_start = kubelet_start
        self._pods: dict[str, JSON] = {}
        self._containers: dict[tuple[str, str], _ContainerView] = {}
        self._results: dict[ProbeType, dict[str, ProbeResult | None]] = {
            "startup": {},
            "liveness": {},
            "readiness": {},
        }
        self._workers: dict[tuple[str, str, ProbeType], ProbeWorker] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add_pod(self, pod: JSON) -> None:
        """`AddPod`: start a worker for each probe of each container and sidecar that has none yet."""
        uid = _uid(pod)
        self._pods[uid] = pod
        spec = pod.get("spec") or {}
        sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
        for container in [*(spec.get("containers") or []), *sidecars]:
            name = str(container.get("name", ""))
            for probe_type in cast(tuple[ProbeType, ...], ("startup", "readiness", "liveness")):
                key = (uid, name, probe_type)
                if container.get(PROBE_KEYS[probe_type]) is None or key in self._workers:
                    continue
                self._start_worker(key, pod, container)

    def update_pod(self, pod: JSON) -> None:
        """The newest version of a pod: workers read its deletion and `status.phase` at their next tick."""
        uid = _uid(pod)
        if uid in self._pods:
            self._pods[uid] = pod

    def update_container(
        self,
        uid: str,
        name: str,
        container_id: str,
        *,
        started_at: float,
        running: bool,
        terminated: bool = False,
        sandbox_id: str = "",
    ) -> None:
        """Record the runtime's newest instance of a container (what the status manager would hold).

        `started_at` is in Unix seconds. `terminated` tells an exited instance from one only created (an
        exited one ends its workers when it will not be restarted), and `sandbox_id` is the sandbox that
        TCP and HTTP probes dial into.
        """
        view = _ContainerView(container_id, sandbox_id, started_at, running, terminated)
        self._containers[(uid, name)] = view

    def stop_liveness_and_startup(self, uid: str) -> None:
        """`StopLivenessAndStartup` at pod termination: readiness keeps running (regular containers only)."""
        for container in (self._pods.get(uid, {}).get("spec") or {}).get("containers") or []:
            for probe_type in cast(tuple[ProbeType, ...], ("liveness", "startup")):
                worker = self._workers.get((uid, str(container.get("name", "")), probe_type))
                if worker is not None:
                    worker.stop()

    def remove_pod(self, uid: str) -> None:
        """`RemovePod`: stop the pod's workers (each drops its results as it exits) and forget the pod."""
        for (pod_uid, _, _), worker in list(self._workers.items()):
            if pod_uid == uid:
                worker.stop()
        self._pods.pop(uid, None)
        for view_key in [view_key for view_key in self._containers if view_key[0] == uid]:
            del self._containers[view_key]

    def stop(self) -> None:
        """Stop every worker of every pod (kubelet shutdown); `join` waits for them."""
        for worker in list(self._workers.values()):
            worker.stop()

    async def join(self) -> None:
        """Wait until every worker that was stopped, or ended by itself, has exited."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def results(self, container_id: str) -> tuple[ProbeResult | None, ProbeResult | None, ProbeResult | None]:
        """The published (startup, liveness, readiness) results of one container instance; None if none."""
        return (
            self._results["startup"].get(container_id),
            self._results["liveness"].get(container_id),
            self._results["readiness"].get(container_id),
        )

    def is_started(self, uid: str, name: str, container_id: str) -> bool:
        """`isContainerStarted` for the *running* instance `container_id` of container `name`.

        Started when its startup result is Success; without a result, when the container has no startup
        probe (or its startup worker is gone). The caller checks that the instance runs, as
        `UpdatePodStatus` checks `State.Running`: an instance that is not running is never started.
        """
        startup = self._results["startup"]
        if container_id in startup:
            return startup[container_id] == "success"
        return (uid, name, "startup") not in self._workers

    def is_ready(self, uid: str, name: str, container_id: str) -> bool:
        """`UpdatePodStatus`'s ready for the *running* instance `container_id`: started, and readiness
        Success or no readiness probe.

        As in the kubelet, asking about a container whose readiness worker has no Success yet triggers an
        immediate readiness probe.
        """
        if not self.is_started(uid, name, container_id):
            return False
        if self._results["readiness"].get(container_id) == "success":
            return True
        worker = self._workers.get((uid, name, "readiness"))
        if worker is None:
            return True
        worker.trigger()
        return False

    def _start_worker(self, key: tuple[str, str, ProbeType], pod: JSON, container: Mapping[str, Any]) -> None:
        uid, name, probe_type = key

        def record(type: str, reason: str, message: str, field_path: str) -> None:
            # Events name the newest version of the pod (its resourceVersion), as the kubelet's do.
            self._record_event(self._pods.get(uid, pod), type, reason, message, field_path)

        def publish(container: str, container_id: str, kind: ProbeType, result: ProbeResult | None) -> None:
            self._on_result(uid, container, container_id, kind, result)

        worker = ProbeWorker(
            pod,
            container,
            probe_type,
            runner=self._runner,
            status=lambda: self._target(uid, name),
            results=self._results[probe_type],
            on_result=publish,
            record_event=record,
            clock=self._clock,
            sleep=self._sleep,
            random=self._random,
            kubelet_start=self._kubelet_start,
        )
        self._workers[key] = worker
        task = asyncio.get_running_loop().create_task(self._run(key, worker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _target(self, uid: str, name: str) -> TargetStatus | None:
        pod = self._pods.get(uid)
        if pod is None:
            return None  # removed: the worker waits for its stop
        phase = str((pod.get("status") or {}).get("phase") or "")
        deleting = (pod.get("metadata") or {}).get("deletionTimestamp") is not None
        view = self._containers.get((uid, name))
        if view is None:
            return TargetStatus(phase=phase, deleting=deleting)
        return TargetStatus(
            phase=phase,
            deleting=deleting,
            container_id=view.container_id,
            sandbox_id=view.sandbox_id,
            running=view.running,
            terminated=view.terminated,
            started_at=view.started_at,
            started=view.running and self.is_started(uid, name, view.container_id),
        )

    async def _run(self, key: tuple[str, str, ProbeType], worker: ProbeWorker) -> None:
        try:
            await worker.run()
        finally:
            # removeWorker: once gone, the container counts as having no such probe.
            if self._workers.get(key) is worker:
                del self._workers[key]


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid", ""))
