"""What a pull reports while it runs, apart from the HTTP client so that observers import nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ProgressEvent:
    """Download progress of one blob: `done` of `total` bytes (equal when it was already stored)."""

    digest: str
    done: int
    total: int


class PullObserver(Protocol):
    """Told of the pulls the kubelet makes: every blob's progress, then the end of each image's pull."""

    def update(self, image: str, event: ProgressEvent) -> None:
        """One blob of `image` (the name the pod gave) got `event.done` of `event.total` bytes."""

    def finished(self, image: str) -> None:
        """`image`'s pull ended, pulled or failed."""
