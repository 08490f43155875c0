"""Interactive exec through the OCI runtime: plain pipes, or a pseudo-terminal.

With a tty, podrun makes a pseudo-terminal and runs `runc exec --tty` on its slave side; runc
relays it into a terminal of the container's own. podrun reads and writes the master side, and
resizes it with TIOCSWINSZ followed by SIGWINCH, which runc passes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import AsyncIterator

from podrun.runtime.protocol import ExecStreams


async def _iter_stream(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while chunk := await reader.read(65536):
        yield chunk


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _iter_fd(fd: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    while True:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _settle, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            continue
        except OSError as e:
            if e.errno == errno.EIO:  # the terminal's last slave closed: the process is gone
                return
            raise
        if not chunk:
            return
        yield chunk


async def start_exec(
    base: list[str], container_id: str, cmd: list[str], *, tty: bool, stdin: bool
) -> ExecStreams:
    """Start `cmd` in the container through `base` (the runtime's `exec` command line)."""
    if tty:
        return await _start_tty(base, container_id, cmd)
    proc = await asyncio.create_subprocess_exec(
        *base, container_id, *cmd,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None

    async def write(data: bytes) -> None:
        if proc.stdin is not None:
            proc.stdin.write(data)
            with contextlib.suppress(ConnectionError):
                await proc.stdin.drain()

    async def close_stdin() -> None:
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)

    return ExecStreams(
        stdin=write, close_stdin=close_stdin, stdout=_iter_stream(proc.stdout), stderr=_iter_stream(proc.stderr),
        wait=proc.wait, resize=lambda _w, _h: None, kill=kill,
    )  # fmt: skip


async def _start_tty(base: list[str], container_id: str, cmd: list[str]) -> ExecStreams:
    master, slave = os.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            *base, "--tty", container_id, *cmd,
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(slave)
    os.set_blocking(master, False)

    async def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(master, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.005)

    async def close_stdin() -> None:
        await write(b"\x04")  # end of input, as a terminal sends it

    async def wait() -> int:
        code = await proc.wait()
        with contextlib.suppress(OSError):
            os.close(master)
        return code

    def resize(width: int, height: int) -> None:
        # runc copies the new size into the container's terminal when it gets SIGWINCH.
        with contextlib.suppress(OSError):
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGWINCH)

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)

    return ExecStreams(
        stdin=write, close_stdin=close_stdin, stdout=_iter_fd(master), stderr=None,
        wait=wait, resize=resize, kill=kill,
    )  # fmt: skip
