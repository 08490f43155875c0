"""The pull progress of `podrun run`: a live bar per image on a terminal, one plain line elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from podrun.cli.pull_progress import PullProgress
from podrun.runtime.images.progress import ProgressEvent

LAYER, CONFIG = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=120, color_system=None), out


def test_off_a_terminal_one_line_says_what_was_downloaded_when_unpacking_starts() -> None:
    plain, out = console(terminal=False)
    progress = PullProgress(plain)

    progress.update("busybox", ProgressEvent(LAYER, 1_000_000, 2_000_000))
    progress.update("busybox", ProgressEvent(CONFIG, 500_000, 500_000))
    progress.update("busybox", ProgressEvent(LAYER, 2_000_000, 2_000_000))
    progress.finished("busybox")

    assert out.getvalue() == "Pulled busybox: 2.5 MB downloaded, unpacking\n"


def test_on_a_terminal_the_bar_shows_bytes_then_unpacking_and_goes_when_the_pull_ends() -> None:
    terminal, out = console(terminal=True)
    progress = PullProgress(terminal)

    progress.update("nginx", ProgressEvent(LAYER, 1_000_000, 2_000_000))
    progress._progress.refresh()
    downloading = out.getvalue()
    progress.update("nginx", ProgressEvent(LAYER, 2_000_000, 2_000_000))
    progress._progress.refresh()
    unpacking = out.getvalue()[len(downloading) :]
    progress.finished("nginx")

    assert "Pulling nginx" in downloading and "1.0/2.0 MB" in downloading
    assert "Unpacking nginx" in unpacking and "2.0/2.0 MB" in unpacking
    assert not progress._progress.live.is_started
