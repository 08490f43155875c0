"""The table `podrun run` prints at its end: what became of every container of every pod (pure)."""

from __future__ import annotations

from podrun.json_types import JSON
from podrun.printers.pods import human_duration, render_table
from podrun.timestamps import parse_unix

HEADERS = ("POD", "CONTAINER", "KIND", "RESTARTS", "LAST EXIT", "REASON", "RAN FOR")


def run_summary(pods: list[JSON]) -> str:
    """One row per container, in the order they start: init containers (and sidecars), then the app's."""
    rows = []
    for pod in pods:
        status = pod.get("status") or {}
        spec = pod.get("spec") or {}
        for key, statuses_key in (("initContainers", "initContainerStatuses"), ("containers", "containerStatuses")):
            by_name = {s.get("name"): s for s in status.get(statuses_key) or []}
            for container in spec.get(key) or []:
                kind = "app"
                if key == "initContainers":
                    kind = "sidecar" if container.get("restartPolicy") == "Always" else "init"
                rows.append(
                    [pod["metadata"]["name"], container["name"], kind, *_outcome(by_name.get(container["name"]))]
                )
    return render_table(HEADERS, rows)


def _outcome(status: JSON | None) -> list[str]:
    """RESTARTS, LAST EXIT, REASON and RAN FOR of one container (never started: all `-`)."""
    if not status:
        return ["0", "-", "-", "-"]
    restarts = str(status.get("restartCount", 0))
    state = status.get("state") or {}
    terminated = state.get("terminated") or (status.get("lastState") or {}).get("terminated")
    if terminated:
        ran = _duration(terminated.get("startedAt"), terminated.get("finishedAt"))
        return [restarts, str(terminated.get("exitCode", "-")), terminated.get("reason") or "-", ran]
    waiting = (state.get("waiting") or {}).get("reason")
    return [restarts, "-", waiting or ("Running" if "running" in state else "-"), "-"]


def _duration(started: str | None, finished: str | None) -> str:
    if not started or not finished:
        return "-"
    return human_duration(max(0.0, parse_unix(finished) - parse_unix(started)))
