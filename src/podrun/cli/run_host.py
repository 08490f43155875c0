"""The in-memory `PodHost` of `podrun run`: objects from the manifests, status and events to the terminal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Literal

from podrun.cli.output import RunOutput
from podrun.json_types import JSON
from podrun.printers import print_pod


class RunHost:
    """Holds the manifests' ConfigMaps and Secrets, and reports each pod's changes as kubectl shows them."""

    def __init__(self, configmaps: list[JSON], secrets: list[JSON], output: RunOutput, node_name: str) -> None:
        self.node_name = node_name
        self._configmaps = {(o["metadata"].get("namespace", "default"), o["metadata"]["name"]): o for o in configmaps}
        self._secrets = {(o["metadata"].get("namespace", "default"), o["metadata"]["name"]): o for o in secrets}
        self._output = output
        self._last_row: dict[str, tuple[str, str]] = {}
        self.events: list[JSON] = []
        self.terminated: dict[str, asyncio.Event] = {}

    def get_configmap(self, namespace: str, name: str) -> JSON | None:
        """A ConfigMap from the manifests."""
        return self._configmaps.get((namespace, name))

    def get_secret(self, namespace: str, name: str) -> JSON | None:
        """A Secret from the manifests."""
        return self._secrets.get((namespace, name))

    async def update_pod_status(self, pod: JSON, status: JSON) -> None:
        """Print the pod's READY and STATUS when they change, as `kubectl get pods -w` would."""
        row = print_pod(dict(pod, status=status), now=datetime.now(UTC))
        shown = (row[1], row[2])
        uid = pod["metadata"]["uid"]
        if self._last_row.get(uid) != shown:
            self._last_row[uid] = shown
            self._output.transition(pod["metadata"]["name"], row[1], row[2], row[3])

    async def record_event(self, action: Literal["create", "update"], event: JSON) -> None:
        """Keep the event; print Warnings as they happen."""
        if action == "create":
            self.events.append(event)
        if event.get("type") == "Warning":
            self._output.warning(event)

    async def pod_terminated(self, pod: JSON) -> None:
        """The pod's containers and sandbox are gone."""
        self.terminated.setdefault(pod["metadata"]["uid"], asyncio.Event()).set()
