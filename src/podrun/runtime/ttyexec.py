"""Interactive exec through the OCI runtime: plain pipes, or a pseudo-terminal.

With a tty, `runc exec --tty --console-socket S` sends the terminal's master side to the socket
S as an SCM_RIGHTS message; podrun reads and writes it, and resizes it with TIOCSWINSZ.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import secrets
import signal
import socket
import struct
import termios
from collections.abc import AsyncIterator
from pathlib import Path

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
    base: list[str], container_id: str, cmd: list[str], *, tty: bool, stdin: bool, socket_dir: Path
) -> ExecStreams:
    """Start `cmd` in the container through `base` (the runtime's `exec` command line)."""
    if tty:
        return await _start_tty(base, container_id, cmd, socket_dir)
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


async def _start_tty(base: list[str], container_id: str, cmd: list[str], socket_dir: Path) -> ExecStreams:
    path = socket_dir / f"tty-{secrets.token_hex(6)}.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    server.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        proc = await asyncio.create_subprocess_exec(
            *base, "--tty", "--console-socket", str(path), container_id, *cmd,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        accept = asyncio.ensure_future(loop.sock_accept(server))
        exited = asyncio.ensure_future(proc.wait())
        done, _ = await asyncio.wait({accept, exited}, return_when=asyncio.FIRST_COMPLETED)
        if accept not in done:
            accept.cancel()
            err = await proc.stderr.read() if proc.stderr else b""
            raise RuntimeError(f"exec failed: {err.decode(errors='replace').strip()}")
        conn, _ = accept.result()
        with conn:
            conn.setblocking(True)
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
    finally:
        server.close()
        path.unlink(missing_ok=True)
    master = fds[0]
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
        code = await exited
        with contextlib.suppress(OSError):
            os.close(master)
        return code

    def resize(width: int, height: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)

    return ExecStreams(
        stdin=write, close_stdin=close_stdin, stdout=_iter_fd(master), stderr=None,
        wait=wait, resize=resize, kill=kill,
    )  # fmt: skip
