"""A kubelet over the in-memory runtime, and a host that keeps what the kubelet reports: for unit tests."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fake_runtime import FakeRuntime

from podrun.json_types import JSON
from podrun.kubelet.admission import admit_pod
from podrun.kubelet.backoff import Backoff
from podrun.kubelet.node import Node
from podrun.kubelet.node_facts import NodeFacts
from podrun.kubelet.teardown_slots import TeardownSlots
from podrun.model.manifest import load_manifests

NODE_NAME = "node-1"
WAIT_SECONDS = 10.0


@dataclass
class MemoryHost:
    """A `PodHost` keeping every status and event; `wait_until` polls on each report."""

    node_name: str = NODE_NAME
    statuses: list[JSON] = field(default_factory=list)
    events: list[JSON] = field(default_factory=list)
    terminated: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def get_configmap(self, namespace: str, name: str) -> JSON | None:
        return None

    def get_secret(self, namespace: str, name: str) -> JSON | None:
        return None

    def list_services(self, namespace: str) -> list[JSON]:
        return []

    def service_account_token(self, pod: JSON, audience: str | None, expiration_seconds: int) -> str | None:
        return None

    async def update_pod_status(self, pod: JSON, status: JSON) -> None:
        self.statuses.append(copy.deepcopy(status))
        await self._notify()

    async def record_event(self, action: Literal["create", "update"], event: JSON) -> None:
        self.events.append(copy.deepcopy(event))
        await self._notify()

    async def pod_terminated(self, pod: JSON) -> None:
        self.terminated.set()
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait (at most WAIT_SECONDS) until `condition()` holds after some report."""

        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        await asyncio.wait_for(wait(), WAIT_SECONDS)

    @property
    def latest(self) -> JSON:
        return self.statuses[-1] if self.statuses else {}

    def reasons(self) -> list[str]:
        return [e["reason"] for e in self.events]


class PresentImages:
    """An image store in which every image is present."""

    def resolve(self, reference: str) -> Any:
        return type("Image", (), {"id": f"sha256:{reference}"})()


def admitted(pod: JSON) -> JSON:
    """The pod as the API server would store it: defaulted, validated, bound to the node."""
    [loaded] = load_manifests([("pod", json.dumps(pod))]).pods
    return admit_pod(loaded, NODE_NAME, now=time.time())


def simple_pod(
    *containers: str, restart_policy: str = "Never", sidecars: tuple[str, ...] = (), grace: int = 30
) -> JSON:
    """A pod of busybox containers named `containers`, with `sidecars` as restartable init containers."""
    return admitted({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {
            "restartPolicy": restart_policy, "terminationGracePeriodSeconds": grace,
            "initContainers": [{"name": n, "image": "busybox:1.36", "restartPolicy": "Always"} for n in sidecars],
            "containers": [{"name": n, "image": "busybox:1.36"} for n in containers],
        },
    })  # fmt: skip


@contextlib.asynccontextmanager
async def fake_node(
    tmp_path: Path, crash_backoff: Backoff | None = None, host: MemoryHost | None = None,
    teardowns: TeardownSlots | None = None,
) -> AsyncIterator[tuple[Node, FakeRuntime, MemoryHost]]:  # fmt: skip
    """A started node over a fresh in-memory runtime (reporting to `host`, a fresh one by default; tearing pods
    down in `teardowns`, the default pool by default); stopped on leaving."""
    runtime, host = FakeRuntime(), host or MemoryHost()
    facts = NodeFacts(node_name=NODE_NAME, memory=1 << 30, allocatable={"cpu": 1000, "memory": 1 << 30})
    kubelet = Node(
        runtime, host, root=tmp_path, image_store=PresentImages(), facts=facts,  # type: ignore[arg-type]
        crash_backoff=crash_backoff, teardowns=teardowns,
    )  # fmt: skip
    await kubelet.start()
    try:
        yield kubelet, runtime, host
    finally:
        await kubelet.stop()
