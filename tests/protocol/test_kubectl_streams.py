"""The real kubectl against podrun's streaming endpoints: exec, attach and port-forward.

A tiny aiohttp API server serves just what kubectl asks before streaming (discovery and GET pod, spec §0.1) and
the `podrun.api.streams` handlers. Its backend runs commands as local processes and "dials the pod" on
127.0.0.1: this tests the protocols, not containers. The server's `/version` minor picks the kubectl the
dispatcher runs, and with it the protocols: 1.29 execs over SPDY and port-forwards over raw SPDY, 1.30 execs over
WebSocket v5, 1.31+ also tunnels port-forward's SPDY in a WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import re
import select
import shutil
import socket
import struct
import termios
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from podrun.api.streams.backend import StreamError
from podrun.api.streams.exec import handle_exec
from podrun.api.streams.portforward import handle_portforward
from podrun.runtime.protocol import ExecStreams
from podrun.runtime.ttyexec import start_exec

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")

POD, CONTAINER, UID = "web", "c", "0c0ffee0-0000-4000-8000-000000000001"
MINORS = ["29", "30", "32", "33"]
TIMEOUT = 60.0

# podrun's own exec adapter runs `<base> [--tty] <container id> <command…>`; this base drops the two runtime
# arguments and runs the command on the host, so the test exercises the real pipe/pty plumbing.
LOCAL_EXEC = ["sh", "-c", '[ "$1" = --tty ] && shift; shift; exec "$@"', "local-exec"]


class LocalBackend:
    """A StreamBackend whose pod is this machine: commands are local processes, ports are 127.0.0.1's."""

    async def exec(
        self, namespace: str, pod: str, container: str, command: list[str], *, tty: bool, stdin: bool
    ) -> ExecStreams:
        if container != CONTAINER:
            raise StreamError(400, f"container {container} is not valid for pod {pod}")
        return await start_exec(LOCAL_EXEC, "host", command, tty=tty, stdin=stdin)

    async def attach(self, namespace: str, pod: str, container: str, *, tty: bool, stdin: bool) -> ExecStreams:
        script = "echo attached-out; echo attached-err >&2"
        return await start_exec(LOCAL_EXEC, "host", ["sh", "-c", script], tty=tty, stdin=stdin)

    async def dial(self, namespace: str, pod: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", port)


def pod_object() -> dict[str, object]:
    """A Running pod with one container, enough for kubectl's checks before exec/attach/port-forward."""
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": POD, "namespace": "default", "uid": UID, "resourceVersion": "1",
                     "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": CONTAINER, "image": "busybox"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [{"name": CONTAINER, "ready": True, "restartCount": 0, "image": "busybox",
                                   "imageID": "", "started": True,
                                   "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}],
        },
    }  # fmt: skip


@dataclass
class FakeApiServer:
    """The API server under test, and how to run kubectl against it."""

    minor: str
    tmp: Path
    port: int = 0
    upgrades: list[tuple[str, str]] = field(default_factory=list)  # (subresource, protocol) per upgrade request
    extra_env: dict[str, str] = field(default_factory=dict)  # for kubectl

    def app(self) -> web.Application:
        backend = LocalBackend()

        async def version(_: web.Request) -> web.Response:
            return web.json_response({"major": "1", "minor": self.minor, "gitVersion": f"v1.{self.minor}.0",
                                      "gitCommit": "0" * 40, "gitTreeState": "clean",
                                      "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0",
                                      "compiler": "gc", "platform": "linux/amd64"})  # fmt: skip

        async def api(_: web.Request) -> web.Response:
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}]})  # fmt: skip

        async def apis(_: web.Request) -> web.Response:
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

        async def api_v1(_: web.Request) -> web.Response:
            return web.json_response({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "shortNames": ["po"],
                 "verbs": ["create", "delete", "get", "list", "patch", "watch"]}]})  # fmt: skip

        async def get_pod(request: web.Request) -> web.Response:
            if request.match_info["name"] != POD:
                return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                          "reason": "NotFound", "code": 404,
                                          "message": f'pods "{request.match_info["name"]}" not found'},
                                         status=404)  # fmt: skip
            return web.json_response(pod_object())

        def record(request: web.Request, subresource: str) -> None:
            if request.headers.get("Upgrade", "").lower() == "websocket":
                self.upgrades.append((subresource, "websocket:" + request.headers.get("Sec-WebSocket-Protocol", "")))
            else:
                self.upgrades.append((subresource, "spdy:" + request.headers.get("X-Stream-Protocol-Version", "")))

        async def exec_(request: web.Request) -> web.StreamResponse:
            record(request, "exec")
            return await handle_exec(request, backend, request.match_info["ns"], request.match_info["name"])

        async def attach(request: web.Request) -> web.StreamResponse:
            record(request, "attach")
            return await handle_exec(request, backend, request.match_info["ns"], request.match_info["name"],
                                     attach=True)  # fmt: skip

        async def portforward(request: web.Request) -> web.StreamResponse:
            record(request, "portforward")
            return await handle_portforward(request, backend, request.match_info["ns"], request.match_info["name"],
                                            uid=UID)  # fmt: skip

        app = web.Application()
        pod_path = "/api/v1/namespaces/{ns}/pods/{name}"
        app.router.add_get("/version", version)
        app.router.add_get("/api", api)
        app.router.add_get("/apis", apis)
        app.router.add_get("/api/v1", api_v1)
        app.router.add_get(pod_path, get_pod)
        for method in ("GET", "POST"):
            app.router.add_route(method, pod_path + "/exec", exec_)
            app.router.add_route(method, pod_path + "/attach", attach)
            app.router.add_route(method, pod_path + "/portforward", portforward)
        return app

    def kubectl_command(self, *args: str) -> list[str]:
        kubeconfig = self.tmp / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "t", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t", "namespace": "default"}}],
            "users": [{"name": "t", "user": {}}],
        }))  # fmt: skip
        return ["kubectl", f"--kubeconfig={kubeconfig}", f"--cache-dir={self.tmp / 'cache'}", *args]

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.tmp), **self.extra_env}

    async def kubectl(self, *args: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        """Run kubectl to completion: (exit code, stdout, stderr)."""
        proc = await asyncio.create_subprocess_exec(
            *self.kubectl_command(*args), env=self.env(),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), TIMEOUT)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode is not None
        return proc.returncode, out, err

    def protocols(self, subresource: str) -> list[str]:
        return [protocol for name, protocol in self.upgrades if name == subresource]


@contextlib.asynccontextmanager
async def running_server(minor: str, tmp: Path) -> AsyncIterator[FakeApiServer]:
    """The fake API server on 127.0.0.1, reporting minor version `minor` (which picks the kubectl)."""
    api = FakeApiServer(minor=minor, tmp=tmp)
    # As podrun's server runs: handlers are cancelled when their client goes away.
    runner = web.AppRunner(api.app(), handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.port = runner.addresses[0][1]
    try:
        yield api
    finally:
        await runner.cleanup()


@pytest.fixture(params=MINORS, ids=[f"kubectl-1.{m}" for m in MINORS])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FakeApiServer]:
    """`running_server` for each kubectl version under test."""
    async with running_server(request.param, tmp_path) as api:
        yield api


def expected_exec_protocol(minor: str) -> str:
    return "spdy:" if int(minor) < 30 else "websocket:v5.channel.k8s.io"


def expected_portforward_protocol(minor: str) -> str:
    return "spdy:portforward.k8s.io" if int(minor) < 31 else "websocket:SPDY/3.1+portforward.k8s.io"


# -- exec and attach ---------------------------------------------------------------------------------------


async def test_exec_prints_output_and_exits_with_the_command_code(server: FakeApiServer) -> None:
    rc, out, err = await server.kubectl(
        "exec", POD, "-c", CONTAINER, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3"
    )
    assert (rc, out) == (3, b"hi\n"), err
    assert b"oops\n" in err
    assert b"command terminated with exit code 3" in err
    assert server.protocols("exec")[-1].startswith(expected_exec_protocol(server.minor))


async def test_exec_success(server: FakeApiServer) -> None:
    rc, out, err = await server.kubectl("exec", POD, "-c", CONTAINER, "--", "echo", "ok")
    assert (rc, out, err) == (0, b"ok\n", b"")


async def test_exec_reports_death_by_signal_as_128_plus_the_signal(server: FakeApiServer) -> None:
    rc, _, err = await server.kubectl("exec", POD, "-c", CONTAINER, "--", "sh", "-c", "kill -9 $$")
    assert rc == 137, err
    assert b"command terminated with exit code 137" in err


async def test_exec_pipes_stdin_until_eof(server: FakeApiServer) -> None:
    data = b"".join(b"line %06d of the input\n" % i for i in range(12000))  # ~280 KB: many frames and windows
    rc, out, err = await server.kubectl("exec", "-i", POD, "-c", CONTAINER, "--", "sh", "-c", "cat; echo done",
                                        stdin=data)  # fmt: skip
    assert rc == 0, err
    assert out == data + b"done\n"


async def test_exec_unknown_container_is_a_bad_request(server: FakeApiServer) -> None:
    rc, _, err = await server.kubectl("exec", POD, "-c", "nope", "--", "true")
    assert rc == 1
    assert b"Error from server (BadRequest): container nope is not valid for pod web" in err
    # kubectl 1.30+ falls back from the refused WebSocket to SPDY, which is refused the same way.
    assert server.protocols("exec")[-1].startswith("spdy:")


async def test_exec_with_a_terminal(server: FakeApiServer) -> None:
    # The size reaches the terminal in a resize message after the command started: poll for it, generously.
    script = ('for i in $(seq 600); do s=$(stty size); [ "$s" = "40 100" ] && break; sleep 0.1; done; '
              'tty >/dev/null && echo "tty:yes size:$s"')  # fmt: skip
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    try:
        proc = await asyncio.create_subprocess_exec(
            *server.kubectl_command("exec", "-it", POD, "-c", CONTAINER, "--", "sh", "-c", script),
            env=server.env(), stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(slave)
    try:
        output = await asyncio.to_thread(read_terminal, master, TIMEOUT)
        rc = await asyncio.wait_for(proc.wait(), TIMEOUT)
    finally:
        os.close(master)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert rc == 0, output
    assert b"tty:yes size:40 100" in output


async def test_the_command_is_killed_when_kubectl_goes_away(server: FakeApiServer) -> None:
    pidfile = server.tmp / "pid"
    script = f"echo $$ > {pidfile}; exec sleep 60"
    proc = await asyncio.create_subprocess_exec(
        *server.kubectl_command("exec", POD, "-c", CONTAINER, "--", "sh", "-c", script), env=server.env(),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(TIMEOUT):
            while not (pidfile.exists() and pidfile.read_text().strip()):
                await asyncio.sleep(0.05)
        pid = int(pidfile.read_text())
        assert process_running(pid)
    finally:
        proc.kill()
        await proc.wait()
    async with asyncio.timeout(TIMEOUT):
        while process_running(pid):
            await asyncio.sleep(0.05)


def process_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def read_terminal(master: int, timeout: float) -> bytes:
    """Everything written to the pty until its last slave closes (EIO) or the time is up."""
    output, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    return output


async def test_attach_streams_the_output(server: FakeApiServer) -> None:
    rc, out, err = await server.kubectl("attach", POD, "-c", CONTAINER)
    assert (rc, out) == (0, b"attached-out\n"), err
    assert b"attached-err\n" in err
    assert server.protocols("attach")[-1].startswith(expected_exec_protocol(server.minor))


# -- port-forward ------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def http_server(
    name: str, body_size: int, clients: set[int] | None = None, together: int = 1
) -> AsyncIterator[int]:
    """An HTTP server on 127.0.0.1 answering `<name>:<path>` plus `body_size` bytes.

    `clients` collects the source port of every connection. With `together` > 1 no request is answered until
    that many are in progress at once, so the requests must reach the server concurrently (or time out).
    """
    in_progress: list[web.Request] = []
    all_arrived = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        if clients is not None and request.transport is not None:
            clients.add(request.transport.get_extra_info("peername")[1])
        in_progress.append(request)
        if len(in_progress) >= together:
            all_arrived.set()
        await asyncio.wait_for(all_arrived.wait(), TIMEOUT)
        return web.Response(body=f"{name}:{request.path}\n".encode() + b"x" * body_size)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    """Echoes everything back and closes after the client's EOF."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def port_forward(server: FakeApiServer, *remote_ports: int) -> AsyncIterator[tuple[dict[int, int], bytearray]]:
    """Run `kubectl port-forward pod/web :P…`: ({remote port: local port}, its stderr so far)."""
    proc = await asyncio.create_subprocess_exec(
        *server.kubectl_command("port-forward", f"pod/{POD}", *(f":{p}" for p in remote_ports)),
        env=server.env(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    stderr = bytearray()

    async def collect_stderr(stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(4096):
            stderr.extend(chunk)

    stderr_task = asyncio.create_task(collect_stderr(proc.stderr))
    try:
        ports: dict[int, int] = {}
        async with asyncio.timeout(TIMEOUT):
            while len(ports) < len(remote_ports):
                line = await proc.stdout.readline()
                assert line, f"kubectl port-forward ended: {stderr.decode()}"
                if m := re.match(rb"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line):
                    ports[int(m[2])] = int(m[1])
        yield ports, stderr
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await stderr_task


async def http_get(port: int, path: str) -> bytes:
    """One HTTP/1.0 request on its own connection; the response body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: pod\r\n\r\n".encode())
        response = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.split(b"\r\n", 1)[0].split(b" ")[1] == b"200", response[:200]
    return body


async def test_port_forward_concurrent_connections_to_two_ports(server: FakeApiServer) -> None:
    size = 200_000
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(http_server("one", size, together=2))
        two = await stack.enter_async_context(http_server("two", size, together=2))
        local, _ = await stack.enter_async_context(port_forward(server, one, two))
        requests = [http_get(local[one], "/a"), http_get(local[one], "/b"), http_get(local[two], "/c")]
        bodies = await asyncio.gather(*requests, http_get(local[two], "/d"))
    assert [b.split(b"\n", 1)[0] for b in bodies] == [b"one:/a", b"one:/b", b"two:/c", b"two:/d"]
    assert all(len(b) == len("one:/a\n") + size for b in bodies)
    assert server.protocols("portforward")[-1] == expected_portforward_protocol(server.minor)


async def test_port_forward_keeps_a_connection_for_several_requests(server: FakeApiServer) -> None:
    connections: set[int] = set()
    async with contextlib.AsyncExitStack() as stack:
        port = await stack.enter_async_context(http_server("one", 100_000, connections))
        local, _ = await stack.enter_async_context(port_forward(server, port))
        client = await stack.enter_async_context(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)))
        for path in ("/a", "/b", "/c"):
            async with client.get(f"http://127.0.0.1:{local[port]}{path}") as response:
                assert (await response.read())[:7] == f"one:{path}\n".encode()
    assert len(connections) == 1


async def test_port_forward_passes_half_close_both_ways(server: FakeApiServer) -> None:
    data = os.urandom(150_000)
    async with echo_server() as echo, port_forward(server, echo) as (local, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", local[echo])
        writer.write(data)
        await writer.drain()
        writer.write_eof()  # the echo server answers all, then closes: the FIN must travel both ways
        echoed = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()
    assert echoed == data


async def test_port_forward_reports_a_refused_port(server: FakeApiServer) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    async with port_forward(server, dead) as (local, stderr):
        reader, writer = await asyncio.open_connection("127.0.0.1", local[dead])
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()
        message = f"error forwarding port {dead} to pod {POD}, uid {UID}: ".encode()
        async with asyncio.timeout(TIMEOUT):
            while message not in stderr:
                await asyncio.sleep(0.05)


# -- the SPDY fallback of newer kubectls, and other clients ------------------------------------------------


@pytest.mark.parametrize("minor", ["32", "33"])
async def test_newer_kubectl_over_spdy_when_websockets_are_off(minor: str, tmp_path: Path) -> None:
    async with running_server(minor, tmp_path) as server:
        server.extra_env.update(KUBECTL_REMOTE_COMMAND_WEBSOCKETS="false", KUBECTL_PORT_FORWARD_WEBSOCKETS="false")
        rc, out, err = await server.kubectl(
            "exec", "-i", POD, "-c", CONTAINER, "--", "sh", "-c", "cat; exit 4", stdin=b"abc"
        )
        assert (rc, out) == (4, b"abc"), err
        async with http_server("one", 10) as one, port_forward(server, one) as (local, _):
            assert await http_get(local[one], "/x") == b"one:/x\n" + b"x" * 10
    assert server.protocols("exec") == ["spdy:v5.channel.k8s.io"]  # the first of the versions it offers
    assert server.protocols("portforward") == ["spdy:portforward.k8s.io"]


def exec_url(server: FakeApiServer, *command: str, stdin: bool = False) -> str:
    query = [("container", CONTAINER), *(("command", c) for c in command), ("stdout", "true"), ("stderr", "true")]
    if stdin:
        query.append(("stdin", "true"))
    return str(URL(f"http://127.0.0.1:{server.port}/api/v1/namespaces/default/pods/{POD}/exec").with_query(query))


async def channel_messages(ws: aiohttp.ClientWebSocketResponse) -> dict[int, bytes]:
    """Everything the server sent, joined per channel, until it closed."""
    received: dict[int, bytes] = {}
    async for message in ws:
        assert message.type == aiohttp.WSMsgType.BINARY
        received[message.data[0]] = received.get(message.data[0], b"") + message.data[1:]
    assert ws.close_code == 1000
    return received


async def test_websocket_v4_and_v5_for_other_clients(tmp_path: Path) -> None:
    async with running_server("32", tmp_path) as server, aiohttp.ClientSession() as client:
        # v4 has no way to close stdin: the command reads what it needs.
        url = exec_url(server, "sh", "-c", "head -c 5; exit 3", stdin=True)
        async with client.ws_connect(url, protocols=["v4.channel.k8s.io", "channel.k8s.io"]) as ws:
            assert ws.protocol == "v4.channel.k8s.io"
            await ws.send_bytes(b"\x00hello")
            received = await channel_messages(ws)
        assert received[1] == b"hello"
        assert received[3] == (
            b'{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error '
            b'executing command [sh -c head -c 5; exit 3], exit code 3","reason":"NonZeroExitCode",'
            b'"details":{"causes":[{"reason":"ExitCode","message":"3"}]}}'
        )
        # v5 is preferred, and its CLOSE signal ends stdin.
        url = exec_url(server, "sh", "-c", "cat; echo resized >&2", stdin=True)
        async with client.ws_connect(url, protocols=["v4.channel.k8s.io", "v5.channel.k8s.io"]) as ws:
            assert ws.protocol == "v5.channel.k8s.io"
            await ws.send_bytes(b'\x04{"Width":80,"Height":24}\n')  # no terminal: ignored by the command
            await ws.send_bytes(b"\x00abc")
            await ws.send_bytes(b"\xff\x00")
            received = await channel_messages(ws)
        assert received == {1: b"abc", 2: b"resized\n", 3: b'{"metadata":{},"status":"Success"}'}


async def test_requests_refused_before_any_upgrade(tmp_path: Path) -> None:
    async with running_server("32", tmp_path) as server, aiohttp.ClientSession() as client:
        base = f"http://127.0.0.1:{server.port}/api/v1/namespaces/default/pods/{POD}"
        spdy_headers = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}

        async def status(method: str, url: str, **headers: str) -> tuple[int, dict[str, object], str]:
            async with client.request(method, url, headers=headers) as response:
                body = await response.json()
                return response.status, body, response.headers.get("X-Accepted-Stream-Protocol-Versions", "")

        code, body, accepted = await status(
            "POST", exec_url(server, "true"), **spdy_headers, **{"X-Stream-Protocol-Version": "channel.k8s.io"}
        )
        assert (code, body["reason"], accepted) == (403, "Forbidden", "v4.channel.k8s.io")
        code, body, _ = await status("POST", exec_url(server, "true"))
        assert (code, body["message"]) == (400, "Upgrade request required")
        code, body, _ = await status("POST", base + "/exec?command=true&stdout=true", **spdy_headers)
        assert (code, body["message"]) == (400, "a container name must be specified for pod web")
        code, body, _ = await status(
            "GET", base + "/portforward", Connection="Upgrade", Upgrade="websocket",
            **{"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Protocol": "v4.channel.k8s.io"},
        )  # fmt: skip
        assert (code, body["reason"]) == (400, "BadRequest")
