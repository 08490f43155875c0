"""`podrun logs` and `podrun exec` on the pods of a root, without a server.

Logs are read from the kubelet's CRI log files (`<ts> <stream> <F|P> <text>`) and printed as kubectl prints
them: the text of each line, stdout and stderr in the order written. Exec runs the OCI runtime's own `exec` on the
container with this terminal's standard streams, and exits with the command's exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from podrun.cli.pods_offline import OfflineContainer, OfflinePod, conmon_alive, offline_pods, select_pods
from podrun.runtime.logs import LogLine, follow, read_lines
from podrun.runtime.oci_runtime import MissingTool, choose_runtime

FOLLOW_CHECK_SECONDS = 0.2


class AccessError(Exception):
    """A pod or container that cannot be read or entered, with kubectl's wording."""


def find_pod(args: argparse.Namespace) -> OfflinePod:
    """The one pod `args.pod` names (`NAMESPACE/NAME`, or NAME in `-n`)."""
    pods, missing = select_pods(offline_pods(args.root, args.run_root), [args.pod], args.namespace)
    if missing or not pods:
        raise AccessError(f'pods "{args.pod.rpartition("/")[2]}" not found')
    return pods[-1]  # the newest when a name was reused


def pick_container(pod: OfflinePod, name: str | None, *, previous: bool = False) -> OfflineContainer:
    """The newest container of that name (the only name when None); with `previous`, the one before it."""
    names = list(dict.fromkeys(c.name for c in pod.containers))
    if name is None:
        if len(names) != 1:
            raise AccessError(
                f"a container name must be specified for pod {pod.name}, choose one of: [{' '.join(names)}]"
            )
        name = names[0]
    attempts = [c for c in pod.containers if c.name == name]
    if not attempts:
        raise AccessError(f"container {name} is not valid for pod {pod.name}")
    if previous:
        if len(attempts) < 2:
            raise AccessError(f'previous terminated container "{name}" in pod "{pod.name}" not found')
        return attempts[-2]
    return attempts[-1]


def format_line(line: LogLine, timestamps: bool) -> str:
    """One log line as `kubectl logs [--timestamps]` prints it."""
    return f"{line.timestamp} {line.text}\n" if timestamps else f"{line.text}\n"


def last_lines(lines: Iterable[LogLine], tail: int | None) -> list[LogLine]:
    """All lines, or the last `tail` of them (`--tail -1` meaning all, as kubectl)."""
    every = list(lines)
    return every if tail is None or tail < 0 else every[len(every) - tail :] if tail else []


async def _follow(root: Path, container: OfflineContainer, skip: int, timestamps: bool) -> None:
    stop = asyncio.Event()

    async def watch_exit() -> None:
        while conmon_alive(root / "containers" / container.id, container.id):
            await asyncio.sleep(FOLLOW_CHECK_SECONDS)
        stop.set()

    watcher = asyncio.create_task(watch_exit())
    try:
        async for line in follow(container.log_path, stop):
            if skip:
                skip -= 1
                continue
            sys.stdout.write(format_line(line, timestamps))
            sys.stdout.flush()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def logs_command(args: argparse.Namespace) -> int:
    """Print (or follow, `-f`) a container's log."""
    try:
        pod = find_pod(args)
        container = pick_container(pod, args.container, previous=args.previous)
    except AccessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    lines = list(read_lines(container.log_path))
    shown = last_lines(lines, args.tail)
    if not args.follow:
        sys.stdout.write("".join(format_line(line, args.timestamps) for line in shown))
        return 0
    try:
        asyncio.run(_follow(args.root, container, len(lines) - len(shown), args.timestamps))
    except KeyboardInterrupt:
        return 130
    return 0


def exec_command(args: argparse.Namespace) -> int:
    """Run the command in the container through the OCI runtime; its exit code is podrun's."""
    if not args.cmd:
        print("error: you must specify at least one command for the container", file=sys.stderr)
        return 1
    try:
        pod = find_pod(args)
        container = pick_container(pod, args.container)
    except AccessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if container.state != "running":
        print(f"error: container {container.name} of pod {pod.name} is not running", file=sys.stderr)
        return 1
    try:
        runtime = _runtime_of(args, container.id)
    except MissingTool as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    command = [runtime[0], f"--root={runtime[1]}", "exec", *(["-t"] if args.tty else []), container.id, *args.cmd]
    stdin = None if args.stdin else subprocess.DEVNULL
    try:
        return subprocess.run(command, stdin=stdin, check=False).returncode
    except KeyboardInterrupt:
        return 130


def _runtime_of(args: argparse.Namespace, container_id: str) -> tuple[str, Path]:
    """The OCI runtime binary and its state root that hold the container (the one that created it)."""
    for name in ("crun", "runc"):
        state = args.run_root / name
        if (state / container_id).exists():
            return choose_runtime(name).path, state
    oci = choose_runtime(args.oci_runtime)
    return oci.path, args.run_root / oci.name
