"""The node agent hands the kubelet the store's own decoded pods (a shared watch): running a pod through it, with
the parts of a spec the kubelet reads most (init container, env from fields and a ConfigMap, a volume, a probe,
a hook), leaves every stored version exactly what its text says."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fake_runtime import FakeRuntime
from node_fakes import NODE_NAME, PresentImages, admitted

from podrun.api.node_agent import NodeAgent, StoreHost
from podrun.api.store import Store
from podrun.json_types import JSON
from podrun.kubelet.node import Node
from podrun.kubelet.node_facts import NodeFacts

WAIT_SECONDS = 10.0

CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"},
          "data": {"mode": "fast"}}  # fmt: skip
POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "restartPolicy": "Always",
        "initContainers": [{"name": "setup", "image": "busybox:1.36", "command": ["true"]}],
        "containers": [{
            "name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"],
            "env": [
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
            ],
            "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1},
            "lifecycle": {"postStart": {"exec": {"command": ["true"]}}},
        }],
        # An emptyDir on disk: a projected or downwardAPI volume is a tmpfs, which needs root to mount.
        "volumes": [{"name": "scratch", "emptyDir": {}}],
    },
}  # fmt: skip


async def _until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT_SECONDS)


def _ready(store: Store) -> bool:
    conditions = (store.get("pods", "default", "web").get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _stored_versions_as_their_texts(store: Store) -> list[tuple[str, str]]:
    """(resource, name) of every stored object whose decoded version differs from its text (checked before each
    write, as a status write follows the kubelet's change of its pod within a few turns of the loop)."""
    return [
        (resource, name)
        for resource, by_namespace in store._objects.items()
        for objects in by_namespace.values()
        for name, stored in objects.items()
        if stored.decoded is not None and stored.decoded != json.loads(stored.text)
    ]


async def test_running_a_pod_through_the_agent_leaves_the_stored_versions_unchanged(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    store.create("configmaps", CONFIG)
    changed: list[tuple[str, str]] = []
    write = store._write

    def write_after_checking(*args: Any, **kwargs: Any) -> JSON:
        changed.extend(_stored_versions_as_their_texts(store))
        return write(*args, **kwargs)

    store._write = write_after_checking  # type: ignore[method-assign]
    facts = NodeFacts(node_name=NODE_NAME, memory=1 << 30, allocatable={"cpu": 1000, "memory": 1 << 30})
    runtime = FakeRuntime()
    node = Node(
        runtime, StoreHost(store, NODE_NAME), root=tmp_path / "node",  # type: ignore[arg-type]
        image_store=PresentImages(), facts=facts,  # type: ignore[arg-type]
    )  # fmt: skip
    await node.start()
    agent = NodeAgent(store, node, NODE_NAME)
    await agent.start()
    pod: JSON = admitted(POD)
    for generated in ("uid", "creationTimestamp"):
        pod["metadata"].pop(generated, None)
    uid = store.create("pods", pod)["metadata"]["uid"]
    try:
        await runtime.called("start_container", "setup")
        runtime.exit("setup")
        await _until(lambda: _ready(store))
        changed.extend(_stored_versions_as_their_texts(store))
    finally:
        # Gone from the API: the kubelet tears the pod down.
        store.delete("pods", "default", "web")
        await _until(lambda: not node.has_pod(uid))
        await agent.stop()
        await node.stop()
        store.close()

    assert changed == []
