"""`podrun run -v` prints events as `kubectl get events -w` does."""

from __future__ import annotations

from datetime import UTC, datetime

from podrun.cli.event_lines import EventLines

NOW = datetime(2026, 12, 5, 12, 0, 30, tzinfo=UTC)


def event(kind: str, reason: str, message: str) -> dict[str, object]:
    return {
        "type": kind, "reason": reason, "message": message, "count": 1,
        "firstTimestamp": "2026-12-05T12:00:00Z", "lastTimestamp": "2026-12-05T12:00:00Z",
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
    }  # fmt: skip


def test_the_header_comes_with_the_first_event_aligned_on_it() -> None:
    lines = EventLines().lines(event("Normal", "Pulling", 'Pulling image "nginx"'), now=NOW)
    assert lines == [
        "LAST SEEN   TYPE     REASON    OBJECT    MESSAGE",
        '30s         Normal   Pulling   pod/web   Pulling image "nginx"',
    ]


def test_later_events_are_aligned_on_their_own_cells_as_kubectls_watch_flushes_each() -> None:
    printer = EventLines()
    printer.lines(event("Normal", "Scheduled", "Successfully assigned default/web to node"), now=NOW)
    assert printer.lines(event("Warning", "BackOff", "Back-off restarting failed container"), now=NOW) == [
        "30s   Warning   BackOff   pod/web   Back-off restarting failed container"
    ]
