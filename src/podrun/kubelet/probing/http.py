"""A minimal HTTP/1.1 client with Go's net/http behaviour, and the httpGet probe (`pkg/probe/http`).

The client is written over a stream dialed through the runtime (no HTTP library can dial inside the pod's
network namespace), and reproduces the requests and error texts of the Go clients the kubelet uses: the
probe client (`http_probe`, `DoHTTPProbe`) and the lifecycle client of httpGet hooks (`hooks.py`).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from podrun.kubelet.probing.outcome import MAX_OUTPUT_BYTES, ProbeOutcome
from podrun.kubelet.probing.target import (
    KUBE_VERSION,
    POD_IP,
    Dial,
    close_writer,
    dial_error,
    io_error,
    join_host_port,
    resolve_port,
)
from podrun.model.errors import go_quote
from podrun.runtime.protocol import RuntimeError_

# http.RedirectChecker: "stopped after 10 redirects".
MAX_REDIRECTS = 10


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
                raise HTTPBodyError(io_error(exc)) from None
            raise HTTPClientError(f"Get {go_quote(str(url))}: {io_error(exc)}") from None
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


@functools.cache
def _unverified_tls() -> ssl.SSLContext:
    """One client context for every HTTPS probe and hook, with no CA: `ssl.create_default_context()` parsed the
    system's CA bundle (~20 ms of CPU, ~2.5 MiB of heap) at every probe only for it to go unused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _start_tls(url: URL, writer: asyncio.StreamWriter) -> None:
    # The kubelet's transports skip certificate verification (InsecureSkipVerify); SNI is the URL's host.
    try:
        await writer.start_tls(_unverified_tls(), server_hostname=None if _is_ip(url.hostname) else url.hostname)
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


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def http_probe(request: HTTPRequest, dial: Dial, timeout: float) -> ProbeOutcome:
    """DoHTTPProbe: `request` with the probe client (no keep-alives, no gzip), bounded by `timeout`.

    A client error is a failure with the error as the output; 2xx succeeds; 3xx (a redirect that was not
    followed, e.g. to another host) succeeds with a warning; anything else fails.
    """
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
