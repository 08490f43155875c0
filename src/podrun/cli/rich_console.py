"""The rich console `podrun run` prints through, in a module of its own: rich (40 modules) is imported when the
first line is printed, so a run that prints nothing (`--quiet`) never loads it."""

from __future__ import annotations

import contextlib
import os

from rich.console import Console


class QuietOnBrokenPipe(Console):
    """A console that goes quiet when its reader goes away, instead of rich's SystemExit(1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, self.file.fileno())  # so the interpreter's final flush does not fail either
        os.close(devnull)
