"""Attaching to a container's own stdio through conmon's attach socket and control FIFO.

conmon (2.1.x) listens on `<bundle>/attach`, a SOCK_SEQPACKET unix socket (it also links
`<socket-dir>/<cuuid>` to the bundle; podrun connects through `/proc/self/fd/<dir>/attach` instead, so
the bundle's path may be any length). Every message from conmon is one pipe byte (2 stdout, 3 stderr;
a terminal's output is all stdout) followed by what the container wrote from then on. Messages to
conmon are the container's stdin, if conmon was started with `--stdin`; conmon reads at most 32767
bytes of one message. A client that shuts down its writing side (or goes away) makes conmon close the
container's stdin unless it was started with `--leave-stdin-open`. Terminal resizes are lines
`1 <height> <width>` written to the FIFO `<bundle>/ctl`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from podrun.runtime.protocol import ExecStreams

STDERR_PIPE = 3
WIN_RESIZE_EVENT = 1
RECV_SIZE = 65536  # more than conmon sends in one message (8 KiB of output plus the pipe byte)
STDIN_CHUNK = 8192  # well under the 32767 bytes conmon reads of one message: it drops the rest
QUEUED_MESSAGES = 16  # per stream: a slow client slows conmon down rather than filling podrun's memory
SEND_RETRY_SECONDS = 0.005


def _connect(bundle: Path) -> socket.socket:
    dir_fd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{dir_fd}/attach")
    except OSError:
        sock.close()
        raise
    finally:
        os.close(dir_fd)
    sock.setblocking(False)
    return sock


async def _iterate(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (chunk := await queue.get()) is not None:
        yield chunk


class _Attachment:
    """One connection to conmon's attach socket; a task copies its messages into one queue per stream."""

    def __init__(
        self, sock: socket.socket, ctl: int, *, stdin: bool, leave_stdin_open: bool, tty: bool,
        exit_code: Callable[[], Awaitable[int]],
    ) -> None:  # fmt: skip
        self.sock, self.ctl = sock, ctl
        self.stdin_enabled, self.leave_stdin_open, self.tty = stdin, leave_stdin_open, tty
        self.exit_code = exit_code
        self.stdout: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUED_MESSAGES)
        self.stderr: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUED_MESSAGES)
        self.ended_here = False  # the attach was ended from this side, not by conmon (the container's exit)
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        queues = (self.stdout, self.stderr)
        try:
            with contextlib.suppress(OSError):
                while message := await loop.sock_recv(self.sock, RECV_SIZE):
                    to_stderr = message[0] == STDERR_PIPE and not self.tty
                    await (self.stderr if to_stderr else self.stdout).put(message[1:])
            for queue in queues:
                await queue.put(None)
        except asyncio.CancelledError:
            # Detached: nobody reads the rest any more, and the iterators must end.
            for queue in queues:
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)
            raise
        finally:
            self.sock.close()
            if self.ctl >= 0:
                os.close(self.ctl)
                self.ctl = -1

    async def write(self, data: bytes) -> None:
        if not self.stdin_enabled:
            return  # the container has no stdin: conmon would hold the data back forever
        view = memoryview(data)
        while view:
            try:
                # Sent without the event loop's help, so that the socket can be closed at any time.
                view = view[self.sock.send(view[:STDIN_CHUNK]) :]
            except BlockingIOError:
                await asyncio.sleep(SEND_RETRY_SECONDS)

    async def close_stdin(self) -> None:
        if not self.stdin_enabled:
            return
        if self.leave_stdin_open and not self.tty:
            # As CRI-O: the container's stdin stays open for the next attach, so nothing more can happen here.
            self.ended_here = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        else:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)

    async def wait(self) -> int:
        await asyncio.wait({self.pump})
        return 0 if self.ended_here or self.pump.cancelled() else await self.exit_code()

    def resize(self, width: int, height: int) -> None:
        if self.ctl >= 0:
            with contextlib.suppress(OSError):
                os.write(self.ctl, f"{WIN_RESIZE_EVENT} {height} {width}\n".encode())

    def detach(self) -> None:
        self.pump.cancel()

    def streams(self) -> ExecStreams:
        return ExecStreams(
            stdin=self.write, close_stdin=self.close_stdin, stdout=_iterate(self.stdout),
            stderr=None if self.tty else _iterate(self.stderr), wait=self.wait, resize=self.resize,
            kill=self.detach,
        )  # fmt: skip


async def attach_conmon(
    bundle: Path, *, stdin: bool, leave_stdin_open: bool, tty: bool, exit_code: Callable[[], Awaitable[int]]
) -> ExecStreams:
    """Attach to the container whose conmon uses `bundle`; the flags are those conmon was started with.

    Only output written from now on is seen. `wait()` returns once conmon closed the socket (the container
    exited: then it returns `exit_code()`) or the attach was ended here (then 0). `kill()` detaches and leaves
    the container running. Closing stdin closes the container's stdin, unless conmon leaves it open: then,
    without a terminal, it ends the attach, as CRI-O's does. `OSError` if conmon does not listen (the container
    is gone).
    """
    sock = await asyncio.to_thread(_connect, bundle)
    ctl = -1
    if tty:
        with contextlib.suppress(OSError):
            # Non-blocking: opening a FIFO nobody reads (conmon is gone) fails instead of hanging.
            ctl = os.open(bundle / "ctl", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    attachment = _Attachment(sock, ctl, stdin=stdin, leave_stdin_open=leave_stdin_open, tty=tty, exit_code=exit_code)
    return attachment.streams()
