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


DEFAULT_WIDTH, DEFAULT_HEIGHT = 80, 24
WINCH_REPEATS = (0.05, 0.2, 0.5)


def _set_size(fd: int, width: int, height: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


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
    _set_size(master, DEFAULT_WIDTH, DEFAULT_HEIGHT)
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

    def notify() -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGWINCH)

    def resize(width: int, height: int) -> None:
        # runc copies our terminal's size into the container's when it gets SIGWINCH; a signal that
        # comes before runc has set up its handler is lost, so it is sent again shortly after.
        _set_size(master, width, height)
        notify()
        loop = asyncio.get_running_loop()
        for delay in WINCH_REPEATS:
            loop.call_later(delay, notify)

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)

    return ExecStreams(
        stdin=write, close_stdin=close_stdin, stdout=_iter_fd(master), stderr=None,
        wait=wait, resize=resize, kill=kill,
    )  # fmt: skip
