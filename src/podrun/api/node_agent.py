"""The node side of `podrun serve`: the kubelet reading and writing through the API's store.

`StoreHost` is the kubelet's `PodHost` backed by the store: ConfigMaps, Secrets and Services are read
from it, service account tokens are issued through it, pod status and events are written to it, and a
terminated pod that was being deleted is removed from it unless finalizers hold it (what the kubelet's status
manager does with a grace-0 delete). `NodeAgent`
watches the store's pods bound to this node and hands them to the kubelet, and keeps the Node
object up to date.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import shutil
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from podrun import __version__
from podrun.api.errors import ApiError
from podrun.api.field_managers import record_object_write, record_update
from podrun.api.followers import stop_following
from podrun.api.registry import RESOURCES
from podrun.api.store import Store, Watch
from podrun.api.strategy import plan_delete
from podrun.json_types import JSON
from podrun.kubelet.gc import GC_PERIOD_SECONDS
from podrun.kubelet.node import Node
from podrun.services.tokens import issue_token
from podrun.timestamps import format_time

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.32.4"
HEARTBEAT_SECONDS = 10.0
# The field manager of the kubelet's status updates (its User-Agent's program name).
KUBELET = "kubelet"
# The kubelet's token manager asks for a new token once 80% of the old one's lifetime has passed.
TOKEN_REFRESH_FRACTION = 0.8
T = TypeVar("T")


class StoreHost:
    """The kubelet's view of the API: the store, through plain reads and status/event writes."""

    def __init__(self, store: Store, node_name: str) -> None:
        self.store = store
        self.node_name = node_name
        # The store is written on its event loop only; tokens may be asked for from the volume set-up thread.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._tokens: dict[tuple[str, str | None, int], tuple[str, float]] = {}

    def _get(self, resource: str, namespace: str, name: str) -> JSON | None:
        try:
            return self.store.get(resource, namespace, name)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def get_configmap(self, namespace: str, name: str) -> JSON | None:
        """A ConfigMap from the store."""
        return self._get("configmaps", namespace, name)

    def get_secret(self, namespace: str, name: str) -> JSON | None:
        """A Secret from the store."""
        return self._get("secrets", namespace, name)

    def list_services(self, namespace: str) -> list[JSON]:
        """The namespace's Services from the store."""
        return self.store.list("services", namespace)[0]

    def service_account_token(self, pod: JSON, audience: str | None, expiration_seconds: int) -> str | None:
        """A token bound to the pod (`tokens.issue_token`), reused until 80% of its lifetime has passed.

        The audience is not recorded: podrun's API server is the only one that checks these tokens.
        """
        key = (str(pod["metadata"].get("uid", "")), audience, expiration_seconds)
        cached = self._tokens.get(key)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        token = self._on_loop(lambda: issue_token(self.store, pod))
        self._tokens[key] = (token, time.monotonic() + TOKEN_REFRESH_FRACTION * expiration_seconds)
        return token

    def _on_loop(self, call: Callable[[], T]) -> T:
        """Run `call` on the store's loop, waiting for it when called from another thread."""
        if self._loop is None or _running_loop() is self._loop:
            return call()

        async def run() -> T:
            return call()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    async def update_pod_status(self, pod: JSON, status: JSON) -> None:
        """Write the status onto the newest stored version of the pod (as PUT pods/status does)."""
        # The kubelet's status code loads with the first pod that has a status to write, not in an idle server.
        from podrun.kubelet.pod_changes import external_conditions
        from podrun.kubelet.status import KUBELET_CONDITIONS

        meta = pod["metadata"]
        current = self._get("pods", meta["namespace"], meta["name"])
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            return
        # The conditions others own are the stored ones (mergePodStatus): one set since the status was made stays.
        kept = external_conditions(current.get("status") or {})
        owned = [c for c in status.get("conditions") or [] if c.get("type") in KUBELET_CONDITIONS]
        updated = dict(current, status=dict(status, conditions=[*kept, *owned]) if kept or owned else status)
        self.store.update_if_changed(
            "pods", record_update("Pod", current, updated, KUBELET, has_status=True, subresource="status")
        )

    async def record_event(self, action: Literal["create", "update"], event: JSON) -> None:
        """Create an event, or update the count, last time and message of a deduplicated one."""
        meta = event["metadata"]
        namespace = meta.get("namespace", "default")
        if action == "update":
            current = self._get("events", namespace, meta["name"])
            if current is not None:
                changed = {k: event[k] for k in ("count", "lastTimestamp", "message") if k in event}
                updated = record_update("Event", current, dict(current, **changed), KUBELET, has_status=False)
                self.store.update("events", updated, check_resource_version=False)
                return
        with contextlib.suppress(ApiError):
            self.store.create("events", record_update("Event", None, event, KUBELET, has_status=False))

    async def pod_terminated(self, pod: JSON) -> None:
        """Everything of the pod has stopped: a pod being deleted is deleted again with no grace, as the status
        manager does. It disappears from the API, unless it has finalizers: then it stays, with its final status
        and `deletionGracePeriodSeconds: 0`, until they are removed (which removes it, `should_remove_after_update`).
        """
        meta = pod["metadata"]
        self._tokens = {key: value for key, value in self._tokens.items() if key[0] != meta.get("uid", "")}
        current = self._get("pods", meta["namespace"], meta["name"])
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            return
        if not current["metadata"].get("deletionTimestamp"):
            return
        plan = plan_delete(RESOURCES["pods"], current, 0, datetime.now(UTC))
        with contextlib.suppress(ApiError):
            if plan.update is not None:
                self.store.update("pods", plan.update, check_resource_version=False)
            if plan.remove:
                self.store.delete("pods", meta["namespace"], meta["name"])


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def node_object(
    name: str, memory_bytes: int, runtime_name: str, now: float, *, internal_ip: str = "127.0.0.1", pod_cidr: str = ""
) -> JSON:
    """This machine as a Kubernetes Node: Ready, with its capacity, addresses, pod range and versions."""
    stamp = format_time(now)
    cpus = str(os.cpu_count() or 1)
    memory = f"{memory_bytes // 1024}Ki"
    resources = {"cpu": cpus, "memory": memory, "pods": "110", "ephemeral-storage": _disk_ki()}
    uname = platform.uname()
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": _arch(),
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": _arch(),
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]} if pod_cidr else {},
        "status": {
            "capacity": resources,
            "allocatable": dict(resources),
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "reason": r,
                    "message": m,
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
                for t, s, r, m in conditions
            ],
            "addresses": [{"type": "InternalIP", "address": internal_ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": _machine_id(),
                "systemUUID": "",
                "bootID": _boot_id(),
                "kernelVersion": uname.release,
                "osImage": _os_image(),
                "containerRuntimeVersion": f"{runtime_name}://podrun-{__version__}",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": _arch(),
            },
        },
    }


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _machine_id() -> str:
    return _read("/etc/machine-id")


def _boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id")


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def _disk_ki() -> str:
    return f"{shutil.disk_usage('/').total // 1024}Ki"


class NodeAgent:
    """Feeds the node the pods bound to it, and keeps the Node object fresh."""

    def __init__(self, store: Store, node: Node, node_name: str) -> None:
        self.store = store
        self.node = node
        self.node_name = node_name
        self._tasks: list[asyncio.Task[None]] = []
        self._watch: Watch | None = None
        self._forgetting: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Register the node, adopt the stored pods, and follow changes."""
        self._write_node()
        items, rv, _ = self.store.list("pods", None, field_selector=self._bound_here)
        for pod in items:
            self._adopt(pod)
        watch = self.store.watch("pods", None, resource_version=rv, field_selector=self._bound_here, shared=True)
        self._watch = watch
        self._tasks = [
            asyncio.create_task(self._follow(watch), name="node-agent-pods"),
            asyncio.create_task(self._heartbeat(), name="node-agent-heartbeat"),
            asyncio.create_task(self._collect_garbage(), name="node-agent-gc"),
        ]

    @property
    def _bound_here(self) -> str:
        return f"spec.nodeName={self.node_name}"

    async def _collect_garbage(self) -> None:
        """Now (what pods deleted while no server ran left) and every GC period: remove what no stored pod owns."""
        while True:
            uids = {pod["metadata"]["uid"] for pod in self.store.list("pods", None, field_selector=self._bound_here)[0]}
            try:
                collected = await self.node.collect_garbage(uids)
            except Exception:
                log.exception("garbage collection failed")
            else:
                if collected.sandboxes or collected.containers or collected.pod_dirs:
                    log.info(
                        "garbage collection removed %d sandboxes, %d containers, %d pod directories",
                        len(collected.sandboxes), len(collected.containers), len(collected.pod_dirs),
                    )  # fmt: skip
            await asyncio.sleep(GC_PERIOD_SECONDS)

    async def stop(self) -> None:
        """Stop following (pods and containers keep running; a deleted pod still being torn down is left to the
        next start's garbage collection)."""
        forgetting, self._forgetting = list(self._forgetting), set()
        await stop_following([self._watch] if self._watch is not None else [], [*self._tasks, *forgetting])
        self._tasks.clear()
        self._watch = None

    def _adopt(self, pod: JSON) -> None:
        uid = pod["metadata"]["uid"]
        if self.node.has_pod(uid):
            return
        self.node.run_pod(pod)

    async def _follow(self, watch: Any) -> None:
        async for event in watch:
            pod = event.object
            uid = pod["metadata"].get("uid", "")
            try:
                if event.type == "ADDED":
                    self._adopt(pod)
                elif event.type == "MODIFIED":
                    if self.node.has_pod(uid):
                        self.node.update_pod(pod)
                    else:
                        self._adopt(pod)
                elif event.type == "DELETED":
                    self._forget(pod)
            except Exception:
                log.exception("handling %s of pod %s failed", event.type, pod["metadata"].get("name"))

    def _forget(self, pod: JSON) -> None:
        """Forget a deleted pod in a task of its own: the next pod's deletion (and every other event) is not held
        up by this one's teardown, and the kubelet's teardown slots bound how many go at once."""
        task = asyncio.create_task(self._forget_pod(pod), name=f"forget-{pod['metadata'].get('name')}")
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)

    async def _forget_pod(self, pod: JSON) -> None:
        try:
            await self.node.forget_pod(pod)
        except Exception:
            log.exception("forgetting pod %s failed", pod["metadata"].get("name"))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self._write_node()

    def _write_node(self) -> None:
        facts = self.node.facts
        node = node_object(
            self.node_name, facts.memory, self.node.runtime.name, time.time(), internal_ip=facts.host_ip,
            pod_cidr=facts.pod_cidr,
        )  # fmt: skip
        try:
            current = self.store.get("nodes", None, self.node_name)
        except ApiError:
            self.store.create("nodes", record_object_write("Node", None, node, KUBELET))
            return
        node["metadata"] = dict(current["metadata"], labels=node["metadata"]["labels"])
        self.store.update("nodes", record_object_write("Node", current, node, KUBELET), check_resource_version=False)


def default_node_name() -> str:
    """The node's name: this machine's host name, lower-cased as Kubernetes requires."""
    return socket.gethostname().lower()
