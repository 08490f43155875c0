"""`LocalRuntime.attach` with real containers: conmon's attach socket, stdin pipe and terminal.

An attach sees what the container's own process writes from then on (stdout and stderr apart, or one terminal),
passes input to a container created with stdin, resizes a container's terminal, and detaching leaves the
container running. Nothing here sleeps for a fixed time: a test reads until what it waits for arrives.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from podrun.runtime.local import LocalRuntime
from podrun.runtime.protocol import (
    ContainerConfig,
    ContainerState,
    EventKind,
    RuntimeError_,
    SandboxConfig,
    SandboxStatus,
)

POD_LABELS = {
    "io.kubernetes.pod.name": "web-0",
    "io.kubernetes.pod.namespace": "default",
    "io.kubernetes.pod.uid": "1234-abcd",
}
# How long a test waits for something that takes milliseconds; only reached when something is broken.
TIMEOUT = 10.0
# Prints a numbered line to stdout and to stderr every 0.2 s; exits at once on SIGTERM.
TICKER = "trap 'exit 0' TERM; i=0; while true; do echo out-$i; echo err-$i >&2; i=$((i+1)); sleep 0.2; done"


def sh(name: str, script: str, **fields: Any) -> ContainerConfig:
    """A busybox container of the test pod running `sh -c script`; `fields` are other `ContainerConfig` fields."""
    return ContainerConfig(name=name, image="busybox", command=("sh", "-c", script), labels=POD_LABELS, **fields)


async def start(rt: LocalRuntime, sandbox_id: str, config: ContainerConfig) -> str:
    """Create and start a container; its ID."""
    container_id = await rt.create_container(sandbox_id, config)
    await rt.start_container(container_id)
    return container_id


async def read_until(chunks: AsyncIterator[bytes], pattern: bytes) -> bytes:
    """What the stream produced up to and including the first match of the regex `pattern`."""
    seen = b""
    async with asyncio.timeout(TIMEOUT):
        async for chunk in chunks:
            seen += chunk
            if re.search(pattern, seen):
                return seen
    raise AssertionError(f"the stream ended before {pattern!r}: {seen!r}")


async def read_all(chunks: AsyncIterator[bytes]) -> bytes:
    """Everything the stream produces until it ends."""
    async with asyncio.timeout(TIMEOUT):
        return b"".join([chunk async for chunk in chunks])


async def is_running(rt: LocalRuntime, container_id: str) -> bool:
    """True when the runtime reports the container running and it answers an exec."""
    if (await rt.container_status(container_id)).state != ContainerState.RUNNING:
        return False
    return (await rt.exec_sync(container_id, ["true"], TIMEOUT)).exit_code == 0


@pytest.fixture
async def sandbox(runtime: LocalRuntime) -> SandboxStatus:
    """The test pod's sandbox."""
    config = SandboxConfig(
        name="web-0", namespace="default", uid="1234-abcd", hostname="web-0",
        hosts_file="127.0.0.1\tlocalhost\n", resolv_conf="nameserver 127.0.0.1\n", labels=dict(POD_LABELS),
    )  # fmt: skip
    return await runtime.create_sandbox(config)


async def test_attach_streams_later_output_apart_and_detaching_leaves_the_container_running(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    ticker = await start(runtime, sandbox.id, sh("ticker", TICKER))
    streams = await runtime.attach(ticker)
    assert streams.stderr is not None

    out = await read_until(streams.stdout, rb"out-(\d+)\n(.|\n)*out-\d+\n")
    err = await read_until(streams.stderr, rb"err-\d+\n")
    streams.kill()

    numbers = [int(n) for n in re.findall(rb"out-(\d+)\n", out)]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), out  # consecutive, from where it was
    assert b"err-" not in out and b"out-" not in err
    assert await read_all(streams.stdout) == b""  # detached: the streams end
    assert await asyncio.wait_for(streams.wait(), TIMEOUT) == 0
    assert await is_running(runtime, ticker)


async def test_attach_starts_with_the_output_from_now_on(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    ticker = await start(runtime, sandbox.id, sh("ticker", TICKER))
    first = await runtime.attach(ticker)
    await read_until(first.stdout, rb"out-2\n")
    first.kill()

    second = await runtime.attach(ticker)
    out = await read_until(second.stdout, rb"out-\d+\n")
    second.kill()

    assert int(re.findall(rb"out-(\d+)\n", out)[0]) >= 3, out


async def test_stdin_reaches_a_stdin_once_container_and_closing_it_ends_the_container(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    events = runtime.events()
    try:
        cat = await start(runtime, sandbox.id, sh("cat", "cat; echo bye", stdin=True, stdin_once=True))
        streams = await runtime.attach(cat)

        await streams.stdin(b"hello\n")
        assert await read_until(streams.stdout, rb"hello\n") == b"hello\n"
        big = b"".join(b"line %05d\n" % i for i in range(5000))  # 55 KB: more than one message to conmon
        await streams.stdin(big)
        assert await read_until(streams.stdout, rb"line 04999\n") == big
        await streams.close_stdin()

        assert await read_all(streams.stdout) == b"bye\n"
        assert await asyncio.wait_for(streams.wait(), TIMEOUT) == 0
        async with asyncio.timeout(TIMEOUT):
            async for event in events:
                if event.status.id == cat and event.kind == EventKind.EXITED:
                    assert event.status.exit_code == 0
                    break
    finally:
        events.close()


async def test_a_container_leaving_stdin_open_keeps_it_across_attaches(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    cat = await start(runtime, sandbox.id, sh("cat", "cat", stdin=True))

    first = await runtime.attach(cat)
    await first.stdin(b"one\n")
    assert await read_until(first.stdout, rb"one\n") == b"one\n"
    await first.close_stdin()  # ends this attach only: the container's stdin stays open
    assert await read_all(first.stdout) == b""
    assert await asyncio.wait_for(first.wait(), TIMEOUT) == 0

    second = await runtime.attach(cat)
    await second.stdin(b"two\n")
    assert await read_until(second.stdout, rb"two\n") == b"two\n"
    second.kill()
    assert await is_running(runtime, cat)


async def test_a_tty_container_gets_its_terminal_resized(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    script = "while read line; do echo size=$(stty size); done"
    shell = await start(runtime, sandbox.id, sh("shell", script, stdin=True, tty=True))
    streams = await runtime.attach(shell)
    assert streams.stderr is None  # a terminal has one output

    streams.resize(100, 40)  # width, height
    # conmon resizes through its control FIFO and reads stdin from the socket: either may come first.
    async with asyncio.timeout(TIMEOUT):
        while True:
            await streams.stdin(b"\r")
            if b"size=40 100" in await read_until(streams.stdout, rb"size=[\d ]*\r\n"):
                break
    streams.kill()
    assert await is_running(runtime, shell)


async def test_attaching_to_an_exited_container_is_an_error(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    events = runtime.events()
    try:
        done = await start(runtime, sandbox.id, sh("done", "true"))
        async with asyncio.timeout(TIMEOUT):
            async for event in events:
                if event.status.id == done and event.kind == EventKind.EXITED:
                    break
    finally:
        events.close()

    with pytest.raises(RuntimeError_) as raised:
        await runtime.attach(done)
    assert raised.value.reason == "NotRunning"
