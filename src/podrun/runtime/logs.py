"""Reading CRI-format container logs: `<RFC3339Nano> <stdout|stderr> <F|P> <text>` per line.

A `P` (partial) line continues in the next entry; `F` ends a line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

FOLLOW_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class LogLine:
    """One complete log line (partial entries joined)."""

    timestamp: str
    stream: str
    text: str


def parse_line(raw: str) -> tuple[str, str, str, str] | None:
    """Split a CRI log entry into (timestamp, stream, tag, text); None if it is not one."""
    parts = raw.rstrip("\n").split(" ", 3)
    if len(parts) < 3 or parts[1] not in ("stdout", "stderr"):
        return None
    text = parts[3] if len(parts) == 4 else ""
    return parts[0], parts[1], parts[2], text


class LineAssembler:
    """Joins partial (`P`) entries per stream into whole lines."""

    def __init__(self) -> None:
        self._pending: dict[str, list[str]] = {}

    def feed(self, raw: str) -> LogLine | None:
        """Take one entry; return a finished line when this entry ends one."""
        parsed = parse_line(raw)
        if parsed is None:
            return None
        ts, stream, tag, text = parsed
        pieces = self._pending.setdefault(stream, [])
        pieces.append(text)
        if "P" in tag.split(":"):
            return None
        del self._pending[stream]
        return LogLine(ts, stream, "".join(pieces))


def read_lines(path: str | Path) -> Iterator[LogLine]:
    """Every complete line of a log file."""
    assembler = LineAssembler()
    try:
        with open(path, errors="replace") as fh:
            for raw in fh:
                line = assembler.feed(raw)
                if line is not None:
                    yield line
    except FileNotFoundError:
        return


def tail_log_lines(path: str | Path, max_lines: int, max_bytes: int) -> str:
    """The last lines of a container's output, as the kubelet falls back to for termination messages."""
    lines = [line.text for line in read_lines(path)][-max_lines:]
    text = "\n".join(lines)
    if lines:
        text += "\n"
    return text[-max_bytes:] if len(text) > max_bytes else text


async def _poll_pause(stop: asyncio.Event) -> None:
    """Wait for the next poll, or less when `stop` is set: the last read then follows at once, so that whoever
    waits for the follower (`podrun run` at its end) does not wait out a pause."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(FOLLOW_POLL_SECONDS):
            await stop.wait()


async def follow(path: str | Path, stop: asyncio.Event) -> AsyncIterator[LogLine]:
    """Complete lines as conmon writes them, until `stop` is set and the file is read to its end."""
    assembler = LineAssembler()
    buffered = ""
    fh = None
    try:
        while True:
            if fh is None:
                try:
                    fh = open(path, errors="replace")  # noqa: SIM115 - held open across awaits
                except FileNotFoundError:
                    if stop.is_set():
                        return
                    await _poll_pause(stop)
                    continue
            chunk = fh.read(65536)
            if chunk:
                buffered += chunk
                *complete, buffered = buffered.split("\n")
                for raw in complete:
                    line = assembler.feed(raw)
                    if line is not None:
                        yield line
                continue
            if stop.is_set():
                return
            await _poll_pause(stop)
    finally:
        if fh is not None:
            fh.close()
