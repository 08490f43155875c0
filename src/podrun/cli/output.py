"""What `podrun run` prints: container log lines with their names, pod transitions, Warning events.

A line is a few segments, each with the style it has on a terminal: there rich prints it (colours, bold);
anywhere else it is written as plain text (`cli/plain_lines.py`), the same text, without loading rich.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from typing import Any, Protocol, TextIO

from podrun.cli.plain_lines import PlainLines, Segment

PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta")


class _Lines(Protocol):
    def print(self, segments: Iterable[Segment]) -> None: ...


def is_terminal(stream: TextIO) -> bool:
    """Whether rich would treat `stream` as a terminal: TTY_COMPATIBLE and FORCE_COLOR as it reads them, else
    isatty."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


def _lines_to(stream: TextIO) -> _Lines:
    if not is_terminal(stream):
        return PlainLines(stream)
    from podrun.cli.rich_console import RichLines

    return RichLines(stream)


class RunOutput:
    """Prints to stdout (logs) and stderr (transitions, warnings); colours only on a terminal."""

    def __init__(self, *, quiet: bool, multiple_pods: bool) -> None:
        self.quiet = quiet
        self.multiple_pods = multiple_pods
        self._lines: dict[bool, _Lines] = {}  # by "to stderr": each stream's writer, made at its first line
        self._colours: dict[str, str] = {}
        self._warned: set[tuple[str, str]] = set()

    def _print(self, stderr: bool, *segments: Segment) -> None:
        lines = self._lines.get(stderr)
        if lines is None:
            lines = self._lines[stderr] = _lines_to(sys.stderr if stderr else sys.stdout)
        # A reader that went away (`podrun run ... | head`) must not stop the pods' clean-up.
        with contextlib.suppress(OSError):
            lines.print(segments)

    def _colour(self, key: str) -> str:
        return self._colours.setdefault(key, PALETTE[len(self._colours) % len(PALETTE)])

    def log(self, pod: str, container: str, stream: str, text: str) -> None:
        """One line of a container's output, prefixed with the container's name."""
        if self.quiet:
            return
        name = f"{pod}/{container}" if self.multiple_pods else container
        self._print(stream == "stderr", (f"[{name}]", self._colour(name)), (f" {text}", None))

    def transition(self, pod: str, ready: str, status: str, restarts: str) -> None:
        """A change of the pod's READY or STATUS column."""
        if self.quiet:
            return
        extra = f"  restarts {restarts}" if restarts != "0" else ""
        self._print(True, (f"pod/{pod}", "bold"), (f"  {ready}  {status}{extra}", None))

    def warning(self, event: dict[str, Any]) -> None:
        """A Warning event as it happens; the same warning again (for another container) is not repeated."""
        key = (event.get("reason", ""), event.get("message", ""))
        if self.quiet or key in self._warned:
            return
        self._warned.add(key)
        obj = event.get("involvedObject") or {}
        where = obj.get("name", "")
        if obj.get("fieldPath"):
            where += f" {obj['fieldPath']}"
        message = f" {event.get('reason', '')} ({where}): {event.get('message', '')}"
        self._print(True, ("Warning", "yellow"), (message, None))

    def summary(self, table: str) -> None:
        """The end-of-run table of every container's outcome (not with --quiet)."""
        if not self.quiet:
            self._print(True, ("\n" + table.rstrip("\n"), None))

    def notice(self, text: str) -> None:
        """A message from podrun itself."""
        self._print(True, (text, None))
