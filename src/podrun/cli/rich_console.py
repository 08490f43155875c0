"""The rich console `podrun run` prints through on a terminal, in a module of its own: rich (40 modules) is
imported when the first line is printed to a terminal, so a run that prints nothing (`--quiet`) or only to
pipes and files (`cli/plain_lines.py`) never loads it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from rich.console import Console
from rich.text import Text

from podrun.cli.plain_lines import Segment, silence


class QuietOnBrokenPipe(Console):
    """A console that goes quiet when its reader goes away, instead of rich's SystemExit(1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        silence(self.file)


class RichLines:
    """Writes lines of segments to a terminal, each segment in its style (colours only where rich finds them)."""

    def __init__(self, stream: TextIO) -> None:
        self.console = QuietOnBrokenPipe(file=stream, highlight=False, soft_wrap=True)

    def print(self, segments: Iterable[Segment]) -> None:
        """Write one line (it may hold newlines)."""
        # A Text, not markup: what a container wrote is shown as it is (no `[tags]`, no `:emoji:` codes).
        self.console.print(Text.assemble(*((part, style or "") for part, style in segments)))
