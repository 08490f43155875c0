"""`podrun run`'s lines where there is no terminal (a pipe, a file, CI's log), written without rich.

Off a terminal rich wrote no colours or bold anyway, so these are the same lines it wrote there, made here for
a fraction of the start-up (rich's console is some 40 modules): the control characters rich drops (BEL, BS, VT,
FF, CR) are dropped, tabs are expanded to 8 columns counted in terminal cells, and each line is flushed at once,
so that logs interleave with the transitions as they happen. Text is never read as markup or `:emoji:` codes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import IO, TextIO

TAB_SIZE = 8
# rich's `strip_control_codes`.
_DROPPED = dict.fromkeys((0x07, 0x08, 0x0B, 0x0C, 0x0D))

Segment = tuple[str, str | None]  # a part of a line and its style on a terminal (here: none)


def silence(stream: IO[str]) -> None:
    """Point `stream`'s file descriptor at /dev/null: its reader went away, and the interpreter's final flush
    must not fail either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, stream.fileno())
    os.close(devnull)


def expand_tabs(line: str) -> str:
    """`line` (one line) with each tab replaced by spaces up to the next multiple of 8 columns, as rich does."""
    if "\t" not in line:
        return line
    if line.isascii() and line.replace("\t", "").isprintable():
        return line.expandtabs(TAB_SIZE)  # a column per character
    # Wide characters take two columns, control and combining ones none: rich's own measure, for the rare line.
    from rich.cells import cell_len

    parts = line.split("\t")
    expanded = []
    column = 0
    for part in parts[:-1]:
        column += cell_len(part) + 1
        padding = -column % TAB_SIZE
        column += padding
        expanded.append(part + " " * (1 + padding))
    expanded.append(parts[-1])
    return "".join(expanded)


def plain_text(segments: Iterable[Segment]) -> str:
    """The text of `segments` as rich writes it off a terminal (without its final newline)."""
    text = "".join(part for part, _ in segments).translate(_DROPPED)
    return "\n".join(expand_tabs(line) for line in text.split("\n"))


class PlainLines:
    """Writes lines of segments to a stream that is not a terminal; quiet once its reader has gone away."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._gone = False

    def print(self, segments: Iterable[Segment]) -> None:
        """Write one line (it may hold newlines) and flush it."""
        if self._gone:
            return
        try:
            self.stream.write(plain_text(segments) + "\n")
            self.stream.flush()
        except BrokenPipeError:
            self._gone = True
            silence(self.stream)
