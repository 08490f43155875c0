"""conmon running the OCI runtime's `create` of one container, and what it reported through its sync pipe.

conmon forks, runs `<runtime> create` on the bundle, writes `{"pid": N}` (or `{"pid": -1, "message": ...}`) to the
pipe named by `_OCI_SYNCPIPE`, and stays behind as the container's monitor: it writes the CRI log and, on exit,
the exit code into the exit directory.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podrun.runtime.container_record import ContainerRecord


@dataclass(frozen=True)
class ConmonPaths:
    """Where conmon and the OCI runtime it runs find and leave things (one set per runtime)."""

    conmon: str  # the conmon binary
    runtime: str  # the OCI runtime binary
    runtime_root: Path  # the OCI runtime's `--root`
    exits: Path  # conmon writes `<id>` with the exit code here
    sockets: Path  # conmon's attach sockets (a link per container)


async def conmon_create(paths: ConmonPaths, rec: ContainerRecord, bundle: Path) -> str | None:
    """Have conmon run the OCI runtime's `create` of `rec` from `bundle`; None when it worked, else the runtime's
    error output. conmon's pid is in `bundle/conmon.pid` afterwards."""
    read_end, write_end = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            paths.conmon, "--cid", rec.id, "--cuuid", rec.id[:32], "--name", rec.name,
            "--runtime", paths.runtime, "--bundle", str(bundle), "--exit-dir", str(paths.exits),
            "--log-path", f"k8s-file:{rec.log_path}", "--container-pidfile", str(bundle / "container.pid"),
            "--conmon-pidfile", str(bundle / "conmon.pid"), "--socket-dir-path", str(paths.sockets),
            "--runtime-arg", f"--root={paths.runtime_root}", "--persist-dir", str(bundle), *_stdio_flags(rec),
            # conmon would fsync the log as the container exits, before it writes the exit file: tens of ms
            # on a busy disk between every exit and its event (the next init container's start).
            "--no-sync-log",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, pass_fds=(write_end,),
            env={**os.environ, "_OCI_SYNCPIPE": str(write_end)}, start_new_session=True,
            # conmon writes files (an `oom` marker) into its working directory and persist dir.
            cwd=str(bundle),
        )  # fmt: skip
        os.close(write_end)
        write_end = -1
        await proc.wait()
        raw = await asyncio.to_thread(os.read, read_end, 65536)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    try:
        sync: dict[str, Any] = (
            json.loads(raw.decode().splitlines()[0]) if raw else {"pid": -1, "message": "conmon failed"}
        )
    except (json.JSONDecodeError, IndexError):
        sync = {"pid": -1, "message": raw.decode(errors="replace")}
    if int(sync.get("pid", sync.get("data", -1))) <= 0:
        return str(sync.get("message", ""))
    return None


def _stdio_flags(rec: ContainerRecord) -> list[str]:
    """conmon's flags for the container's stdin and terminal (`--terminal` also makes it the console socket)."""
    flags = ["--terminal"] if rec.tty else []
    if rec.stdin:
        flags.append("--stdin")
        if not rec.stdin_once:
            flags.append("--leave-stdin-open")
    return flags
