"""Volume errors as the kubelet words them: the plugin's message, Go's *PathError and aggregates."""

from __future__ import annotations

import os


class VolumeSetupError(Exception):
    """A volume could not be set up: `message` is the plugin's error, as the kubelet reports it.

    The kubelet's `FailedMount` event reads `MountVolume.SetUp failed for volume "<volume>" : <message>`.
    """

    def __init__(self, volume: str, message: str) -> None:
        super().__init__(message)
        self.volume = volume
        self.message = message


class PluginError(Exception):
    """A volume plugin's error message, before it is attributed to a volume."""


def go_error(op: str, path: str, error: OSError) -> str:
    """An OSError as Go's *PathError prints: `open /x: no such file or directory`."""
    return f"{op} {path}: {strerror(error)}"


def strerror(error: OSError) -> str:
    """The errno text as Go's syscall package words it: glibc's, with a lower-case first letter."""
    text = os.strerror(error.errno) if error.errno else str(error)
    return text[:1].lower() + text[1:]


def aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message alone, several in brackets, repeats dropped."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
