"""A command run in a container through the OCI runtime's `exec`, its output collected (exec probes and hooks).

A timed-out command's own process is killed, not only the OCI runtime that started it: the runtime writes the
process's PID into a file, which is read here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

from podrun.runtime.protocol import ExecResult


async def run_collected(
    exec_command: list[str], container_id: str, cmd: list[str], pid_file: Path, timeout: float | None
) -> ExecResult:
    """Run `cmd` in the container with `exec_command` (the runtime's `exec` argv) and collect its output; kill it
    when `timeout` passes. `pid_file` is where the runtime writes the process's PID; it is removed afterwards."""
    proc = await asyncio.create_subprocess_exec(
        *exec_command, "--pid-file", str(pid_file), container_id, *cmd,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        return ExecResult(proc.returncode or 0, out, err)
    except TimeoutError:
        await _kill(proc, pid_file)
        return ExecResult(-1, b"", b"", timed_out=True)
    finally:
        pid_file.unlink(missing_ok=True)


async def _kill(proc: asyncio.subprocess.Process, pid_file: Path) -> None:
    """Kill a timed-out exec's process, not only the OCI runtime that started it.

    The runtime writes the pid file a few milliseconds after it starts; until then there is
    nothing to kill but the runtime, and killing it would orphan the process it is starting.
    """
    deadline = time.monotonic() + 2
    while not pid_file.exists() and proc.returncode is None and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 1)
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
