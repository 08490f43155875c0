"""What `podrun run` prints: container log lines with their names, pod transitions, Warning events."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta")


class _Console(Console):
    """A console that goes quiet when its reader goes away, instead of rich's SystemExit(1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, self.file.fileno())  # so the interpreter's final flush does not fail either
        os.close(devnull)


class RunOutput:
    """Prints to stdout (logs) and stderr (transitions, warnings); colours only on a terminal."""

    def __init__(self, *, quiet: bool, multiple_pods: bool) -> None:
        self.quiet = quiet
        self.multiple_pods = multiple_pods
        self._out = _Console(file=sys.stdout, highlight=False, soft_wrap=True)
        self._err = _Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self._colours: dict[str, str] = {}
        self._warned: set[tuple[str, str]] = set()

    def _print(self, console: Console, text: str) -> None:
        # A reader that went away (`podrun run ... | head`) must not stop the pods' clean-up.
        with contextlib.suppress(OSError):
            console.print(text)

    def _colour(self, key: str) -> str:
        return self._colours.setdefault(key, PALETTE[len(self._colours) % len(PALETTE)])

    def log(self, pod: str, container: str, stream: str, text: str) -> None:
        """One line of a container's output, prefixed with the container's name."""
        if self.quiet:
            return
        name = f"{pod}/{container}" if self.multiple_pods else container
        style = self._colour(name)
        line = f"[{style}]\\[{escape(name)}][/{style}] {escape(text)}"
        self._print(self._err if stream == "stderr" else self._out, line)

    def transition(self, pod: str, ready: str, status: str, restarts: str) -> None:
        """A change of the pod's READY or STATUS column."""
        if self.quiet:
            return
        extra = f"  restarts {restarts}" if restarts != "0" else ""
        self._print(self._err, f"[bold]pod/{escape(pod)}[/bold]  {escape(ready)}  {escape(status)}{escape(extra)}")

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
        self._print(self._err, f"[yellow]Warning[/yellow] {escape(event.get('reason', ''))} ({escape(where)}): "
                    f"{escape(event.get('message', ''))}")  # fmt: skip

    def summary(self, table: str) -> None:
        """The end-of-run table of every container's outcome (not with --quiet)."""
        if not self.quiet:
            self._print(self._err, "\n" + escape(table.rstrip("\n")))

    def notice(self, text: str) -> None:
        """A message from podrun itself."""
        self._print(self._err, escape(text))
