"""Lifecycle hooks: handlers.go's exec, httpGet and sleep handlers and their failure messages."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from podrun.kubelet.hooks import run_hook
from podrun.runtime.protocol import ExecResult, Runtime, RuntimeError_

POD = {"metadata": {"name": "web", "namespace": "default", "uid": "6f1c-uid"}}
APP = {"name": "app", "image": "busybox", "ports": [{"name": "admin", "containerPort": 1}]}
IN_APP = 'for Container "app" in Pod "web_default(6f1c-uid)" failed - error: '


@dataclass
class FakeRuntime:
    """exec_sync scripted; dial connects to 127.0.0.1 on this host."""

    exec_result: ExecResult | Exception = field(default_factory=lambda: ExecResult(0, b"", b""))
    execs: list[tuple[str, list[str], float | None]] = field(default_factory=list)

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float | None) -> ExecResult:
        self.execs.append((container_id, cmd, timeout))
        if isinstance(self.exec_result, Exception):
            raise self.exec_result
        return self.exec_result

    async def dial(self, sandbox_id: str, port: int, host: str = "127.0.0.1") -> tuple[object, object]:
        return await asyncio.open_connection("127.0.0.1", port)


async def hook(handler: dict[str, Any], runtime: FakeRuntime | None = None, **kwargs: Any) -> str | None:
    return await run_hook(
        handler,
        kind="PreStop",
        runtime=cast(Runtime, runtime or FakeRuntime()),
        container_id="c1",
        sandbox_id="s1",
        container=APP,
        pod=POD,
        container_env={"X": "1"},
        **kwargs,
    )


async def test_exec_success_runs_the_command_as_written_without_a_timeout() -> None:
    runtime = FakeRuntime()
    assert await hook({"exec": {"command": ["sh", "-c", "echo $(X)"]}}, runtime) is None
    # No $(VAR) expansion for hooks, and no timeout of their own.
    assert runtime.execs == [("c1", ["sh", "-c", "echo $(X)"], None)]


async def test_exec_failure_message() -> None:
    runtime = FakeRuntime(ExecResult(1, b"out\n", b"err\n"))
    command = ["sh", "-c", "echo out; echo err >&2; exit 1"]
    assert await hook({"exec": {"command": command}}, runtime) == (
        f"Exec lifecycle hook ([sh -c echo out; echo err >&2; exit 1]) {IN_APP}"
        "command 'sh -c echo out; echo err >&2; exit 1' exited with 1: err\n, "
        'message: "out\\nerr\\n"'
    )


async def test_exec_that_cannot_run() -> None:
    runtime = FakeRuntime(RuntimeError_("NotFound", "container c1 is not running"))
    assert await hook({"exec": {"command": ["true"]}}, runtime) == (
        f'Exec lifecycle hook ([true]) {IN_APP}container c1 is not running, message: ""'
    )


@dataclass
class Server:
    port: int = 0
    requests: list[str] = field(default_factory=list)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """Answers 500 to everything in plain HTTP (and 400 to a TLS ClientHello, as HTTP servers do)."""
    state = Server()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await reader.readexactly(1)
            if first == b"\x16":
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return
            state.requests.append((first + await reader.readuntil(b"\r\n\r\n")).decode())
            writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nsad")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield state


async def test_http_succeeds_whatever_the_status_code(server: Server) -> None:
    assert await hook({"httpGet": {"path": "/stop", "port": server.port, "scheme": "HTTP"}}) is None
    assert server.requests == [
        f"GET /stop HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUser-Agent: kube-lifecycle/1.33\r\n"
        "Accept: */*\r\nAccept-Encoding: gzip\r\n\r\n"
    ]


async def test_http_transport_errors_fail_the_hook() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = await hook({"httpGet": {"path": "/stop", "port": port, "scheme": "HTTP"}})
    assert message == (
        f'HTTP lifecycle hook (/stop) {IN_APP}Get "http://127.0.0.1:{port}/stop": '
        f"dial tcp 127.0.0.1:{port}: connect: connection refused"
    )


async def test_http_with_an_unknown_port_name() -> None:
    message = await hook({"httpGet": {"path": "/stop", "port": "web", "scheme": "HTTP"}})
    assert message == f'HTTP lifecycle hook (/stop) {IN_APP}port "web" not found'


async def test_https_answered_in_plain_http_is_retried_over_http(server: Server) -> None:
    events: list[tuple[str, str, str, str]] = []
    handler = {
        "httpGet": {
            "path": "/stop",
            "port": server.port,
            "scheme": "HTTPS",
            "httpHeaders": [{"name": "Authorization", "value": "Bearer x"}],
        }
    }
    assert await hook(handler, record_event=lambda *args: events.append(args)) is None
    assert len(server.requests) == 1
    assert "Authorization" not in server.requests[0]
    assert events == [
        (
            "Warning",
            "LifecycleHTTPFallback",
            f"request to HTTPS lifecycle hook 127.0.0.1:{server.port} got HTTP response, "
            "retry with HTTP succeeded",
            "",
        ),
    ]


async def test_sleep_waits_the_given_seconds() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    assert await hook({"sleep": {"seconds": 5}}, sleep=sleep) is None
    assert await hook({"sleep": {"seconds": 0}}, sleep=sleep) is None
    assert slept == [5.0, 0.0]


async def test_a_preStop_bounded_by_the_caller_is_cancelled_cleanly() -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(hook({"sleep": {"seconds": 30}}), 0.01)


async def test_a_handler_without_an_action() -> None:
    assert str(await hook({})).startswith("Cannot run handler: invalid handler: ")
