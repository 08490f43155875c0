"""The node agent: pods bound to this node in the store go to the Node; changes and removals follow them."""

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

NODE = "node-1"
WAIT_SECONDS = 10.0


class RecordingNode:
    """The parts of `Node` the agent uses; records each call as (method, pod name)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.held: dict[str, asyncio.Event] = {}  # pod name -> forgetting it waits until this is set
        self.running: set[str] = set()
        self.facts = NodeFacts(node_name=NODE, memory=1 << 30, allocatable={})
        self.runtime = type("Runtime", (), {"name": "fake"})()

    def has_pod(self, uid: str) -> bool:
        return uid in self.running

    def run_pod(self, pod: JSON) -> None:
        self.running.add(pod["metadata"]["uid"])
        self.calls.append(("run_pod", pod["metadata"]["name"]))

    def update_pod(self, pod: JSON) -> None:
        self.calls.append(("update_pod", pod["metadata"]["name"]))

    async def forget_pod(self, pod: JSON) -> None:
        self.calls.append(("forget_pod", pod["metadata"]["name"]))
        held = self.held.get(pod["metadata"]["name"])
        if held is not None:
            await held.wait()
        self.running.discard(pod["metadata"]["uid"])
        self.calls.append(("forgot", pod["metadata"]["name"]))


def _pod(name: str, node: str = NODE) -> JSON:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "busybox"}]}}  # fmt: skip


async def _until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT_SECONDS)


async def test_stored_pods_are_adopted_at_start_and_new_ones_run(tmp_path: Path) -> None:
    store, node = Store(tmp_path / "store.db"), RecordingNode()
    store.create("pods", _pod("old"))
    agent = NodeAgent(store, node, NODE)  # type: ignore[arg-type]
    await agent.start()
    store.create("pods", _pod("new"))
    await _until(lambda: ("run_pod", "new") in node.calls)
    await agent.stop()
    store.close()

    assert node.calls == [("run_pod", "old"), ("run_pod", "new")]


async def test_a_changed_pod_goes_to_its_worker_and_a_removed_one_is_forgotten(tmp_path: Path) -> None:
    store, node = Store(tmp_path / "store.db"), RecordingNode()
    agent = NodeAgent(store, node, NODE)  # type: ignore[arg-type]
    await agent.start()
    stored = store.create("pods", _pod("web"))
    await _until(lambda: ("run_pod", "web") in node.calls)
    store.update("pods", dict(stored, metadata=dict(stored["metadata"], labels={"a": "b"})))
    await _until(lambda: ("update_pod", "web") in node.calls)
    store.delete("pods", "default", "web")
    await _until(lambda: ("forgot", "web") in node.calls)
    await agent.stop()
    store.close()

    assert node.calls == [("run_pod", "web"), ("update_pod", "web"), ("forget_pod", "web"), ("forgot", "web")]


async def test_a_removed_pod_is_forgotten_without_waiting_for_the_one_removed_before(tmp_path: Path) -> None:
    store, node = Store(tmp_path / "store.db"), RecordingNode()
    agent = NodeAgent(store, node, NODE)  # type: ignore[arg-type]
    await agent.start()
    for name in ("first", "second"):
        store.create("pods", _pod(name))
    await _until(lambda: ("run_pod", "second") in node.calls)
    node.held["first"] = asyncio.Event()
    store.delete("pods", "default", "first")
    store.delete("pods", "default", "second")
    await _until(lambda: ("forgot", "second") in node.calls)
    still_forgetting_first = ("forgot", "first") not in node.calls
    node.held["first"].set()
    await _until(lambda: ("forgot", "first") in node.calls)
    await agent.stop()
    store.close()

    assert still_forgetting_first


async def test_stopping_the_agent_ends_a_forget_in_progress(tmp_path: Path) -> None:
    store, node = Store(tmp_path / "store.db"), RecordingNode()
    agent = NodeAgent(store, node, NODE)  # type: ignore[arg-type]
    await agent.start()
    store.create("pods", _pod("web"))
    await _until(lambda: ("run_pod", "web") in node.calls)
    node.held["web"] = asyncio.Event()
    store.delete("pods", "default", "web")
    await _until(lambda: ("forget_pod", "web") in node.calls)
    await asyncio.wait_for(agent.stop(), WAIT_SECONDS)
    store.close()

    assert ("forgot", "web") not in node.calls


async def test_pods_bound_to_other_nodes_are_ignored(tmp_path: Path) -> None:
    store, node = Store(tmp_path / "store.db"), RecordingNode()
    agent = NodeAgent(store, node, NODE)  # type: ignore[arg-type]
    await agent.start()
    store.create("pods", _pod("elsewhere", node="node-2"))
    store.create("pods", _pod("here"))
    await _until(lambda: ("run_pod", "here") in node.calls)
    await agent.stop()
    store.close()

    assert ("run_pod", "elsewhere") not in node.calls


async def test_the_kubelets_status_updates_are_its_status_subresource_entry(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    pod = store.create("pods", _pod("web"))
    await StoreHost(store, NODE).update_pod_status(pod, {"phase": "Running"})
    entries = store.get("pods", "default", "web")["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"], e["subresource"]) for e in entries] == [("kubelet", "Update", "status")]
    assert entries[0]["fieldsV1"] == {"f:status": {".": {}, "f:phase": {}}}


async def test_a_condition_another_component_set_survives_the_kubelets_next_status_write(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    pod = store.create("pods", _pod("web"))
    gate = {"type": "example.com/lb-ready", "status": "True"}
    stored = store.get("pods", "default", "web")
    store.update("pods", dict(stored, status={"conditions": [gate]}))
    kubelet_status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}

    await StoreHost(store, NODE).update_pod_status(pod, kubelet_status)

    assert store.get("pods", "default", "web")["status"]["conditions"] == [gate, *kubelet_status["conditions"]]

# -- the pods the agent hands over are the store's own: running one leaves every stored version as its text says ---
# (init container, env from a field and a ConfigMap, a volume, a probe, a hook: the parts of a spec the kubelet reads
# most)

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
