"""Starting a created runc container the way `runc start` does, without running runc: through its exec fifo.

After runc's `create`, the container's init waits to open `<runc root>/<id>/exec.fifo` for writing. `runc start`
(libcontainer's `Container.exec`) opens the fifo for reading and reads all the init writes: one byte, then the end
of the file once the init has exec'd the container's process (its end of the fifo is closed on exec); then it
removes the fifo: from then on `runc state`, `kill` and `delete` see the container as running, since runc tells
`created` from `running` by the fifo alone. Doing the same here spares every start a Go process (6-9 ms of CPU on
a 2-core machine, in the middle of an init container hand-off). The fifo is removed right after the byte, before
the exec is awaited: a podrun killed in between then leaves a container that runc calls running, which recovery
adopts, rather than one it calls created while its process runs, which recovery would start again.

Only the case where the start works is done here. When anything else happens (no fifo, the container's init died
before writing its byte) nothing is consumed, and the caller runs the real `runc start`, which reports the
container's state in its own words. runc 1.1 runs no hooks at `start` (poststart hooks run at `create`); later
versions run poststart hooks after the fifo, which podrun never writes. crun's fifo works the other way round
(`crun start` writes, the init reads) and its `start` does more, so crun always runs its own `start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from pathlib import Path

from podrun.runtime import processes

FIFO_NAME = "exec.fifo"


async def start(state_dir: Path, conmon_pidfd: int) -> bool:
    """Release the container's init through its exec fifo; False when the fifo did not release it.

    `state_dir` is the container's directory under runc's root; `conmon_pidfd` the pidfd of its conmon, which
    exits once the init is dead: the init never writes then, and the fifo alone would never wake this wait.
    """
    fifo = state_dir / FIFO_NAME
    try:
        # Non-blocking: opening a fifo to read would otherwise wait for its writer, the init.
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # gone (started already) or not to be opened: `runc start` says what the container is
        return False
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        # A reader on a copy: the runtime already watches the pidfd itself, and the loop takes one reader per fd.
        conmon = os.dup(conmon_pidfd)
        try:
            if not await _read(fd, conmon, 1):
                return False
            # Right after the byte (no await between): `runc state` then says `running`.
            with contextlib.suppress(FileNotFoundError):
                fifo.unlink()
            while await _read(fd, conmon, 4096):  # to the end: the init's exec closes its end of the fifo
                pass
        finally:
            os.close(conmon)
    finally:
        os.close(fd)
    return True


async def _read(fd: int, conmon: int, size: int) -> bytes:
    """The next bytes the init writes; b"" once its end is closed (its exec or its death, or it never wrote) or
    its conmon has exited."""
    while True:
        await _any_readable(fd, conmon)
        try:
            # Only after a wake-up: before its writer opens, a non-blocking fifo reads as empty (b"").
            return os.read(fd, size)
        except BlockingIOError:  # the init has the fifo open and has not written (more) yet
            if processes.has_exited(conmon):
                return b""


async def _any_readable(*fds: int) -> None:
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    for fd in fds:
        loop.add_reader(fd, wake)
    try:
        await woken
    finally:
        for fd in fds:
            loop.remove_reader(fd)
