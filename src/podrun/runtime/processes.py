"""Waiting on processes from the event loop: through pidfds, never by polling, and for the OCI runtime's commands
that a podrun before this one left running on its root; signalling a container's init and killing its PID namespace
through a pidfd."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import time
from pathlib import Path


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_readable(fd: int, timeout: float) -> None:
    """Wait until `fd` (a pidfd: its process has exited) is readable, at most `timeout` seconds."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, _settle, ready)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(fd)


def has_exited(pidfd: int) -> bool:
    """Whether the process of `pidfd` has exited (its pidfd is readable), without waiting."""
    # poll, not select: a busy serve's pidfds are numbered past select's 1024.
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def oci_commands_under(oci_root: Path) -> list[int]:
    """PIDs of OCI runtime commands (`create`, `start`, `delete`, `kill`) on `oci_root`, conmon aside."""
    root_arg = f"--root={oci_root}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args[0].endswith(b"conmon") or root_arg not in args:
            continue
        following = args[args.index(root_arg) + 1 :]
        if following and following[0] in (b"create", b"start", b"delete", b"kill"):
            found.append(int(proc.name))
    return found


async def wait_for_exit(pids: list[int], timeout: float) -> None:
    """Wait until every process of `pids` has exited, at most `timeout` seconds in all."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            await wait_readable(fd, max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)


def kill_pid_namespace(pid: int, parent: int) -> bool:
    """SIGKILL `pid` when it is a child of `parent` and the init of a PID namespace of its own; False, with nothing
    sent, when it is not (a container that joined another's PID namespace) or is gone.

    The kernel then kills every process of the namespace, as `runc kill --all KILL` does, without a runc process
    (~8-10 ms of CPU).
    """
    return _signal_child(pid, parent, signal.SIGKILL, namespace_init=True)


def signal_child(pid: int, parent: int, signum: signal.Signals) -> bool:
    """Send `signum` to `pid` alone when it is a child of `parent` (a container's init, conmon's child), as `runc
    kill` without `--all` does, without a runc process; False, with nothing sent, when it is not or is gone.

    As for runc's signal, the init of a PID namespace gets it only if it handles it (pid_namespaces(7)).
    """
    return _signal_child(pid, parent, signum, namespace_init=False)


def _signal_child(pid: int, parent: int, signum: signal.Signals, *, namespace_init: bool) -> bool:
    # The pidfd pins the process before it is checked: if `pid` was reused meanwhile, the process the pidfd names is
    # gone and the signal fails rather than reach the newcomer.
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        if int(fields["PPid"]) != parent or (namespace_init and fields["NSpid"].split()[-1] != "1"):
            return False
        signal.pidfd_send_signal(fd, signum)
        return True
    except (OSError, KeyError, ValueError):
        return False
    finally:
        os.close(fd)
