"""Progress of the image pulls inside `podrun run`: a live bar per image on a terminal, one line otherwise.

On a terminal each image pulled gets bytes, speed and time left (summed over its blobs), then "unpacking"
once every blob is in, and disappears when the pull ends. Elsewhere (a log, CI) one line per image says
how much was downloaded when it is unpacked, so nothing is redrawn into a file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from podrun.runtime.images.progress import ProgressEvent

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


@dataclass
class _Pull:
    blobs: dict[str, tuple[int, int]] = field(default_factory=dict)  # digest -> (done, total)
    task: TaskID | None = None
    unpacking: bool = False

    @property
    def done(self) -> int:
        return sum(done for done, _ in self.blobs.values())

    @property
    def total(self) -> int:
        return sum(total for _, total in self.blobs.values())


class PullProgress:
    """Shows the pulls of one run; `update` on every blob's progress, `finished` when an image's pull ends.

    rich is imported at the first progress: most runs pull nothing.
    """

    def __init__(self, console: Console | None = None) -> None:
        self._given_console = console
        self._bars: Progress | None = None  # made at the first bar
        self._pulls: dict[str, _Pull] = {}

    @functools.cached_property
    def _console(self) -> Console:
        if self._given_console is not None:
            return self._given_console
        from rich.console import Console

        return Console(stderr=True)

    @functools.cached_property
    def _live(self) -> bool:
        return self._console.is_terminal

    @property
    def _progress(self) -> Progress:
        if self._bars is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bars = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                TimeRemainingColumn(), console=self._console, transient=True,
            )  # fmt: skip
        return self._bars

    def update(self, image: str, event: ProgressEvent) -> None:
        """One blob of `image` got `event.done` of `event.total` bytes."""
        pull = self._pulls.setdefault(image, _Pull())
        pull.blobs[event.digest] = (event.done, event.total)
        all_in = pull.done >= pull.total > 0
        if self._live:
            if not self._pulls_shown():
                self._progress.start()
            if pull.task is None:
                pull.task = self._progress.add_task(f"Pulling {image}", total=pull.total or None)
            description = f"Unpacking {image}" if all_in else f"Pulling {image}"
            self._progress.update(pull.task, completed=pull.done, total=pull.total or None, description=description)
        elif all_in and not pull.unpacking:
            message = f"Pulled {image}: {_megabytes(pull.total)} downloaded, unpacking"
            self._console.print(message, highlight=False, soft_wrap=True, markup=False)
        pull.unpacking = all_in

    def finished(self, image: str) -> None:
        """`image`'s pull ended (pulled or failed): its bar goes."""
        pull = self._pulls.pop(image, None)
        if pull is not None and pull.task is not None:
            self._progress.remove_task(pull.task)
        if self._bars is not None and self._live and not self._pulls_shown():
            self._bars.stop()

    def _pulls_shown(self) -> bool:
        return any(pull.task is not None for pull in self._pulls.values())


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
