"""What `podrun run` prints: container log lines with their names, pod transitions, Warning events."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta")


def _escape(text: str) -> str:
    """rich's markup escape (rich is imported with the first line printed)."""
    from rich.markup import escape

    return escape(text)


class RunOutput:
    """Prints to stdout (logs) and stderr (transitions, warnings); colours only on a terminal."""

    def __init__(self, *, quiet: bool, multiple_pods: bool) -> None:
        self.quiet = quiet
        self.multiple_pods = multiple_pods
        self._consoles: tuple[Console, Console] | None = None  # stdout's and stderr's, made at the first line
        self._colours: dict[str, str] = {}
        self._warned: set[tuple[str, str]] = set()

    def _print(self, stderr: bool, text: str) -> None:
        if self._consoles is None:
            from podrun.cli.rich_console import QuietOnBrokenPipe

            self._consoles = (
                QuietOnBrokenPipe(file=sys.stdout, highlight=False, soft_wrap=True),
                QuietOnBrokenPipe(file=sys.stderr, highlight=False, soft_wrap=True),
            )
        # A reader that went away (`podrun run ... | head`) must not stop the pods' clean-up.
        with contextlib.suppress(OSError):
            self._consoles[1 if stderr else 0].print(text)

    def _colour(self, key: str) -> str:
        return self._colours.setdefault(key, PALETTE[len(self._colours) % len(PALETTE)])

    def log(self, pod: str, container: str, stream: str, text: str) -> None:
        """One line of a container's output, prefixed with the container's name."""
        if self.quiet:
            return
        name = f"{pod}/{container}" if self.multiple_pods else container
        style = self._colour(name)
        line = f"[{style}]\\[{_escape(name)}][/{style}] {_escape(text)}"
        self._print(stream == "stderr", line)

    def transition(self, pod: str, ready: str, status: str, restarts: str) -> None:
        """A change of the pod's READY or STATUS column."""
        if self.quiet:
            return
        extra = f"  restarts {restarts}" if restarts != "0" else ""
        self._print(True, f"[bold]pod/{_escape(pod)}[/bold]  {_escape(ready)}  {_escape(status)}{_escape(extra)}")

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
        self._print(True, f"[yellow]Warning[/yellow] {_escape(event.get('reason', ''))} ({_escape(where)}): "
                    f"{_escape(event.get('message', ''))}")  # fmt: skip

    def summary(self, table: str) -> None:
        """The end-of-run table of every container's outcome (not with --quiet)."""
        if not self.quiet:
            self._print(True, "\n" + _escape(table.rstrip("\n")))

    def notice(self, text: str) -> None:
        """A message from podrun itself."""
        self._print(True, _escape(text))
