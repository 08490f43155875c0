"""Events as `kubectl get events -w` prints them: a header with the first event, then a line per event."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from podrun.printers import render_table
from podrun.printers.resources import print_event

HEADERS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")


class EventLines:
    """Turns events into kubectl's watch lines: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE.

    kubectl flushes its tab writer after every object of a watch, so the header is aligned with the first
    event only and each later line is aligned on its own cells.
    """

    def __init__(self) -> None:
        self._header_done = False

    def lines(self, event: Mapping[str, Any], *, now: datetime) -> list[str]:
        """The line(s) to print for `event` (the header too, the first time)."""
        last_seen, kind, reason, target, _, _, message, *_ = print_event(event, now=now)
        row = [str(last_seen), str(kind), str(reason), str(target), str(message)]
        if self._header_done:
            return render_table([""] * len(HEADERS), [row]).splitlines()[1:]
        self._header_done = True
        return render_table(HEADERS, [row]).splitlines()
